"""The turn loop: caller turns, key presses, silence re-prompts and take-overs, one at a time and
in order, through the conversation engine to the agent's voice, with the transcript and timeline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from agents.engine import ActionRan, Decision, EndCall, Handover, Problem, Speak, TurnEvent
from agents.speech.endpointer import SpeechPaused, SpeechStarted, UtteranceEnded
from calls.models import Speaker
from calls.runtime.clock import CallClock
from calls.runtime.control import Ending
from calls.runtime.engine import Engine, events_of
from calls.runtime.journal import CallJournal
from calls.runtime.listener import EndOfTurn, Heard, Listener, SpeechConfirmed
from calls.runtime.load import PROCESS_LOAD
from calls.runtime.outbound import Utterance
from calls.runtime.silence import Reprompt, SilenceWatch
from calls.runtime.speaker import AgentSpeaker
from calls.runtime.speculation import Speculation, replay
from calls.runtime.timing import STAGES, TurnTiming
from stellar.kernel import metrics
from stellar.kernel.audio import FRAME_MS

logger = logging.getLogger(__name__)

TAKE_OVER_LINE = "Please hold, I'm connecting you with a colleague."
MAX_PENDING_INPUTS = 16  # turns waiting to be answered; past it `put` raises asyncio.QueueFull
ERROR_LINE = "Sorry, something went wrong on my side."
HOLD_LINE = "One moment, please."


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
        self._ahead: Speculation | None = None  # the reply worked out during the caller's pause
        self._turn_said = False  # the caller turn being answered has queued its reply
        self.hold_after_ms = settings.STELLAR_HOLD_LINE_AFTER_MS
        self.hold_when: Callable[[], bool] = PROCESS_LOAD.contended  # see _hold_when_late

    # ---- in ----------------------------------------------------------------------------
    def heard(self, heard: Heard) -> None:
        """What the listener noticed in the caller's audio.

        Speech over the agent stops it only once the listener's barge-in judge confirms it
        (sustained, voiced, loud: ≈ 0.2 s after onset); a backchannel, cough or line noise it
        never confirms leaves the agent talking, and is not answered as a turn either unless
        the agent had stopped by the time it ended (a "yes" over the end of a question)."""
        self.silence.activity()
        if isinstance(heard, SpeechStarted):
            self.silence.caller_spoke()
        elif isinstance(heard, SpeechConfirmed):
            if self._speaker.speaking:
                asyncio.create_task(self.barge_in(heard))
        elif isinstance(heard, EndOfTurn):
            if not heard.confirmed and self._speaker.speaking:
                self._journal.event(
                    "backchannel",
                    "Caller sound while the agent spoke, not taken as an interruption",
                    at_ms=heard.utterance.start_ms,
                    duration_ms=heard.utterance.end_ms - heard.utterance.start_ms,
                )
                return
            self._inputs.put_nowait(heard)

    def put(self, item: Input) -> None:
        self._inputs.put_nowait(item)

    def anticipate(self, heard: Heard) -> None:
        """Work ahead on what the listener noticed: a pause may be the end of the turn, so its
        reply is prepared (calls.runtime.speculation); the caller talking again throws it away.
        Only when nothing else is going on: no turn being answered or waiting, the agent quiet."""
        if isinstance(heard, SpeechStarted):
            self._drop_ahead()
        elif isinstance(heard, SpeechPaused):
            self._drop_ahead()
            if self.busy or not self._inputs.empty() or self._speaker.speaking:
                return
            # The listener started transcribing this pause; its transcript is shared, not redone.
            pending = UtteranceEnded(0, heard.t_ms, heard.audio, "silence")
            spec = Speculation(
                samples=len(heard.audio),
                epoch=self._listener.epoch,
                unanswered=self.unanswered,
                transcript=asyncio.ensure_future(self._listener.transcribe(pending)),
            )
            spec.brain = asyncio.create_task(
                spec.run_brain(
                    self._engine,
                    now=self._clock.ms,
                    render=self._speaker.render_into,
                    confirmed=lambda utt: self._play_ahead(spec, utt),
                ),
                name="reply-ahead",
            )
            self._ahead = spec

    def _drop_ahead(self) -> None:
        spec, self._ahead = self._ahead, None
        if spec is not None:
            spec.discard(self._engine)

    def _take_ahead(self, turn: EndOfTurn) -> Speculation | None:
        """The speculation that covers exactly this turn's audio, if any (others are dropped)."""
        spec, self._ahead = self._ahead, None
        if spec is not None and spec.covers(len(turn.utterance.audio), turn.epoch):
            return spec
        if spec is not None:
            spec.discard(self._engine)
        return None

    def stop(self) -> None:
        """No more turns: the pending ones are dropped if the queue is full, the stop never."""
        self._drop_ahead()
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
    async def barge_in(self, confirmed: SpeechConfirmed | None = None) -> None:
        """Stop the agent for a confirmed interruption; the history keeps what was heard."""
        cut = await self._speaker.clear()
        if not cut:
            return
        extra: dict[str, int] = {}
        if confirmed is not None:  # how long the judge listened before stopping the agent
            extra = {
                "speech_started_ms": confirmed.start_ms,
                "decided_after_ms": confirmed.t_ms - confirmed.start_ms,
            }
        self._journal.event(
            "barge_in", "Caller interrupted the agent", at_ms=self._listener.in_ms, **extra
        )
        for utt in cut:
            if utt.heard_frames == 0 and utt.caller_text:
                self.unanswered = f"{utt.caller_text} {self.unanswered}".strip()
            self.utterance_done(utt)

    async def cut_for_take_over(self) -> None:
        """A supervisor takes over: the agent stops mid-sentence, but the caller did not speak,
        so no barge-in is logged and the cut answer is not timed as a turn."""
        for utt in await self._speaker.clear():
            self.utterance_done(utt, timed=False)

    def cut_off(self, cut: list[Utterance]) -> None:
        """The call ended while the agent spoke: each utterance is recorded as far as it was
        heard, marked as interrupted, and a reply that had started playing keeps its timing."""
        started = [utt for utt in cut if utt.start_ms is not None and not utt.recorded]
        if started:
            self._journal.event(
                "cut_off",
                "The call ended while the agent was speaking",
                at_ms=self._listener.in_ms,
            )
        for utt in started:
            self.utterance_done(utt)

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
        data = timing.event_data(first_frame_ms)
        total = data["total_ms"]
        self.latencies.append(total)
        # The brain's time is mostly a remote LLM's: a slow model is not this process's load.
        PROCESS_LOAD.turn_answered(total - max(0, data["brain_ms"]))
        metrics.TURN_LATENCY.observe(total / 1000)
        for stage in STAGES:
            metrics.TURN_STAGE.labels(stage.removesuffix("_ms")).observe(max(0, data[stage]) / 1000)
        self._journal.event(
            "turn_timing", f"Answered {total} ms after the caller stopped speaking", **data
        )

    # ---- turns -------------------------------------------------------------------------
    async def run(self) -> None:
        self._speaker.prerender([HOLD_LINE])
        while True:
            item = await self._inputs.get()
            if item is None:
                return
            self.busy = True
            if not isinstance(item, EndOfTurn):
                self._drop_ahead()  # one turn at a time through the engine
            try:
                if isinstance(item, EndOfTurn):
                    await self._caller_turn_held(item)
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
                if _this_task_cancelled():
                    raise
                # Work the turn awaited was cancelled (a shared transcription, a reply prepared
                # ahead), not the turn loop: the loop goes on, or every later turn is lost.
                logger.warning("call %s: a turn's work was cancelled", self._label)
                await self._speaker.say_line(ERROR_LINE, kind="error")
            except Exception:
                logger.exception("call %s: turn failed", self._label)
                await self._speaker.say_line(ERROR_LINE, kind="error")
            finally:
                self.busy = False
                self.silence.activity()

    # ---- holding line (docs/capacity.md) ---------------------------------------------------
    async def _caller_turn_held(self, turn: EndOfTurn) -> None:
        """A caller turn, with the holding line said if its answer is late."""
        self._turn_said = False
        hold = asyncio.create_task(self._hold_when_late(turn), name="hold-line")
        try:
            await self._caller_turn(turn)
        finally:
            hold.cancel()

    async def _hold_when_late(self, turn: EndOfTurn) -> None:
        """`hold_after_ms` after the caller stopped, with no answer queued and the agent quiet,
        while the process is contended (`hold_when`: other calls share it, or it reports itself
        overloaded), the pre-rendered "One moment, please." plays instead of silence; once per
        turn, and only from the render cache. A lone call's slow answer is the agent's own
        pace, not load, and keeps its plain pause."""
        due_ms = turn.voice_ended_ms + self.hold_after_ms
        await asyncio.sleep(max(0, due_ms - self._clock.ms()) / 1000)
        if self._turn_said or self._speaker.speaking or self._listener.in_speech:
            return
        if not self.hold_when():
            return
        if self._speaker.say_cached(HOLD_LINE, kind="hold") is not None:
            metrics.HOLD_LINES.inc()
            self._journal.event(
                "hold_line",
                "The answer was late: the caller heard the holding line",
                at_ms=self._clock.ms(),
                after_ms=self._clock.ms() - turn.voice_ended_ms,
            )

    async def _caller_turn(self, turn: EndOfTurn) -> None:
        event = turn.utterance
        ahead = self._take_ahead(turn)
        speculative = ahead is not None or self._listener.has_speculative(event)
        try:
            if ahead is not None:
                heard = ((await ahead.transcript) or "").strip()
            else:
                heard = await self._listener.transcribe(event)
        except Exception:
            logger.exception("call %s: transcription failed", self._label)
            if ahead is not None:
                ahead.discard(self._engine)
            return
        transcribed_ms = self._clock.ms()
        if ahead is not None and ahead.transcribed_ms is not None:
            transcribed_ms = ahead.transcribed_ms
        text = f"{self.unanswered} {heard}".strip() if heard else ""
        if ahead is not None and (not text or ahead.unanswered != self.unanswered):
            ahead.drop_brain(self._engine)  # worked out from other words: not this turn's reply
            ahead = None
        if not heard:
            return
        self.unanswered = ""
        if self._listener.epoch != turn.epoch:
            # The caller is already talking again: this was a pause, not the end of the turn.
            self.unanswered = text
            text = ""
            if ahead is not None:
                ahead.drop_brain(self._engine)
                ahead = None
        self._journal.segment(
            speaker=Speaker.CALLER, start_ms=event.start_ms, end_ms=event.end_ms, text=heard
        )
        if not text:
            return
        timing = TurnTiming(
            caller_end_ms=turn.voice_ended_ms,
            endpointed_ms=turn.endpointed_ms,
            transcribed_ms=transcribed_ms,
            speculative_stt=speculative,
            detector=turn.detector,
        )
        if ahead is not None and ahead.brain is not None:
            await self._answer_ahead(ahead, timing)
        else:
            await self._run_turn(
                self._engine.turn(text), kind="reply", caller_text=text, timing=timing
            )

    async def _answer_ahead(self, ahead: Speculation, timing: TurnTiming) -> None:
        """The turn is confirmed: what was prepared plays now, the rest of the turn follows."""
        ahead.confirmed = True
        ahead.timing = timing
        timing.speculative_reply = True
        if ahead.utt is not None:
            self._play_ahead(ahead, ahead.utt)
        assert ahead.brain is not None
        await ahead.brain  # its first words are rendered (or it stopped before an action)
        ahead.saved = None  # kept: the brain's changes are this turn's
        await self._run_turn(
            replay(ahead),
            kind="reply",
            caller_text=ahead.text,
            timing=timing,
            utt=ahead.utt,
            rendered=ahead.first,
        )

    def _play_ahead(self, ahead: Speculation, utt: Utterance) -> None:
        """A confirmed turn's prepared utterance goes out (its frames may still be arriving)."""
        utt.timing = ahead.timing
        self._turn_said = True
        if ahead.timing is not None:
            ahead.timing.decided_ms = ahead.decided_ms
        self._speaker.say(utt)

    async def _run_turn(
        self,
        events: AsyncIterator[TurnEvent],
        *,
        kind: str,
        caller_text: str = "",
        timing: TurnTiming | None = None,
        utt: Utterance | None = None,
        rendered: Speak | None = None,
    ) -> None:
        """Carry out a turn's events in order; one utterance (and one mark) per turn. A turn
        prepared ahead comes with its utterance, already playing `rendered`'s words."""
        ending: Ending | None = None
        async for event in events:
            if event is rendered:
                continue
            if isinstance(event, Speak):
                if utt is None:
                    if timing is not None:
                        timing.decided_ms = self._clock.ms()
                    utt = Utterance(text="", kind=kind, timing=timing, caller_text=caller_text)
                    self._turn_said = True
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


def _this_task_cancelled() -> bool:
    """True when the running task itself is being cancelled (not something it awaited)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0
