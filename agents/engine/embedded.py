"""The embedded, offline brain: match the caller against the agent's own configuration.

Candidates are intents (example phrases), knowledge questions, handover and action
descriptions; the best TF-IDF match above a threshold wins, otherwise the agent asks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .text_match import Matcher

MATCH_THRESHOLD = 0.3
GOODBYE_EXAMPLES = (
    "goodbye",
    "bye bye",
    "that's all thank you",
    "nothing else thanks bye",
    "no that's it thank you",
)
HUMAN_EXAMPLES = ("talk to a person", "speak to a human", "a real person please", "an operator")


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
            examples.append((label, item.get("question", "")))
        for name, handover in self.handovers.items():
            label = f"handover:{name}"
            self._choices[label] = Choice("handover", label, 0, target=handover)
            examples += [(label, handover.get("description", "")), (label, name.replace("_", " "))]
        for name, action in self.actions.items():
            label = f"action:{name}"
            kind = "goodbye" if action["kind"] == "end_call" else "action"
            self._choices[label] = Choice(kind, label, 0, target=action)
            examples.append((label, action.get("description", "")))
        self._choices["goodbye"] = Choice("goodbye", "goodbye", 0)
        examples += [("goodbye", e) for e in GOODBYE_EXAMPLES]
        self._choices["human"] = Choice("human", "human", 0)
        examples += [("human", e) for e in HUMAN_EXAMPLES]
        self.matcher = Matcher(examples)

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

    def choose(self, text: str) -> Choice:
        label, score = self.matcher.best(text)
        if label is None or score < MATCH_THRESHOLD:
            return Choice("unknown", "not_understood", score)
        base = self._choices[label]
        return Choice(base.kind, base.label, score, base.text, base.target)

    def choose_intent(self, intent: dict[str, Any]) -> Choice:
        label = f"intent:{intent.get('name', '')}"
        base = self._choices.get(label) or self._intent_choice(label, intent)
        return Choice(base.kind, base.label, 1.0, base.text, base.target)
