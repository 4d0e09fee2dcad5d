"""The turn loop: caller turns, key presses, silence re-prompts and take-overs, one at a time and
in order, through the conversation engine to the agent's voice, with the transcript and timeline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agents.engine import ActionRan, Decision, EndCall, Handover, Problem, Speak, TurnEvent
from agents.speech.endpointer import SpeechStarted
from calls.models import Speaker
from calls.runtime.clock import CallClock
from calls.runtime.control import Ending
from calls.runtime.engine import Engine, events_of
from calls.runtime.journal import CallJournal
from calls.runtime.listener import EndOfTurn, Heard, Listener
from calls.runtime.outbound import Utterance
from calls.runtime.silence import Reprompt, SilenceWatch
from calls.runtime.speaker import AgentSpeaker
from calls.runtime.timing import TurnTiming
from stellar.kernel import metrics
from stellar.kernel.audio import FRAME_MS

logger = logging.getLogger(__name__)

TAKE_OVER_LINE = "Please hold, I'm connecting you with a colleague."
MAX_PENDING_INPUTS = 16  # turns waiting to be answered; past it `put` raises asyncio.QueueFull
ERROR_LINE = "Sorry, something went wrong on my side."


@dataclass(frozen=True)
class KeyPress:
    digit: str


@dataclass(frozen=True)
class TakeOver:
    action: dict[str, Any]  # the handover action to run after TAKE_OVER_LINE
    by: str


Input = EndOfTurn | KeyPress | Reprompt | TakeOver
Finish = Callable[[Ending | None], Awaitable[None]]


class TurnLoop:
    def __init__(
        self,
        *,
        engine: Engine,
        listener: Listener,
        speaker: AgentSpeaker,
        journal: CallJournal,
        clock: CallClock,
        silence: SilenceWatch,
        finish: Finish,
    ) -> None:
        self._engine = engine
        self._listener = listener
        self._speaker = speaker
        self._journal = journal
        self._clock = clock
        self.silence = silence
        self._finish = finish
        self._label = journal.call.call_sid
        self._inputs: asyncio.Queue[Input | None] = asyncio.Queue(maxsize=MAX_PENDING_INPUTS)
        self.busy = False  # a turn is being answered
        self.unanswered = ""  # caller words whose answer was never heard (merged into the next)
        self.latencies: list[int] = []  # ms from the caller's last word to the agent's first

    # ---- in ----------------------------------------------------------------------------
    def heard(self, heard: Heard) -> None:
        """What the listener noticed in the caller's audio."""
        self.silence.activity()
        if isinstance(heard, SpeechStarted):
            self.silence.caller_spoke()
            if self._speaker.speaking:
                asyncio.create_task(self.barge_in())
        elif isinstance(heard, EndOfTurn):
            self._inputs.put_nowait(heard)

    def put(self, item: Input) -> None:
        self._inputs.put_nowait(item)

    def stop(self) -> None:
        """No more turns: the pending ones are dropped if the queue is full, the stop never."""
        while self._inputs.full():
            self._inputs.get_nowait()
        self._inputs.put_nowait(None)

    @property
    def idle(self) -> bool:
        """No turn running and nobody speaking: the silence counts."""
        return (
            not self.busy
            and not self._listener.in_speech
            and self._speaker.started
            and not self._speaker.speaking
        )

    async def watch_silence(self) -> None:
        await self.silence.run(lambda: self.idle, self.put)

    # ---- the agent's words -------------------------------------------------------------
    async def barge_in(self) -> None:
        cut = await self._speaker.clear()
        if not cut:
            return
        self._journal.event("barge_in", "Caller interrupted the agent", at_ms=self._listener.in_ms)
        for utt in cut:
            if utt.heard_frames == 0 and utt.caller_text:
                self.unanswered = f"{utt.caller_text} {self.unanswered}".strip()
            self.utterance_done(utt)

    async def cut_for_take_over(self) -> None:
        """A supervisor takes over: the agent stops mid-sentence, but the caller did not speak,
        so no barge-in is logged and the cut answer is not timed as a turn."""
        for utt in await self._speaker.clear():
            self.utterance_done(utt, timed=False)

    def utterance_done(self, utt: Utterance, *, timed: bool = True) -> None:
        """An utterance played to its mark or was cut: what the caller heard goes on record."""
        if utt.recorded or utt.start_ms is None:
            return
        utt.recorded = True
        heard = utt.heard_text()
        self._engine.agent_heard(heard, interrupted=utt.cancelled)
        self.silence.activity()
        if timed and utt.timing is not None:
            self._record_timing(utt.timing, utt.start_ms)
        self._journal.segment(
            speaker=Speaker.AGENT,
            start_ms=utt.start_ms,
            end_ms=utt.start_ms + utt.heard_frames * FRAME_MS,
            text=utt.text if not utt.cancelled else (heard or "…"),
            interrupted=utt.cancelled,
        )

    def _record_timing(self, timing: TurnTiming, first_frame_ms: int) -> None:
        """Caller stops speaking → first agent frame, and where the time went."""
        total = first_frame_ms - timing.caller_end_ms
        self.latencies.append(total)
        metrics.TURN_LATENCY.observe(total / 1000)
        self._journal.event(
            "turn_timing",
            f"Answered {total} ms after the caller stopped speaking",
            **timing.event_data(first_frame_ms),
        )

    # ---- turns -------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            item = await self._inputs.get()
            if item is None:
                return
            self.busy = True
            try:
                if isinstance(item, EndOfTurn):
                    await self._caller_turn(item)
                elif isinstance(item, KeyPress):
                    await self._run_turn(self._engine.dtmf(item.digit), kind="dtmf")
                elif isinstance(item, TakeOver):
                    handover = Handover(item.action, reason=f"Taken over by {item.by}")
                    await self._run_turn(
                        events_of([Speak(TAKE_OVER_LINE), handover]), kind="take_over"
                    )
                else:
                    reprompt = self._engine.silence_turn(item.count, item.limit)
                    await self._run_turn(events_of(reprompt), kind="silence")
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("call %s: turn failed", self._label)
                await self._speaker.say_line(ERROR_LINE, kind="error")
            finally:
                self.busy = False
                self.silence.activity()

    async def _caller_turn(self, turn: EndOfTurn) -> None:
        event = turn.utterance
        speculative = self._listener.has_speculative(event)
        try:
            heard = await self._listener.transcribe(event)
        except Exception:
            logger.exception("call %s: transcription failed", self._label)
            return
        if not heard:
            return
        text = f"{self.unanswered} {heard}".strip()
        self.unanswered = ""
        if self._listener.epoch != turn.epoch:
            # The caller is already talking again: this was a pause, not the end of the turn.
            self.unanswered = text
            text = ""
        self._journal.segment(
            speaker=Speaker.CALLER, start_ms=event.start_ms, end_ms=event.end_ms, text=heard
        )
        if text:
            timing = TurnTiming(
                caller_end_ms=turn.voice_ended_ms,
                endpointed_ms=turn.endpointed_ms,
                transcribed_ms=self._clock.ms(),
                speculative_stt=speculative,
            )
            await self._run_turn(
                self._engine.turn(text), kind="reply", caller_text=text, timing=timing
            )

    async def _run_turn(
        self,
        events: AsyncIterator[TurnEvent],
        *,
        kind: str,
        caller_text: str = "",
        timing: TurnTiming | None = None,
    ) -> None:
        """Carry out a turn's events in order; one utterance (and one mark) per turn."""
        utt: Utterance | None = None
        ending: Ending | None = None
        async for event in events:
            if isinstance(event, Speak):
                if utt is None:
                    if timing is not None:
                        timing.decided_ms = self._clock.ms()
                    utt = Utterance(text="", kind=kind, timing=timing, caller_text=caller_text)
                    self._speaker.say(utt)
                await self._speaker.render_into(utt, event.text)
            elif isinstance(event, Decision):
                self._journal.event(
                    "agent_turn",
                    f"Agent chose {event.summary or event.label}",
                    label=event.label,
                    score=event.score,
                    brain=event.brain,
                )
            elif isinstance(event, ActionRan):
                self._journal.event(
                    "action",
                    f"Action {event.name}: {event.outcome or ('ok' if event.ok else 'failed')}",
                    action=event.name,
                    action_kind=event.kind,
                    ok=event.ok,
                    duration_ms=event.duration_ms,
                    inputs=event.inputs,
                )
            elif isinstance(event, Problem):
                self._journal.event(event.kind, event.message, error=event.error)
            elif isinstance(event, Handover | EndCall):
                ending = event
        self._journal.save_conversation(self._engine.state())
        if utt is None:
            if ending is not None:
                await self._finish(ending)
            return
        utt.ending = ending
        utt.end_call = ending is not None
        utt.finish()
