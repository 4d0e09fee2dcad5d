"""When a pause ends the caller's turn: the turn detector's score, vetoed by the partial
transcript when it plainly stops mid-way (a digit group, "and", "um", a trailing comma).

Smart Turn hears prosody and phrase completeness but not that "my order number is 4 7" has
more digits to come — read digit group by digit group, every group ends with a falling tone —
so the speculative transcript (ready ≈ 0.2 s into the pause, and needed by the reply anyway)
gets the last word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Last words after which a statement is unfinished: conjunctions, fillers, articles, a few
# prepositions and the copula that introduces what is read out ("my number is …"). Words that
# often end a sentence ("so", "that", "for", "about") are left out.
CONTINUATION_WORDS = frozenset(
    [
        "and",
        "or",
        "but",
        "because",
        "um",
        "uh",
        "er",
        "erm",
        "uhm",
        "the",
        "a",
        "an",
        "to",
        "of",
        "with",
        "my",
        "your",
        "our",
        "is",
        "are",
        "was",
        "were",
    ]
)
NUMBER_WORDS = frozenset(
    [
        "zero",
        "oh",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "sixty",
        "seventy",
        "eighty",
        "ninety",
        "hundred",
        "thousand",
        "double",
        "triple",
    ]
)
_WORD = re.compile(r"[a-z0-9']+")


def text_continues(text: str) -> bool:
    """The transcript so far stops where a sentence cannot end (see module docstring)."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped.endswith((",", "...", "…", "-", "–", "—")):
        return True
    words = _WORD.findall(stripped.lower())
    if not words:
        return False
    last = words[-1]
    if any(ch.isdigit() for ch in last) or last in NUMBER_WORDS:
        return True  # more digit groups may follow, whatever the punctuation
    return not stripped.endswith("?") and last in CONTINUATION_WORDS


@dataclass(frozen=True)
class TurnPolicy:
    """Thresholds of the smart end-pointer (tuned on the tune half of benchmarks/turntaking)."""

    # Tuned for the fastest complete turns at the fewest cut-offs reachable (docs/turn-taking.md).
    threshold: float = 0.95  # Smart Turn probability from which a pause ends the turn
    recheck_ms: int = 700  # pause length at which an "unfinished" verdict is asked once more
    use_transcript: bool = True  # let text_continues() veto a "complete" verdict

    def complete(self, probability: float, text: str | None) -> bool:
        """Whether the turn ends now, given the score and (once known) the partial transcript."""
        if probability < self.threshold:
            return False
        return not (self.use_transcript and text is not None and text_continues(text))


DEFAULT_POLICY = TurnPolicy()
