"""Cut a streamed reply into sentences, so speech can start before the reply is complete.

A sentence ends at . ! or ? (closing quotes/brackets allowed) followed by whitespace, or at a
line break. Not after abbreviations like "e.g." or "Mr.", nor inside numbers ("3.5"), nor
after a list number at the start of a line ("1. First"). A long clause without an ending is
cut after its last comma once it passes ~120 characters, and at a space past twice that.
"""

from __future__ import annotations

import re

MAX_CLAUSE = 120
MIN_CLAUSE = 20
ENDINGS = ".!?…"
CLOSERS = "\"')]}”’»"
ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "approx",
        "dept",
        "fig",
        "inc",
        "ltd",
        "tel",
    }
)
MARKUP = re.compile(r"\*\*|__|`|^\s*(?:#+|[-*•])\s+", re.MULTILINE)
SPACES = re.compile(r"\s+")


class SentenceSplitter:
    """Feed text fragments as they stream in; get back the sentences they completed."""

    def __init__(self, max_clause: int = MAX_CLAUSE) -> None:
        self.max_clause = max_clause
        self._buffer = ""

    def feed(self, fragment: str) -> list[str]:
        self._buffer += fragment
        sentences: list[str] = []
        while (cut := _next_cut(self._buffer, self.max_clause)) is not None:
            sentence, self._buffer = self._buffer[:cut], self._buffer[cut:]
            if cleaned := clean(sentence):
                sentences.append(cleaned)
        return sentences

    def flush(self) -> list[str]:
        """The rest of the reply, once the stream has ended."""
        rest, self._buffer = self._buffer, ""
        cleaned = clean(rest)
        return [cleaned] if cleaned else []


def split_sentences(text: str, max_clause: int = MAX_CLAUSE) -> list[str]:
    splitter = SentenceSplitter(max_clause)
    return splitter.feed(text) + splitter.flush()


def clean(text: str) -> str:
    """Text fit to speak: markdown emphasis, bullets and headings dropped, spaces collapsed."""
    return SPACES.sub(" ", MARKUP.sub("", text)).strip()


def _sentence_end(text: str) -> int | None:
    """Index just past the first complete sentence in `text` (known only once whitespace
    follows its ending), or None."""
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            if text[:i].strip():
                return i + 1
        elif ch in ENDINGS:
            j = i
            while j < n and text[j] in ENDINGS:
                j += 1
            while j < n and text[j] in CLOSERS:
                j += 1
            if j >= n:
                return None  # the next fragment decides: "3." may become "3.5"
            if text[j].isspace() and not _is_abbreviation(text[: i + 1]):
                return j
            i = j
            continue
        i += 1
    return None


def _is_abbreviation(text: str) -> bool:
    """Whether the "." ending `text` belongs to an abbreviation or a list number."""
    if not text.endswith("."):
        return False
    line_start = text.rfind("\n") + 1
    word = text[line_start:].split()[-1] if text[line_start:].split() else ""
    word = word.lstrip("(\"'“‘[").rstrip(".")
    if not word:
        return False
    if "." in word:  # e.g. / i.e. / a.m. / U.S.
        return True
    if word.lower() in ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha() and word.isupper():  # an initial: "J. Smith"
        return True
    # "1. First" at the start of a line is a list number, not a sentence.
    return word.isdigit() and text[line_start:].strip() == word + "."


def _next_cut(text: str, max_clause: int) -> int | None:
    """Where the next piece to speak ends, or None to wait for more text.

    Decided from a prefix of `text` only, so the pieces are the same however the reply was
    fragmented by the stream.
    """
    end = _sentence_end(text)
    if end is not None and end <= max_clause:
        return end
    if len(text) <= max_clause:
        return None
    comma = text.rfind(", ", MIN_CLAUSE, max_clause + 1)
    if comma != -1:
        return comma + 1
    if end is not None and end <= 2 * max_clause:
        return end
    if len(text) <= 2 * max_clause:
        return None
    space = text.rfind(" ", MIN_CLAUSE, 2 * max_clause + 1)
    return space if space > 0 else 2 * max_clause
