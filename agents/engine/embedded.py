"""The embedded, offline brain: match the caller against the agent's own configuration.

Candidates are intents (example phrases), knowledge questions and answers, handover and
action descriptions; the best sentence-embedding match wins when it is close enough or
clearly ahead, otherwise the agent asks again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agents.engine.text_match import SemanticMatcher

# Cosine similarities of all-MiniLM-L6-v2, set on benchmarks/eval_cases.json (in-scope
# paraphrases and out-of-scope requests): at or above MATCH_THRESHOLD the best outcome is
# the answer; a weaker one still wins when it is MIN_MARGIN ahead of every other outcome;
# below that the agent asks again rather than guess.
MATCH_THRESHOLD = 0.32
MIN_SCORE, MIN_MARGIN = 0.2, 0.12
GOODBYE_EXAMPLES = (
    "goodbye",
    "bye bye",
    "that's all thank you",
    "nothing else thanks bye",
    "no that's it thank you",
    "thanks have a nice day",
    "great thank you very much bye",
    "I have to go now",
)
HUMAN_EXAMPLES = ("talk to a person", "speak to a human", "a real person please", "an operator")


_CLAUSES = re.compile(r"[.;:!?]|,\s*(?:or|and)?\s*|\s+or\s+", re.IGNORECASE)
_SUBJECT = re.compile(r"^(?:when |if )?(?:the (?:caller|customer|user)|they)\s+", re.IGNORECASE)
FIRST_PERSON = {
    "wants": "want",
    "asks": "ask",
    "has": "have",
    "needs": "need",
    "says": "say",
    "is": "am",
    "calls": "call",
    "reports": "report",
    "requests": "request",
    "would": "would",
}


def description_phrases(description: str) -> list[str]:
    """An action's description as things a caller would say: the whole text, and each of
    its clauses in the first person ("The caller wants to buy, or asks for prices" →
    "I want to buy", "I ask for prices")."""
    phrases = [description.strip()] if description.strip() else []
    for clause in _CLAUSES.split(description):
        clause = _SUBJECT.sub("", clause.strip())
        words = clause.split()
        if not words:
            continue
        verb = FIRST_PERSON.get(words[0].lower())
        if verb is not None:
            clause = " ".join(["I", verb, *words[1:]])
        phrases.append(re.sub(r"\btheir\b", "my", clause, flags=re.IGNORECASE))
    return list(dict.fromkeys(p for p in phrases if len(p) > 2))


_QUESTION_END = re.compile(r"(?<=[?.!])\s+")


def questions(text: str) -> list[str]:
    """A knowledge entry's question field, and each of the questions it lists ("Where is your
    office? What is your address?"): one phrasing per example matches sharper than the mix."""
    parts = [p.strip() for p in _QUESTION_END.split(text.strip()) if p.strip()]
    return list(dict.fromkeys([text.strip(), *parts] if len(parts) > 1 else parts))


@dataclass(frozen=True)
class Choice:
    """kind: answer | handover | action | goodbye | human | unknown."""

    kind: str
    label: str
    score: float
    text: str = ""
    target: dict[str, Any] | None = None


class EmbeddedBrain:
    def __init__(self, snapshot: dict[str, Any]):
        self.snapshot = snapshot
        self.actions = {a["name"]: a for a in snapshot.get("actions", [])}
        self.handovers = {h["name"]: h for h in snapshot.get("handover_actions", [])}
        self._choices: dict[str, Choice] = {}
        examples: list[tuple[str, str]] = []
        for intent in snapshot.get("intents", []):
            label = f"intent:{intent.get('name', '')}"
            self._choices[label] = self._intent_choice(label, intent)
            examples += [(label, e) for e in intent.get("examples", []) if e.strip()]
        for i, item in enumerate(snapshot.get("knowledge", [])):
            label = f"knowledge:{i}"
            self._choices[label] = Choice("answer", label, 0, item.get("answer", ""))
            examples += [(label, q) for q in questions(item.get("question", ""))]
            examples.append((label, item.get("answer", "")))  # callers use its words too
        for name, handover in self.handovers.items():
            label = f"handover:{name}"
            self._choices[label] = Choice("handover", label, 0, target=handover)
            examples += [(label, p) for p in description_phrases(handover.get("description", ""))]
            examples.append((label, name.replace("_", " ")))
        for name, action in self.actions.items():
            label = f"action:{name}"
            kind = "goodbye" if action["kind"] == "end_call" else "action"
            self._choices[label] = Choice(kind, label, 0, target=action)
            examples += [(label, p) for p in description_phrases(action.get("description", ""))]
        self._choices["goodbye"] = Choice("goodbye", "goodbye", 0)
        examples += [("goodbye", e) for e in GOODBYE_EXAMPLES]
        self._choices["human"] = Choice("human", "human", 0)
        examples += [("human", e) for e in HUMAN_EXAMPLES]
        self.matcher = SemanticMatcher(examples)

    def _intent_choice(self, label: str, intent: dict[str, Any]) -> Choice:
        name = intent.get("action") or ""
        if name in self.handovers:
            return Choice("handover", label, 0, intent.get("response", ""), self.handovers[name])
        if name in self.actions:
            kind = "goodbye" if self.actions[name]["kind"] == "end_call" else "action"
            return Choice(kind, label, 0, intent.get("response", ""), self.actions[name])
        return Choice("answer", label, 0, intent.get("response", ""))

    def intent_for_digits(self, digits: str) -> dict[str, Any] | None:
        return next(
            (i for i in self.snapshot.get("intents", []) if digits and i.get("digits") == digits),
            None,
        )

    def _outcome(self, label: str) -> str:
        """What a label does: an intent that hands over counts as that handover."""
        choice = self._choices[label]
        if choice.kind in ("handover", "action") and choice.target is not None:
            return f"{choice.kind}:{choice.target['name']}"
        if choice.kind == "goodbye":
            return "goodbye"
        return f"{choice.kind}:{choice.text or label}"

    def choose(self, text: str) -> Choice:
        """The best outcome if it is close enough, or clearly ahead of every other outcome."""
        by_outcome: dict[str, tuple[float, str]] = {}
        for label, score in self.matcher.scores(text).items():
            outcome = self._outcome(label)
            if score > by_outcome.get(outcome, (-1.0, ""))[0]:
                by_outcome[outcome] = (score, label)
        ranked = sorted(by_outcome.values(), reverse=True)
        if not ranked:
            return Choice("unknown", "not_understood", 0.0)
        score, label = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
        confident = score >= MATCH_THRESHOLD or (
            score >= MIN_SCORE and score - runner_up >= MIN_MARGIN
        )
        if not confident:
            return Choice("unknown", "not_understood", score)
        base = self._choices[label]
        return Choice(base.kind, base.label, score, base.text, base.target)

    def choose_intent(self, intent: dict[str, Any]) -> Choice:
        label = f"intent:{intent.get('name', '')}"
        base = self._choices.get(label) or self._intent_choice(label, intent)
        return Choice(base.kind, base.label, 1.0, base.text, base.target)
