"""The embedded brain on the real sentence-embedding model (no database, no network)."""

from __future__ import annotations

import pytest

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
