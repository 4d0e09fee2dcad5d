"""The embedded brain on the real sentence-embedding model (no database, no network)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from agents.engine import CallContext, Conversation, Decision, Handover, Speak, TurnEvent
from agents.engine.conversation import INVITE, NOT_UNDERSTOOD
from agents.engine.embedded import EmbeddedBrain, description_phrases, questions
from agents.engine.embeddings import get_embedder
from agents.engine.text_match import SemanticMatcher

SNAPSHOT = {
    "knowledge": [
        {
            "question": "Where is your office? What is your address?",
            "answer": "Our office is at Keizersgracht one hundred in Amsterdam.",
        },
        {
            "question": "Which payment methods do you accept? Can I pay with credit card?",
            "answer": "We accept iDEAL, credit cards, PayPal and bank transfer.",
        },
    ],
    "intents": [
        {
            "name": "order_status",
            "examples": ["where is my order", "track my package"],
            "action": "",
            "response": "Follow your parcel with the tracking link in your email.",
        },
        {
            "name": "broken",
            "examples": ["my product is broken", "it does not work"],
            "action": "transfer_to_support",
            "response": "",
        },
    ],
    "actions": [
        {
            "name": "end_call",
            "kind": "end_call",
            "description": "The caller says goodbye.",
            "config": {},
        }
    ],
    "handover_actions": [
        {"name": "transfer_to_sales", "description": "The caller wants to buy, or asks for sales."},
        {"name": "transfer_to_support", "description": "Something is broken."},
    ],
}


@pytest.fixture(scope="module")
def brain() -> EmbeddedBrain:
    return EmbeddedBrain(SNAPSHOT)


def test_a_knowledge_entry_lists_each_of_its_questions() -> None:
    assert questions("Where is your office? What is your address?") == [
        "Where is your office? What is your address?",
        "Where is your office?",
        "What is your address?",
    ]
    assert questions("opening hours") == ["opening hours"]
    assert questions("  ") == []


def test_descriptions_become_first_person_phrases() -> None:
    assert description_phrases("The caller wants to buy, or asks for prices.") == [
        "The caller wants to buy, or asks for prices.",
        "I want to buy",
        "I ask for prices",
    ]


def test_speech_style_words_are_normalised_toward_the_agent_vocabulary() -> None:
    matcher = SemanticMatcher([("x", "my product is broken"), ("y", "I want to buy a doorbell")])
    knows = get_embedder().knows
    assert matcher.normalize("my door bell is brocken", knows) == "my door bell is broken"
    assert matcher.normalize("I wanna by a new doorbell", knows) == "I want to by a new doorbell"
    assert matcher.normalize("uh, the hub is, like, completely dead", knows) == (
        "the hub is, completely dead"
    )
    assert matcher.normalize("I'd like a quote", knows) == "I'd like a quote"
    # words the model knows stay as they are, even when the agent uses a similar one
    assert matcher.normalize("it's a brokerage question", knows) == "it's a brokerage question"


@pytest.mark.parametrize(
    ("said", "kind", "what"),
    [
        ("where are you located exactly", "answer", "knowledge:0"),
        ("can I pay with paypal", "answer", "knowledge:1"),
        ("can you tell me where my parcel is", "answer", "intent:order_status"),
        ("my door bell is brocken", "handover", "transfer_to_support"),
        ("I'd like to speak to sales about buying cameras", "handover", "transfer_to_sales"),
        ("alright, goodbye then", "goodbye", ""),
        ("what is the capital of france", "unknown", "not_understood"),
        ("who won the football match last night", "unknown", "not_understood"),
    ],
)
def test_brain_picks_the_outcome_or_asks_again(
    brain: EmbeddedBrain, said: str, kind: str, what: str
) -> None:
    choice = brain.choose(said)
    assert choice.kind == kind, choice
    if kind == "handover":
        assert choice.target["name"] == what, choice
    elif kind != "goodbye":
        assert choice.label == what, choice


def test_an_intent_that_hands_over_targets_that_handover(brain: EmbeddedBrain) -> None:
    choice = brain.choose("it does not work at all")
    assert choice.kind == "handover" and choice.target["name"] == "transfer_to_support"


# --- Issue 21: handovers by description, openers, "a person", unclear vs cannot help -------

REPAIRS = {
    "knowledge": [
        {"question": "What are your opening hours?", "answer": "Eight to six on weekdays."},
    ],
    "intents": [
        {
            "name": "repair",
            "examples": [
                "I need a repair",
                "something needs fixing",
                "can someone come and fix it",
            ],
            "action": "routine_repairs",
            "response": "",
        }
    ],
    "actions": [],
    "handover_actions": [
        {
            "name": "emergency",
            "description": "The caller smells gas, has a water leak or flooding.",
            "handover_message": "I'm sorry to hear that, connecting you to our emergency line.",
        },
        {
            "name": "routine_repairs",
            "description": "The caller wants to book a routine repair or maintenance visit.",
            "handover_message": "Let me put you through to our planners.",
        },
    ],
}


def turn(snapshot: dict[str, Any], *texts: str, state: dict[str, Any] | None = None) -> Turned:
    """Every text as one caller turn of one conversation; the events of the last turn."""
    conversation = Conversation(snapshot, CallContext(), state)

    async def go() -> list[TurnEvent]:
        events: list[TurnEvent] = []
        for text in texts:
            events = [e async for e in conversation.turn(text)]
        return events

    return Turned(asyncio.run(go()), conversation)


@dataclass
class Turned:
    events: list[TurnEvent]
    conversation: Conversation

    @property
    def said(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Speak)]

    @property
    def handed_to(self) -> str | None:
        return next((e.action["name"] for e in self.events if isinstance(e, Handover)), None)

    @property
    def decision(self) -> Decision:
        return next(e for e in self.events if isinstance(e, Decision))


def test_a_request_that_matches_a_handovers_description_beats_another_handovers_intent() -> None:
    # "fix" matches the repair intent's examples best (0.62), but the emergency handover's own
    # description is what the caller describes (0.47, the routine handover's only 0.29).
    choice = EmbeddedBrain(REPAIRS).choose("can someone come and fix the gas leak")
    assert choice.kind == "handover" and choice.target is not None
    assert choice.target["name"] == "emergency", choice


def test_an_intent_still_wins_when_no_other_description_fits_clearly_better() -> None:
    choice = EmbeddedBrain(REPAIRS).choose("I need a repair")
    assert choice.label == "intent:repair" and choice.target is not None
    assert choice.target["name"] == "routine_repairs"


def test_a_vague_opener_is_invited_to_ask_instead_of_answered() -> None:
    turned = turn(REPAIRS, "Hi, I've got some questions for you")
    assert turned.said == [INVITE]
    assert turned.decision.label == "opener"
    assert turned.handed_to is None


def test_a_request_without_an_opener_is_not_taken_for_one() -> None:
    assert EmbeddedBrain(SNAPSHOT).choose("tell me a joke").label == "not_understood"


def test_asking_for_a_person_goes_to_the_default_human_handover_not_the_first() -> None:
    snapshot = {**REPAIRS, "default_handover": "routine_repairs"}
    turned = turn(snapshot, "Can I speak to a human?")
    assert turned.handed_to == "routine_repairs"
    assert turned.said == ["Let me put you through to our planners."]


def test_an_old_snapshot_with_one_handover_hands_over_to_it() -> None:
    snapshot = {**REPAIRS, "handover_actions": REPAIRS["handover_actions"][1:]}
    assert "default_handover" not in snapshot
    assert turn(snapshot, "Can I speak to a human?").handed_to == "routine_repairs"


def test_with_several_handovers_and_no_default_the_agent_asks_whom_and_resolves_the_answer() -> (
    None
):
    asked = turn(REPAIRS, "Can I speak to a human?")
    assert asked.handed_to is None
    assert asked.said == ["Who would you like to speak to: emergency or routine repairs?"]
    assert asked.conversation.state()["asked_handover"] == ["emergency", "routine_repairs"]
    # The next turn (possibly in a later process: the state is saved with the call) resolves it.
    answered = turn(REPAIRS, "routine repairs please", state=asked.conversation.state())
    assert answered.handed_to == "routine_repairs"
    assert answered.conversation.state()["asked_handover"] == []


def test_the_answer_to_whom_may_describe_the_handover_instead_of_naming_it() -> None:
    state = {"asked_handover": ["emergency", "routine_repairs"]}
    assert turn(REPAIRS, "there is water flooding my kitchen", state=state).handed_to == (
        "emergency"
    )


def test_a_default_handover_that_no_longer_exists_falls_back_to_asking() -> None:
    snapshot = {**REPAIRS, "default_handover": "deleted_one"}
    assert turn(snapshot, "Can I speak to a human?").said[0].startswith("Who would you like")


@pytest.mark.parametrize("noise", ["uh", "...", "hmm, um", "a"])
def test_the_didnt_catch_that_line_is_only_for_unclear_words(noise: str) -> None:
    turned = turn(REPAIRS, noise)
    assert turned.said == [NOT_UNDERSTOOD]
    assert turned.decision.label == "unclear"


def test_a_request_the_agent_cannot_answer_gets_an_honest_line_naming_what_it_can_do() -> None:
    snapshot = {**REPAIRS, "default_handover": "routine_repairs"}
    turned = turn(snapshot, "what is the capital of france")
    assert turned.said == [
        "I'm sorry, I can't help with that. I can answer questions like what are your "
        "opening hours, or put you through to routine repairs."
    ]
    assert NOT_UNDERSTOOD not in turned.said
    assert turned.decision.label == "not_understood"


def test_the_cannot_help_line_without_knowledge_names_at_most_two_handovers() -> None:
    snapshot = {
        "handover_actions": [{"name": f"to_{team}"} for team in ("sales", "support", "billing")]
    }
    line = Conversation(snapshot, CallContext()).cannot_help()
    assert line == "I'm sorry, I can't help with that. I can put you through to sales or support."


def test_the_decision_says_in_words_what_the_agent_chose() -> None:
    knowledge = turn(REPAIRS, "when are you open?").decision
    assert knowledge.label == "knowledge:0"
    assert knowledge.summary == "the answer to “What are your opening hours?”"
    intent = turn(REPAIRS, "I need a repair").decision
    assert intent.summary == "the intent “repair” (handover routine_repairs)"


def test_the_new_fixed_lines_are_rendered_once_per_version() -> None:
    lines = Conversation(REPAIRS, CallContext()).fixed_lines()
    assert INVITE in lines
    assert "Who would you like to speak to: emergency or routine repairs?" in lines
    assert any(line.startswith("I'm sorry, I can't help with that.") for line in lines)


# --- Issue 17: every embedded decision says what the turn does, with what ---------------------


@pytest.mark.parametrize(
    ("said", "outcome", "target"),
    [
        ("where are you located exactly", "answer", "0"),
        ("can you tell me where my parcel is", "answer", "order_status"),
        ("my door bell is brocken", "handover", "transfer_to_support"),
        ("alright, goodbye then", "goodbye", ""),
        ("the caller says goodbye", "goodbye", "end_call"),
        ("what is the capital of france", "out_of_scope", ""),
        ("uh", "unclear", ""),
        ("Can I speak to a human?", "clarify", ""),
    ],
)
def test_a_decision_names_its_outcome_and_target(said: str, outcome: str, target: str) -> None:
    decision = turn(SNAPSHOT, said).decision
    assert (decision.outcome, decision.target) == (outcome, target), decision
