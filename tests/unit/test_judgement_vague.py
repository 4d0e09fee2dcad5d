"""Issue 17: a problem reported without its kind gets a question; a request about something the
agent does not do is not answered with the nearest fact (real sentence model, no services)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.engine import Decision, Handover
from agents.engine.embedded import EmbeddedBrain
from tests.unit.test_judgement_dialogue import Call
from tests.unit.test_judgement_scope import last_turn

# A heating engineer with a routine and an urgent line (not one of the evaluation agents).
HEATING: dict[str, Any] = {
    "name": "Warmhouse Heating",
    "knowledge": [
        {
            "question": "When are you open? What are your opening hours?",
            "answer": "The office is open Monday to Friday from eight to five.",
        },
        {
            "question": "How much does a boiler service cost?",
            "answer": "A yearly boiler service costs ninety euros.",
        },
    ],
    "intents": [
        {
            "name": "service",
            "examples": ["I want to book a boiler service", "can an engineer come for maintenance"],
            "action": "planning",
            "response": "",
        },
        {
            "name": "no_heat",
            "examples": ["my heating has stopped", "I have no hot water", "I smell gas"],
            "action": "emergency",
            "response": "",
        },
    ],
    "actions": [],
    "handover_actions": [
        {
            "name": "planning",
            "description": "The caller wants to book a service, inspection or installation.",
        },
        {
            "name": "emergency",
            "description": "The caller has no heating, no hot water, or smells gas.",
        },
    ],
}
GARAGE = json.loads(
    (Path(__file__).parents[2] / "benchmarks" / "eval" / "garage.json").read_text()
)["agent"]


def decision(events: list[Any]) -> tuple[str, str]:
    d = next(e for e in events if isinstance(e, Decision))
    return d.outcome, d.target


def test_a_problem_without_its_kind_gets_a_question_naming_both_teams() -> None:
    call = Call(snapshot=HEATING).say("something is wrong with my boiler")
    assert call.decision == ("clarify", "")
    assert set(call.conversation.state()["clarify_options"]) == {
        "intent:service",
        "intent:no_heat",
    }
    assert call.handed_to is None


@pytest.mark.parametrize(
    ("answer", "team"),
    [
        ("it's not urgent, I just want to book it in", "planning"),
        ("I have no heating at all", "emergency"),
    ],
)
def test_the_kind_of_problem_is_resolved_on_the_next_turn(answer: str, team: str) -> None:
    call = Call(snapshot=HEATING).say("something is wrong with my boiler")
    assert call.decision == ("clarify", "")
    assert call.say(answer).handed_to == team


def test_a_problem_that_names_its_kind_is_not_asked_about() -> None:
    assert Call(snapshot=HEATING).say("my heating has completely stopped").handed_to == (
        "emergency"
    )


def test_a_request_for_something_the_agent_does_not_do_gets_no_near_fact() -> None:
    events = last_turn(GARAGE, "do you sell new cars")
    assert decision(events) == ("out_of_scope", "")
    assert not any(isinstance(e, Handover) for e in events)


def test_a_well_covered_question_is_answered_though_an_off_topic_one_fits_too() -> None:
    ranking = EmbeddedBrain(GARAGE).rank("where are you guys located")
    assert ranking.off_topic >= ranking.ranked[0][0] - 0.1  # about as close as the address
    assert decision(last_turn(GARAGE, "where are you guys located")) == ("answer", "1")
