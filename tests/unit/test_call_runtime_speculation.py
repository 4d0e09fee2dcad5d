"""Replies worked out during the caller's pause: played the moment the turn is confirmed, thrown
away (and the brain rolled back) when the caller goes on, never running an action ahead; and
what the agent was saying when the call ended stays on record with its turn's timing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from agents.engine import ActionRan, Decision, Speak, TurnEvent
from calls.models import Speaker
from calls.runtime.timing import STAGES
from stellar.kernel import metrics
from tests.unit.call_runtime_fakes import payloads, quiet, run_virtual, tone, until
from tests.unit.test_call_runtime_turns import ANSWER, HOURS, Line, ScriptedEngine


class RollbackEngine(ScriptedEngine):
    """A scripted brain with the checkpoint/rollback of agents.engine.Conversation; it notes
    the actions it ran (an ActionRan is reached only by pulling past the Decision before it)."""

    def __init__(self, replies: list[list[TurnEvent]] | None = None) -> None:
        super().__init__(replies)
        self.ran: list[str] = []
        self.rollbacks = 0

    async def turn(self, caller_text: str) -> AsyncIterator[TurnEvent]:
        self.caller.append(caller_text)
        for event in self.replies.pop(0):
            if isinstance(event, ActionRan):
                self.ran.append(event.name)
            yield event

    def checkpoint(self) -> Any:
        return list(self.caller), list(self.replies)

    def rollback(self, saved: Any) -> None:
        self.rollbacks += 1
        self.caller, self.replies = list(saved[0]), list(saved[1])


class AheadLine(Line):
    """The turn loop fed like calls.runtime.session feeds it: each event also anticipated."""

    async def caller_says(self, audio: bytes) -> None:
        for payload in payloads(audio):
            await asyncio.sleep(0.02)
            for heard in self.listener.hear(payload):
                self.turns.heard(heard)
                self.turns.anticipate(heard)


def _timing(line: Line) -> dict[str, Any]:
    (timing,) = line.writer.events("turn_timing")
    return timing


def test_a_reply_prepared_in_the_pause_plays_as_soon_as_the_turn_ends() -> None:
    async def main() -> None:
        engine = RollbackEngine()
        before = metrics.TURN_STAGE.labels("endpoint")._sum.get()
        async with AheadLine(engine) as line:
            await line.caller_says(quiet(400) + tone(600) + quiet(800))
            utt = await line.played()

            assert engine.caller == [HOURS] and engine.rollbacks == 0
            assert len(line.stt.calls) == 1  # one transcription, shared by the speculation
            assert utt.text == ANSWER and utt.kind == "reply" and utt.caller_text == HOURS
            timing = _timing(line)
            assert timing["speculative_reply"] is True and timing["speculative_stt"] is True
            assert timing["stt_wait_ms"] == 0 and timing["brain_ms"] == 0
            assert 480 <= timing["endpoint_ms"] <= 540
            assert timing["tts_first_ms"] <= 20  # rendered ahead: the next frame slot
            assert timing["total_ms"] == sum(timing[s] for s in STAGES)
            (decision,) = line.writer.events("agent_turn")  # journaled once, when confirmed
            assert decision["label"] == "knowledge:0"
            said = [s["text"] for s in line.writer.named("transcript_add")]
            assert said == [HOURS, ANSWER]
            assert utt.start_ms is not None and utt.start_ms >= 1000 + timing["endpoint_ms"] - 1
        assert metrics.TURN_STAGE.labels("endpoint")._sum.get() > before

    run_virtual(main())


def test_a_pause_the_caller_talks_through_throws_the_prepared_reply_away() -> None:
    async def main() -> None:
        engine = RollbackEngine([[Speak(ANSWER)], [Speak("A second reply.")]])
        async with AheadLine(engine) as line:
            # A 300 ms hesitation: the speculation starts 120 ms in, the caller goes on.
            await line.caller_says(quiet(400) + tone(600) + quiet(300))
            await until(lambda: engine.caller == [HOURS])  # the brain ran ahead
            assert line.outbox.frames() == []  # but nothing plays before the turn ends
            await line.caller_says(tone(500) + quiet(800))
            utt = await line.played()

            assert engine.rollbacks == 1
            assert engine.caller == [HOURS]  # one turn: the discarded one left no trace
            assert utt.text == ANSWER  # the first scripted reply: it was rolled back
            assert engine.replies == [[Speak("A second reply.")]]
            assert len(line.stt.calls) == 2
            (caller_line, agent_line) = line.writer.named("transcript_add")
            assert caller_line["speaker"] == Speaker.CALLER
            assert (caller_line["start_ms"], caller_line["end_ms"]) == (200, 1800)
            assert agent_line["text"] == ANSWER
            assert _timing(line)["speculative_reply"] is True

    run_virtual(main())


def test_no_action_runs_before_the_turn_is_confirmed() -> None:
    refund = ActionRan("refund", "http", True, 5, {}, "refunded")
    chose = Decision("action:refund", 0.9, outcome="action", target="refund")

    async def main() -> None:
        engine = RollbackEngine([[chose, refund, Speak("Your refund is on its way.")]] * 2)
        async with AheadLine(engine) as line:
            await line.caller_says(quiet(400) + tone(600) + quiet(300))
            await until(lambda: engine.caller == [HOURS])
            await asyncio.sleep(0.1)
            assert engine.ran == []  # held at the decision while the caller might go on
            await line.caller_says(tone(400) + quiet(800))
            utt = await line.played()

            assert engine.ran == ["refund"] and engine.rollbacks == 1
            assert utt.text == "Your refund is on its way."
            (action,) = line.writer.events("action")
            assert action["action"] == "refund"
            assert len(line.writer.events("agent_turn")) == 1

    run_virtual(main())


def test_without_speculation_the_turn_is_answered_the_usual_way() -> None:
    """A pause while the agent is still talking prepares nothing (no reply over a reply)."""

    async def main() -> None:
        engine = RollbackEngine()
        async with AheadLine(engine, frames=200) as line:
            line.turns.busy = True  # as if a turn were being answered
            await line.caller_says(quiet(400) + tone(600) + quiet(300))
            assert engine.caller == []
            line.turns.busy = False
            await line.caller_says(quiet(500))
            await line.played()
            assert engine.caller == [HOURS] and engine.rollbacks == 0
            assert _timing(line)["speculative_reply"] is False

    run_virtual(main())


def test_a_caller_who_hangs_up_mid_answer_leaves_what_was_heard_and_the_timing() -> None:
    from tests.unit.test_call_runtime_session import Phone, media

    async def main() -> None:
        phone = Phone()
        phone.tts.frames_per_sentence = 100  # two seconds a sentence
        session = phone.session
        session.conversation.brain.choose("hello")  # the model loaded outside virtual time
        await phone.start()
        await phone.mark_back(1)  # the greeting played out
        for payload in payloads(quiet(200) + tone(600) + quiet(700)):
            await phone.send(media(payload))
            await asyncio.sleep(0.02)
        sender = session.speaker._sender
        assert sender is not None

        def well_into_the_answer() -> bool:
            utt = sender.current
            return utt is not None and utt.kind == "reply" and utt.sent >= 0.6 * len(utt.frames)

        await until(well_into_the_answer)
        answer = sender.current
        assert answer is not None
        await session.close("Twilio stopped the stream", stopped_by_twilio=True)

        caller_line, agent_line = phone.writer.named("transcript_add")[1:]
        assert caller_line["speaker"] == Speaker.CALLER and caller_line["text"] == "unused"
        assert agent_line["speaker"] == Speaker.AGENT and agent_line["interrupted"] is True
        heard = agent_line["text"]
        assert heard and answer.text.startswith(heard) and heard != answer.text  # what played
        played_ms = agent_line["end_ms"] - agent_line["start_ms"]
        assert abs(played_ms - (answer.sent - 10) * 20) <= 20  # sent, less 200 ms in flight
        (timing,) = phone.writer.events("turn_timing")
        assert timing["total_ms"] == sum(timing[s] for s in STAGES)
        assert len(phone.writer.events("cut_off")) == 1
        history = phone.writer.named("call_save_conversation")[-1]["state"]["history"]
        assert history[-1] == {"role": "agent", "text": heard, "interrupted": True}
        assert phone.feed.of("ended") == ["Twilio stopped the stream"]

    run_virtual(main())


def test_the_call_page_strip_shows_each_timed_turn_in_proportion() -> None:
    from calls.models import CallEvent
    from calls.turn_latency import turn_latency_strips

    fast = {"total_ms": 210, "endpoint_ms": 190, "stt_wait_ms": 0, "brain_ms": 0}
    fast |= {"tts_first_ms": 20, "speculative_reply": True, "detector": "smart"}
    slow = {"total_ms": 420, "endpoint_ms": 300, "stt_wait_ms": 20, "brain_ms": 60}
    slow |= {"tts_first_ms": 40, "speculative_reply": False}
    events = [
        CallEvent(kind="turn_timing", data=fast),
        CallEvent(kind="barge_in", data={"at_ms": 5}),
        CallEvent(kind="turn_timing", data=slow),
        CallEvent(kind="turn_timing", data={"total_ms": "bad", "brain_ms": True}),
    ]
    first, second, broken = turn_latency_strips(events)
    assert (first.number, first.total_ms, first.ahead, first.detector) == (1, 210, True, "smart")
    assert [(s.key, s.ms, s.percent) for s in first.stages] == [
        ("endpoint", 190, 45.2),
        ("tts_first", 20, 4.8),
    ]
    assert second.detector == "silence" and not second.ahead
    assert sum(s.percent for s in second.stages) == 100.0  # the slowest turn: full width
    assert second.title == (
        "Turn 2: 420 ms (End of turn 300 ms, Speech to text 20 ms, Brain 60 ms, First audio 40 ms)"
    )
    assert (broken.total_ms, broken.stages) == (0, [])


def test_what_was_heard_of_a_cut_answer_follows_its_rendered_sentences() -> None:
    from calls.runtime.outbound import Utterance

    utt = Utterance(text="One two. Three four five. Six seven")
    utt.feed([b"x"] * 10)
    utt.spoken(8)  # "One two." is 10 frames
    utt.feed([b"x"] * 20)
    utt.spoken(25)  # "Three four five." 20 more; "Six seven" is still rendering
    utt.cancelled = True
    heard = {}
    for played in (0, 5, 10, 15, 25, 30):
        utt.played = played
        heard[played] = utt.heard_text()
    assert heard == {
        0: "",
        5: "One",
        10: "One two.",
        15: "One two.",
        25: "One two. Three four",
        30: "One two. Three four five.",  # never the words whose audio did not exist yet
    }
    utt.cancelled = False
    assert utt.heard_text() == utt.text  # played out: all of it
