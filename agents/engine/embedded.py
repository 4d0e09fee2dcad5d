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
# Handovers are chosen by their descriptions: when an intent's examples point to one handover
# but another handover's own description fits the caller this much better than the intended
# handover's description does (and fits on its own, ≥ MATCH_THRESHOLD), the description wins.
DESCRIPTION_MARGIN = 0.1
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
# A caller who opens without saying what they want is invited to ask, not given an answer; only
# a close match counts (≥ OPENER_THRESHOLD: "Hi, I've got some questions" 0.86, while "tell me
# a joke" is 0.36 from "I have a question", so short generic examples are left out).
OPENER_EXAMPLES = (
    "hello",
    "hi there",
    "hello, I have a few questions",
    "I've got a couple of questions",
    "I have some questions for you",
    "good morning, I'd like to ask something",
)
OPENER_THRESHOLD = 0.6
_HANDOVER_PREFIX = re.compile(r"^(?:transfer|handover|hand over|connect|put through)?\s*to\s+")


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


def handover_title(name: str) -> str:
    """What a caller calls a handover: "transfer_to_sales" → "sales"."""
    words = name.replace("_", " ").strip()
    return _HANDOVER_PREFIX.sub("", words) or words


def first_question(text: str) -> str:
    """The first question a knowledge entry lists, as written."""
    return next(iter(questions(text)[1:2] or questions(text)), "")


@dataclass(frozen=True)
class Choice:
    """kind: answer | handover | action | goodbye | human | invite | unknown."""

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
        self._choices["opener"] = Choice("invite", "opener", 0)
        examples += [("opener", e) for e in OPENER_EXAMPLES]
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
        scores = self.matcher.scores(text)
        if scores.get("opener", 0.0) < OPENER_THRESHOLD:
            scores.pop("opener", None)
        by_outcome: dict[str, tuple[float, str]] = {}
        for label, score in scores.items():
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
        score, label = self._by_description(scores, score, label)
        base = self._choices[label]
        return Choice(base.kind, base.label, score, base.text, base.target)

    def _by_description(
        self, scores: dict[str, float], score: float, label: str
    ) -> tuple[float, str]:
        """An intent that hands over to one handover yields to another handover whose own
        description fits the caller clearly better than the intended handover's does."""
        base = self._choices[label]
        if not label.startswith("intent:") or base.kind != "handover" or base.target is None:
            return score, label
        intended = scores.get(f"handover:{base.target['name']}", 0.0)
        others = [
            (value, other)
            for other, value in scores.items()
            if other.startswith("handover:") and other != f"handover:{base.target['name']}"
        ]
        if not others:
            return score, label
        best, other = max(others)
        if best >= MATCH_THRESHOLD and best - intended >= DESCRIPTION_MARGIN:
            return best, other
        return score, label

    def choose_handover(self, text: str, names: list[str]) -> Choice | None:
        """The answer to "whom would you like to speak to?": one of `names`, by its title
        ("sales") in the words, else by its description; None when neither fits."""
        spoken = f" {re.sub(r'[^a-z0-9]+', ' ', text.lower())} "
        named = [n for n in names if f" {handover_title(n).lower()} " in spoken]
        if len(named) == 1:
            base = self._choices[f"handover:{named[0]}"]
            return Choice(base.kind, base.label, 1.0, base.text, base.target)
        scores = self.matcher.scores(text)
        ranked = sorted((scores.get(f"handover:{n}", 0.0), f"handover:{n}") for n in names)
        if not ranked or ranked[-1][0] < MATCH_THRESHOLD:
            return None
        score, label = ranked[-1]
        base = self._choices[label]
        return Choice(base.kind, base.label, score, base.text, base.target)

    def human_handovers(self) -> list[dict[str, Any]]:
        """Whom "a person" means: the agent's default human handover, or, when none is chosen
        (or it no longer exists, or an older snapshot has no such key), every handover."""
        name = self.snapshot.get("default_handover") or ""
        if name in self.handovers:
            return [self.handovers[name]]
        return list(self.handovers.values())

    def describe(self, choice: Choice) -> str:
        """The choice in words, for the call timeline."""
        kind, _, name = choice.label.partition(":")
        if kind == "knowledge":
            items = self.snapshot.get("knowledge", [])
            index = int(name) if name.isdigit() else -1
            if 0 <= index < len(items):
                return f"the answer to “{first_question(items[index].get('question', ''))}”"
        if kind == "intent":
            target = choice.target["name"] if choice.target else ""
            return f"the intent “{name}”" + (f" ({choice.kind} {target})" if target else "")
        if kind in ("handover", "action"):
            return f"the {kind} {name}"
        return {
            "goodbye": "to say goodbye",
            "human": "to put the caller through to a person",
            "opener": "to invite the caller to ask",
            "not_understood": "nothing: no answer fits",
        }.get(choice.label, choice.label)

    def choose_intent(self, intent: dict[str, Any]) -> Choice:
        label = f"intent:{intent.get('name', '')}"
        base = self._choices.get(label) or self._intent_choice(label, intent)
        return Choice(base.kind, base.label, 1.0, base.text, base.target)
