"""What a test turn expects and how one conversation turn is judged against it.

The embedded brain labels every turn (Decision.outcome / .target). The LLM brain labels only
its tool calls, so a spoken reply is judged by its words: the knowledge answer or intent
response it repeats most of is the answer given; a question naming nothing is a clarifying
question; anything else is the honest "I can't help with that" (out of scope).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.engine.embedded import first_question
from agents.engine.events import (
    ActionRan,
    Decision,
    EndCall,
    Handover,
    Problem,
    Speak,
    TurnEvent,
)

# What a test may expect of a turn, with the words the Studio shows.
EXPECTABLE = {
    "answer": "Answer",
    "handover": "Handover",
    "action": "Action",
    "clarify": "Clarifying question",
    "out_of_scope": "Out of scope",
    "goodbye": "Goodbye",
}
_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "at",
        "be",
        "can",
        "do",
        "for",
        "from",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "the",
        "this",
        "to",
        "we",
        "you",
        "your",
    ]
)
ANSWER_OVERLAP = 0.6  # share of an answer's content words a spoken reply must repeat


@dataclass(frozen=True)
class Chosen:
    """What the agent did on one turn: outcome (see Decision), target and what it said."""

    outcome: str
    target: str
    summary: str
    said: str


def chosen_from_events(events: Sequence[TurnEvent], snapshot: dict[str, Any]) -> Chosen:
    """The turn's outcome: the brain's own label when it gave one, else derived from what
    happened (a handover, an action, the end of the call, "error" when the brain failed) or
    from the words spoken."""
    said = " ".join(e.text for e in events if isinstance(e, Speak)).strip()
    decisions = [e for e in events if isinstance(e, Decision)]
    summary = decisions[-1].summary if decisions else ""
    labelled = next((d for d in decisions if getattr(d, "outcome", "")), None)
    if labelled is not None:
        return Chosen(labelled.outcome, getattr(labelled, "target", ""), summary, said)
    handover = next((e for e in events if isinstance(e, Handover)), None)
    if handover is not None:
        return Chosen("handover", str(handover.action.get("name", "")), summary, said)
    ran = next((e for e in events if isinstance(e, ActionRan)), None)
    ended = any(isinstance(e, EndCall) for e in events)
    if ran is not None:
        outcome = "goodbye" if ran.kind == "end_call" else "action"
        return Chosen(outcome, ran.name, summary, said)
    if ended:
        return Chosen("goodbye", "", summary, said)
    problem = next((e for e in events if isinstance(e, Problem)), None)
    if problem is not None:  # e.g. the LLM is not configured: the caller heard an apology
        return Chosen("error", "", f"nothing: {problem.message}", said)
    outcome, target = spoken_outcome(said, snapshot)
    return Chosen(outcome, target, summary or f"said: {said[:80]}", said)


def spoken_outcome(said: str, snapshot: dict[str, Any]) -> tuple[str, str]:
    """(outcome, target) of a reply judged by its words (used for the LLM brain)."""
    spoken = _content_words(said)
    best, best_target = 0.0, ""
    for target, text in answer_texts(snapshot):
        words = _content_words(text)
        if words:
            overlap = len(words & spoken) / len(words)
            if overlap > best:
                best, best_target = overlap, target
    if best >= ANSWER_OVERLAP:
        return "answer", best_target
    if said.rstrip().endswith("?"):
        return "clarify", ""
    return "out_of_scope", ""


def answer_texts(snapshot: dict[str, Any]) -> list[tuple[str, str]]:
    """(target, text) of every answer the agent can give: knowledge by index, intents by name."""
    items = [(str(i), k.get("answer", "")) for i, k in enumerate(snapshot.get("knowledge", []))]
    items += [
        (i.get("name", ""), i.get("response", ""))
        for i in snapshot.get("intents", [])
        if i.get("response") and not i.get("action")
    ]
    return items


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def judge(expect: str, target: str, chosen: Chosen) -> tuple[bool, str]:
    """Whether the turn did what the test expects, and why not (in words) when it did not."""
    if chosen.outcome != expect:
        got = EXPECTABLE.get(chosen.outcome, chosen.outcome.replace("_", " ")).lower()
        return False, f"expected {EXPECTABLE.get(expect, expect).lower()}, got {got}"
    if target and chosen.target != target:
        return False, f"expected {target!r}, got {chosen.target or 'nothing named'!r}"
    return True, ""


def target_choices(snapshot: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(outcome, target, label) of every named outcome this agent can have: its knowledge,
    answering intents, handovers (also through intents) and actions."""
    choices = [
        ("answer", str(i), f"Answer: {first_question(k.get('question', '')) or '(no question)'}")
        for i, k in enumerate(snapshot.get("knowledge", []))
    ]
    handovers = {h["name"] for h in snapshot.get("handover_actions", [])}
    actions = {a["name"]: a for a in snapshot.get("actions", [])}
    for intent in snapshot.get("intents", []):
        if intent.get("name") and not intent.get("action"):
            choices.append(("answer", intent["name"], f"Answer: intent {intent['name']}"))
    choices += [("handover", name, f"Handover: {name}") for name in sorted(handovers)]
    for name, action in sorted(actions.items()):
        outcome = "goodbye" if action.get("kind") == "end_call" else "action"
        choices.append((outcome, name, f"{EXPECTABLE[outcome]}: {name}"))
    return choices


def expectation_text(expect: str, target: str, snapshot: dict[str, Any]) -> str:
    """An expectation in words, e.g. "Answer: What are your opening hours?"."""
    for outcome, value, label in target_choices(snapshot):
        if outcome == expect and value == target:
            return label
    return EXPECTABLE.get(expect, expect) + (f": {target}" if target else "")
