"""Issue 17: the embedded brain knows what it does not know (real sentence model, no services)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agents.engine import CallContext, Conversation, Decision, Handover, Speak, TurnEvent
from agents.engine.conversation import CANNOT_HELP
from agents.engine.embedded import EmbeddedBrain, description_phrases, second_person
from calls.management.commands.stellar_demo import INTENTS, KNOWLEDGE

BAKERY: dict[str, Any] = {
    "name": "Harbour Bakery",
    "default_handover": "orders",
    "knowledge": [
        {
            "question": "What are your opening hours? When are you open?",
            "answer": "We are open Tuesday to Saturday from seven to four.",
        },
        {
            "question": "Where is the bakery? What is your address?",
            "answer": "We are at Harbour Street three, opposite the ferry.",
        },
        {
            "question": "Is there parking? Where can I park?",
            "answer": "You can park for free on the quay behind the bakery.",
        },
        {
            "question": "Do you make gluten-free bread?",
            "answer": "Yes, we bake gluten-free bread every Friday.",
        },
    ],
    "intents": [
        {
            "name": "cake_order",
            "examples": ["I'd like to order a cake", "can I order a birthday cake"],
            "action": "orders",
            "response": "",
        },
        {
            "name": "complaint",
            "examples": ["I want to make a complaint", "something was wrong with my order"],
            "action": "manager",
            "response": "",
        },
    ],
    "actions": [
        {"name": "end_call", "kind": "end_call", "description": "The caller says goodbye."}
    ],
    "handover_actions": [
        {
            "name": "orders",
            "description": "The caller wants to order a cake or place a large order.",
            "handover_message": "I'll put you through to our orders desk.",
        },
        {
            "name": "manager",
            "description": "The caller has a complaint about a product.",
            "handover_message": "I'll connect you with the manager.",
        },
    ],
}

# The demo agent of `manage.py stellar_demo`: no order intent, so an order question is not sales.
DEMO: dict[str, Any] = {
    "knowledge": KNOWLEDGE,
    "intents": INTENTS,
    "actions": [],
    "handover_actions": [
        {
            "name": "transfer_to_sales",
            "description": "The caller wants to buy, asks for prices or a quote, or asks for sales.",
        },
        {
            "name": "transfer_to_support",
            "description": "The caller has a technical problem or something is broken.",
        },
    ],
}


def last_turn(snapshot: dict[str, Any], *texts: str) -> list[TurnEvent]:
    conversation = Conversation(snapshot, CallContext())

    async def go() -> list[TurnEvent]:
        events: list[TurnEvent] = []
        for text in texts:
            events = [e async for e in conversation.turn(text)]
        return events

    return asyncio.run(go())


def facts(snapshot: dict[str, Any]) -> set[str]:
    return {k["answer"] for k in snapshot["knowledge"]}


@pytest.mark.parametrize(
    "said",
    [
        "what's the weather forecast for the weekend",
        "can you fix my laptop",
        "do you sell wine",
    ],
)
def test_an_out_of_scope_request_gets_the_honest_line_not_a_fact_nor_a_handover(
    said: str,
) -> None:
    events = last_turn(BAKERY, said)
    decision = next(e for e in events if isinstance(e, Decision))
    spoken = [e.text for e in events if isinstance(e, Speak)]
    assert (decision.outcome, decision.target) == ("out_of_scope", ""), decision
    assert not any(isinstance(e, Handover) for e in events)
    assert not facts(BAKERY) & set(spoken)
    assert spoken[0].startswith(CANNOT_HELP) and "orders" in spoken[0]


@pytest.mark.parametrize(
    ("said", "index"),
    [
        ("hi, is there somewhere to leave the car", 2),
        ("do you have bread without gluten", 3),
        ("where can I park", 2),
    ],
)
def test_a_request_that_asks_for_a_fact_still_gets_it(said: str, index: int) -> None:
    decision = next(e for e in last_turn(BAKERY, said) if isinstance(e, Decision))
    assert (decision.outcome, decision.target) == ("answer", str(index)), decision


def test_the_demo_agent_does_not_send_an_order_question_to_sales() -> None:
    events = last_turn(DEMO, "Hello, I am calling about my order")
    assert not any(isinstance(e, Handover) for e in events)
    decision = next(e for e in events if isinstance(e, Decision))
    assert decision.outcome == "out_of_scope", decision


def test_coverage_tells_a_paraphrase_from_a_request_about_something_else() -> None:
    brain = EmbeddedBrain(BAKERY)
    fits = brain.matcher.coverage("is there somewhere to leave the car", "knowledge:2")
    other = brain.matcher.coverage("where can I buy a car", "knowledge:2")
    assert fits > other


def test_a_request_like_no_business_handles_sounds_off_topic() -> None:
    ranking = EmbeddedBrain(BAKERY).rank("will it rain tomorrow afternoon")
    assert ranking.off_topic > ranking.ranked[0][0]


def test_a_verbless_clause_of_a_description_takes_the_verb_before_it() -> None:
    assert description_phrases("The caller has pain, swelling or bleeding.")[1:] == [
        "I have pain",
        "I have swelling",
        "I have bleeding",
    ]
    assert description_phrases("The caller wants to book a service, or repair.")[1:] == [
        "I want to book a service",
        "I want to book repair",
    ]


def test_descriptions_are_put_to_the_caller_in_the_second_person() -> None:
    assert second_person("The caller wants to book their appointment. Or moves it.") == (
        "you want to book your appointment"
    )
    assert second_person("The caller has broken down, is stranded or needs towing.") == (
        "you have broken down, are stranded or need towing"
    )
    assert second_person("Something is broken.") == "something is broken"
    assert second_person("") == ""
