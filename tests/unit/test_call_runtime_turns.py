"""The listener and the turn loop on their own: caller audio → transcript → engine → agent voice,
with a fake STT, a scripted engine and virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from agents.engine import ActionRan, Decision, EndCall, Handover, Problem, Speak, TurnEvent
from agents.speech.endpointer import CALL_ENDPOINTING, Endpointer, UtteranceEnded
from calls.models import Speaker
from calls.runtime.clock import CallClock
from calls.runtime.journal import CallJournal
from calls.runtime.listener import EndOfTurn, Listener
from calls.runtime.outbound import Utterance
from calls.runtime.silence import Reprompt, SilenceWatch
from calls.runtime.speaker import AgentSpeaker
from calls.runtime.speech_render import SpeechRenderer
from calls.runtime.turns import ERROR_LINE, TAKE_OVER_LINE, KeyPress, TakeOver, TurnLoop
from stellar.kernel.audio import pcm16_to_ulaw
from tests.unit.call_runtime_fakes import (
    EnergyVAD,
    FakeSTT,
    FakeTTS,
    InlineExecutor,
    Outbox,
    RecordingFeed,
    RecordingWriter,
    call_row,
    payloads,
    quiet,
    run_virtual,
    tone,
    until,
)

HOURS = "What are your opening hours?"
ANSWER = "We open at nine."


class ScriptedEngine:
    """A fake brain: the events of each turn are given; what it was told is kept."""

    def __init__(self, replies: list[list[TurnEvent]] | None = None) -> None:
        self.replies = replies or [[Decision("knowledge:0", 0.9), Speak(ANSWER)]]
        self.caller: list[str] = []
        self.heard: list[tuple[str, bool]] = []

    async def turn(self, caller_text: str) -> AsyncIterator[TurnEvent]:
        self.caller.append(caller_text)
        for event in self.replies.pop(0):
            yield event

    async def dtmf(self, digit: str) -> AsyncIterator[TurnEvent]:
        self.caller.append(f"[{digit}]")
        for event in self.replies.pop(0):
            yield event

    def silence_turn(self, count: int, limit: int) -> list[TurnEvent]:
        self.caller.append(f"[silence {count}/{limit}]")
        return [Speak("Are you still there?")]

    def agent_heard(self, text: str, *, interrupted: bool) -> None:
        self.heard.append((text, interrupted))

    def state(self) -> dict[str, Any]:
        return {"history": list(self.caller)}


class Line:
    """A turn loop wired like a call's, minus the socket."""

    def __init__(self, engine: ScriptedEngine, *, heard: str = HOURS, frames: int = 5) -> None:
        self.engine = engine
        self.clock = CallClock()
        self.writer = RecordingWriter()
        self.feed = RecordingFeed()
        journal = CallJournal(call_row(), self.writer, self.feed)
        pool = InlineExecutor()
        self.stt = FakeSTT(heard)
        self.listener = Listener(
            endpointer=Endpointer(EnergyVAD(), CALL_ENDPOINTING),
            stt=lambda: self.stt,
            prompt="Test line",
            clock=self.clock,
            executor=pool,
        )
        self.tts = FakeTTS(frames)
        self.outbox = Outbox()
        self.speaker = AgentSpeaker(
            send=self.outbox.send,
            clock=self.clock,
            renderer=SpeechRenderer(tts=lambda: self.tts),
            voice=None,
            executor=pool,
            prerender_executor=pool,
        )
        self.finished: list[Handover | EndCall | None] = []
        self.turns = TurnLoop(
            engine=engine,
            listener=self.listener,
            speaker=self.speaker,
            journal=journal,
            clock=self.clock,
            silence=SilenceWatch(timeout=8.0, limit=2, now=asyncio.get_running_loop().time),
            finish=self._finish,
        )

    async def _finish(self, ending: Handover | EndCall | None) -> None:
        self.finished.append(ending)

    async def __aenter__(self) -> Line:
        self.clock.start()
        self.speaker.start("MZ1", lambda at_ms, frame: None)
        self.tasks = [
            asyncio.create_task(self.speaker.play()),
            asyncio.create_task(self.turns.run()),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.turns.stop()
        for task in self.tasks:
            task.cancel()

    async def caller_says(self, audio: bytes) -> None:
        """Caller audio in real (virtual) time: each 20 ms frame arrives once it was spoken."""
        for payload in payloads(audio):
            await asyncio.sleep(0.02)
            for heard in self.listener.hear(payload):
                self.turns.heard(heard)

    async def played(self, count: int = 1) -> Utterance:
        """Wait for the `count`-th mark and report it played, like the stream does."""
        await until(lambda: len(self.outbox.of("mark")) >= count)
        utt = self.speaker.mark_received(self.outbox.of("mark")[count - 1]["mark"]["name"])
        assert utt is not None
        self.turns.utterance_done(utt)
        return utt


def test_a_caller_turn_is_transcribed_answered_and_timed() -> None:
    async def main() -> None:
        engine = ScriptedEngine()
        async with Line(engine, heard=f"  {HOURS} ") as line:
            await line.caller_says(quiet(400) + tone(600) + quiet(800))
            utt = await line.played()

            assert engine.caller == [HOURS]
            assert line.listener.epoch == 1 and line.listener.in_ms == 1800
            assert len(line.stt.calls) == 1  # the transcription started in the pause, reused
            assert line.stt.calls[0][1:] == (8000, "Test line")
            caller_line, agent_line = line.writer.named("transcript_add")
            assert caller_line["speaker"] == Speaker.CALLER and caller_line["text"] == HOURS
            assert (caller_line["start_ms"], caller_line["end_ms"]) == (200, 1000)
            assert "interrupted" not in caller_line
            assert agent_line["speaker"] == Speaker.AGENT and agent_line["text"] == ANSWER
            assert agent_line["interrupted"] is False
            assert agent_line["end_ms"] - agent_line["start_ms"] == len(utt.frames) * 20
            assert [s["text"] for s in line.feed.of("transcript")] == [HOURS, ANSWER]
            assert engine.heard == [(ANSWER, False)]
            assert utt.kind == "reply" and utt.caller_text == HOURS and utt.ending is None

            (decision,) = line.writer.events("agent_turn")
            assert (decision["label"], decision["score"]) == ("knowledge:0", 0.9)
            (timing,) = line.writer.events("turn_timing")
            assert timing["speculative_stt"] is True
            assert 480 <= timing["endpoint_ms"] <= 540  # CALL_ENDPOINTING's end silence
            parts = ("endpoint_ms", "stt_wait_ms", "brain_ms", "tts_first_ms")
            assert timing["total_ms"] == sum(timing[p] for p in parts)
            caller_end = agent_line["start_ms"] - timing["total_ms"]
            assert abs(caller_end - 1000) <= 1  # the caller's last word (ms are int()ed floats)
            assert line.turns.latencies == [timing["total_ms"]]
            assert line.writer.named("call_save_conversation")[-1]["state"] == {"history": [HOURS]}

    run_virtual(main())


def test_words_before_a_pause_the_caller_talked_through_join_the_next_turn() -> None:
    async def main() -> None:
        engine = ScriptedEngine()
        async with Line(engine, heard="I would like") as line:
            audio = np.zeros(8000, dtype=np.int16)
            stale = EndOfTurn(
                UtteranceEnded(0, 900, audio, "silence"), line.listener.epoch - 1, 0, 0
            )
            line.turns.put(stale)
            await until(lambda: len(line.writer.named("transcript_add")) == 1)
            assert engine.caller == [] and line.turns.unanswered == "I would like"

            line.stt.text = "to book a table"
            line.turns.put(EndOfTurn(UtteranceEnded(1000, 1900, audio, "silence"), 0, 0, 0))
            await line.played()
            assert engine.caller == ["I would like to book a table"]
            said = [w["text"] for w in line.writer.named("transcript_add")]
            assert said == ["I would like", "to book a table", ANSWER]

    run_virtual(main())


def test_the_caller_barging_in_cuts_the_agent_and_keeps_an_unheard_question() -> None:
    async def main() -> None:
        engine = ScriptedEngine()
        async with Line(engine, frames=100) as line:
            greeting = await line.speaker.say_line("Welcome to the long greeting.", kind="greeting")
            pending = Utterance(text="", kind="reply", caller_text=HOURS)  # still rendering
            line.speaker.say(pending)
            # Voiced speech (a vowel-like wave, its pitch gliding 140 → 160 Hz): the barge-in
            # judge stops the agent once it is sustained, within 300 ms of its onset.
            f0 = np.linspace(140, 160, 400 * 8)
            voice = (5000 * np.sin(2 * np.pi * np.cumsum(f0) / 8000)).astype(np.int16)
            await line.caller_says(quiet(1000) + pcm16_to_ulaw(voice))
            await until(lambda: bool(line.outbox.of("clear")))

            (barge_in,) = line.writer.events("barge_in")
            assert 1000 <= barge_in["speech_started_ms"] <= barge_in["at_ms"] <= 1300
            assert greeting.cancelled and pending.cancelled
            assert line.turns.unanswered == HOURS  # asked again with the caller's next words
            (agent_line,) = line.writer.named("transcript_add")
            assert agent_line["interrupted"] is True
            assert agent_line["text"] == greeting.heard_text() == "Welcome to"
            assert engine.heard == [("Welcome to", True)]
            assert line.outbox.of("mark") == []

    run_virtual(main())


def test_key_presses_take_overs_endings_and_failures() -> None:
    async def main() -> None:
        engine = ScriptedEngine(
            [
                [ActionRan("hang_up", "end_call", True, 3, {"x": 1}, "bye"), EndCall("Action")],
                [Speak("Sales, one moment."), Handover({"name": "sales"}, "caller asked")],
            ]
        )
        async with Line(engine) as line:
            line.turns.put(KeyPress("0"))  # an ending without words: finished at once
            await until(lambda: bool(line.finished))
            assert engine.caller == ["[0]"] and line.finished == [EndCall("Action")]
            (action,) = line.writer.events("action")
            assert (action["action"], action["ok"], action["message"]) == (
                "hang_up",
                True,
                "Action hang_up: bye",
            )

            line.turns.put(KeyPress("1"))  # words, then the handover once they played
            reply = await line.played()
            assert reply.kind == "dtmf" and reply.end_call
            assert reply.ending == Handover({"name": "sales"}, "caller asked")

            line.turns.put(TakeOver({"name": "supervisor_take_over"}, "ann"))
            taken = await line.played(2)
            assert taken.text == TAKE_OVER_LINE and taken.kind == "take_over" and taken.end_call
            assert taken.ending == Handover({"name": "supervisor_take_over"}, "Taken over by ann")

            line.turns.put(KeyPress("2"))  # the script has no more turns: the engine fails
            failed = await line.played(3)
            assert failed.kind == "error" and failed.text == ERROR_LINE and not failed.end_call
            assert not line.turns.busy and line.finished == [EndCall("Action")]

    run_virtual(main())


def test_silence_watch_asks_again_only_while_nobody_speaks() -> None:
    async def main() -> None:
        engine = ScriptedEngine()
        async with Line(engine) as line:
            watch = asyncio.create_task(line.turns.watch_silence())
            start = asyncio.get_running_loop().time()
            await until(lambda: bool(line.outbox.of("mark")))
            assert 8.0 <= asyncio.get_running_loop().time() - start <= 9.0
            assert engine.caller == ["[silence 1/2]"]
            await asyncio.sleep(20)  # its mark is not back: the agent is still speaking
            assert engine.caller == ["[silence 1/2]"]
            await line.played()
            await until(lambda: len(line.outbox.of("mark")) == 2)
            assert engine.caller == ["[silence 1/2]", "[silence 2/2]"]
            watch.cancel()

    run_virtual(main())


def test_silence_counts_reset_when_the_caller_speaks() -> None:
    clock = [0.0]
    watch = SilenceWatch(timeout=8.0, limit=2, now=lambda: clock[0])
    clock[0] = 7.5
    assert watch.tick(idle=True) is None
    clock[0] = 8.0
    assert watch.tick(idle=True) == Reprompt(1, 2)
    clock[0] = 15.0
    assert watch.tick(idle=False) is None  # busy: the quiet only counts from half a second ago
    clock[0] = 22.0
    assert watch.tick(idle=True) is None
    clock[0] = 22.5
    assert watch.tick(idle=True) == Reprompt(2, 2)
    watch.caller_spoke()
    watch.activity()
    clock[0] = 30.5
    assert watch.tick(idle=True) == Reprompt(1, 2)
    assert (
        SilenceWatch.for_agent({"silence_timeout_seconds": 3, "silence_reprompts": 0}).timeout
        == 3.0
    )
    assert SilenceWatch.for_agent({}).limit == 2


def test_the_timeline_says_what_the_agent_chose_in_words_and_records_brain_failures() -> None:
    chose = Decision("knowledge:0", 0.9, summary=f"the answer to “{HOURS}”")
    failed = Problem("llm_error", "The language model failed: HTTP 401", error="HTTP 401")

    async def main() -> None:
        engine = ScriptedEngine([[chose, Speak(ANSWER)], [failed, Speak("Sorry.")]])
        async with Line(engine) as line:
            await line.caller_says(quiet(400) + tone(600) + quiet(800))
            await line.played()
            await line.caller_says(tone(600) + quiet(800))
            await line.played(2)
            (decision,) = line.writer.events("agent_turn")
            assert decision["message"] == f"Agent chose the answer to “{HOURS}”"
            (problem,) = line.writer.events("llm_error")
            assert problem["message"] == "The language model failed: HTTP 401"
            assert problem["error"] == "HTTP 401"

    run_virtual(main())
