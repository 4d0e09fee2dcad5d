"""Issue 17: clarifying questions, follow-ups, corrections and offers across turns."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agents.engine import CallContext, Conversation, Decision, Handover, Speak, TurnEvent
from agents.engine.embedded import _without_negated_clauses
from tests.unit.test_judgement_scope import BAKERY


class Call:
    """One conversation; each `say` is a caller turn whose spoken lines the caller heard."""

    def __init__(
        self, state: dict[str, Any] | None = None, snapshot: dict[str, Any] | None = None
    ) -> None:
        self.conversation = Conversation(snapshot or BAKERY, CallContext(), state)
        self.events: list[TurnEvent] = []

    def say(self, text: str) -> Call:
        async def go() -> list[TurnEvent]:
            return [e async for e in self.conversation.turn(text)]

        self.events = asyncio.run(go())
        for line in self.spoken:
            self.conversation.agent_heard(line, interrupted=False)
        return self

    def press(self, digit: str) -> Call:
        async def go() -> list[TurnEvent]:
            return [e async for e in self.conversation.dtmf(digit)]

        self.events = asyncio.run(go())
        return self

    @property
    def spoken(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Speak)]

    @property
    def decision(self) -> tuple[str, str]:
        d = next(e for e in self.events if isinstance(e, Decision))
        return d.outcome, d.target

    @property
    def handed_to(self) -> str | None:
        return next((e.action["name"] for e in self.events if isinstance(e, Handover)), None)


def asked() -> Call:
    call = Call().say("I have a question about my order")
    assert call.decision == ("clarify", "")
    return call


def test_two_close_outcomes_get_a_question_naming_both() -> None:
    call = asked()
    assert call.spoken == [
        "Just to be sure: you have a complaint about a product, or you want to order a cake or"
        " place a large order?"
    ]
    assert call.conversation.state()["clarify_options"] == ["intent:complaint", "handover:orders"]
    assert call.handed_to is None


@pytest.mark.parametrize(
    ("answer", "team"),
    [
        ("the first one", "manager"),
        ("the second one", "orders"),
        ("2", "orders"),
        ("I'd like to complain", "manager"),
        ("no, it's not a complaint, I want to order a cake", "orders"),
    ],
)
def test_the_answer_to_the_question_is_resolved_on_the_next_turn(answer: str, team: str) -> None:
    call = asked().say(answer)
    assert call.handed_to == team
    assert call.conversation.state()["clarify_options"] == []


def test_the_question_can_be_answered_on_the_keypad_in_a_later_process() -> None:
    state = dict(asked().conversation.state())
    assert Call(state).press("1").handed_to == "manager"


def test_a_new_request_instead_of_an_answer_is_taken_as_one() -> None:
    call = asked().say("when are you open")
    assert call.decision == ("answer", "0")


def test_a_follow_up_is_read_with_the_last_answered_question() -> None:
    call = Call().say("when are you open")
    assert call.conversation.state()["topic"] == "when are you open"
    assert call.say("and on sunday?").decision == ("answer", "0")


def test_a_correction_answers_what_the_caller_meant() -> None:
    call = Call().say("where can I park")
    assert call.decision == ("answer", "2")
    assert call.say("no, I meant your address").decision == ("answer", "1")


def test_yes_please_after_the_honest_line_takes_the_team_it_offered() -> None:
    call = Call().say("can you recommend a good dentist")
    assert call.decision == ("out_of_scope", "")
    assert call.conversation.state()["offered"] == "handover:orders"
    assert call.say("yes please").handed_to == "orders"


def test_no_thanks_after_the_offer_does_not_transfer() -> None:
    call = Call().say("can you recommend a good dentist").say("no thanks")
    assert call.handed_to is None


def test_clauses_that_deny_something_are_left_out_of_an_answer() -> None:
    assert _without_negated_clauses("no, it's nothing urgent, I just want to book") == (
        "I just want to book"
    )
    assert _without_negated_clauses("it does not work") == "it does not work"


def test_yes_with_a_new_question_after_the_offer_is_taken_as_the_question() -> None:
    call = Call().say("can you recommend a good dentist").say("yes, and when are you open?")
    assert call.handed_to is None and call.decision == ("answer", "0")


def test_and_goodbye_after_an_answer_is_still_goodbye() -> None:
    call = Call().say("when are you open").say("and that's all, thanks, bye")
    assert call.decision[0] == "goodbye"


def test_a_rolled_back_speculative_turn_keeps_the_pending_question() -> None:
    """A speculative turn the caller talked through is undone whole: the clarifying question
    asked before it is still answered by the next turn."""
    call = asked()
    pending = call.conversation.state()["clarify_options"]
    saved = call.conversation.checkpoint()
    call.say("tell me a joke")  # worked out ahead, then the caller went on talking
    assert call.conversation.state()["clarify_options"] != pending
    call.conversation.rollback(saved)
    assert call.conversation.state()["clarify_options"] == pending
    assert call.conversation.history == saved["history"]
