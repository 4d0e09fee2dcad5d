"""A live call: wires the stream protocol's calls to the listener, the turn loop and the agent's
voice, and owns the call's lifecycle (start, take-over, close).

Everything here runs on the event loop and never touches the ORM directly: speech models run
in a thread pool, database writes go through the call's ordered journal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone

from calls import services
from calls.handover_state import HandoverState, HandoverStatus, supervisor_action
from calls.models import Call
from calls.recordings.shipping import ship_at_stream_end
from calls.recordings.spool import AGENT, CALLER
from calls.runtime.clock import CallClock
from calls.runtime.control import CallControl, CallEnding
from calls.runtime.engine import LineEngine
from calls.runtime.journal import CallJournal
from calls.runtime.listener import Listener
from calls.runtime.load import PROCESS_LOAD
from calls.runtime.monitor import MonitorFeed
from calls.runtime.pacing import InboundPacer, KeyPacer
from calls.runtime.speaker import AgentSpeaker
from calls.runtime.turns import KeyPress, TakeOver, TurnLoop
from connectors.capacity import CallLease
from stellar.kernel import metrics

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
TRANSFER_DID_NOT_GO_THROUGH = (
    "I'm sorry, the transfer did not go through. Is there anything else I can help you with?"
)
CALL_TOO_LONG = "I'm sorry, this call has reached its maximum length. Goodbye."
HANG_UP_GRACE_SECONDS = 15.0  # after the goodbye, even if the stream never acknowledges it


class AudioSpool(Protocol):
    """Where both tracks are recorded (calls.recordings.spool.CallSpool)."""

    @property
    def full(self) -> bool: ...  # reached STELLAR_MAX_SPOOL_BYTES: it records no more

    def write(self, track: int, offset_ms: int, payload: bytes) -> None: ...

    def close(self) -> None: ...


class CallSession:
    """Protocol-free call logic; calls.runtime.protocol turns stream frames into these calls."""

    def __init__(
        self,
        *,
        call: Call,
        conversation: LineEngine,
        clock: CallClock,
        journal: CallJournal,
        listener: Listener,
        speaker: AgentSpeaker,
        turns: TurnLoop,
        ending: CallEnding,
        control: CallControl,
        open_spool: Callable[[], AudioSpool],
        pacer: InboundPacer | None = None,
        max_call_seconds: int | None = None,
    ) -> None:
        self.call = call
        self.conversation = conversation
        self.clock = clock
        self.journal = journal
        self.listener = listener
        self.speaker = speaker
        self.turns = turns
        self.ending = ending
        self._control = control
        self._open_spool = open_spool
        self._pacer = pacer or InboundPacer.from_settings()
        self._max_dropped_ms = settings.STELLAR_INBOUND_AUDIO_MAX_DROPPED_SECONDS * 1000
        self._flooding: asyncio.Task[None] | None = None  # ending a stream far ahead
        self._keys = KeyPacer()
        if max_call_seconds is None:
            max_call_seconds = settings.STELLAR_MAX_CALL_SECONDS
        self._max_call_ms = max_call_seconds * 1000
        self._spool_full_noted = False
        self.errors: Counter[str] = Counter()
        self.stream_sid = ""
        self.started = False
        self.closed = False
        self._spool: AudioSpool | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_heartbeat = time.monotonic()

    @property
    def call_sid(self) -> str:
        return self.call.call_sid

    @property
    def monitor(self) -> MonitorFeed:
        return self.journal.monitor

    def count_error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        metrics.FRAMES_DROPPED.labels(kind).inc()
        if self.errors[kind] <= 3:
            logger.warning("call %s: bad input %s %s", self.call.call_sid, kind, detail[:200])

    def _agent_frame(self, at_ms: int, frame: bytes) -> None:
        self._record(AGENT, at_ms, frame)
        self.monitor.audio("agent", at_ms, frame)

    def _record(self, track: int, at_ms: int, payload: bytes) -> None:
        """Into the spool, which stops growing at its cap (noted once on the timeline)."""
        if self._spool is None:
            return
        self._spool.write(track, at_ms, payload)
        if self._spool.full and not self._spool_full_noted:
            self._spool_full_noted = True
            metrics.CALL_LIMITS.labels("spool_bytes").inc()
            self.journal.event(
                "limit",
                "The call's audio spool reached its size limit: the rest is not recorded",
                limit="max_spool_bytes",
                at_ms=at_ms,
            )

    async def _end_flooding_stream(self) -> None:
        """A stream far ahead of real time is no phone (Twilio sends at real time): end it now,
        and its backlog is then ignored as it drains."""
        metrics.CALL_LIMITS.labels("inbound_audio_rate").inc()
        self.journal.event(
            "limit",
            "The stream sent audio far faster than real time and was ended",
            limit="inbound_audio_rate",
            dropped_ms=int(self._pacer.dropped_ms),
        )
        await self.close("The stream sent audio faster than real time")
        await self.ending.hang_up()

    async def _end_when_too_long(self) -> None:
        """At STELLAR_MAX_CALL_SECONDS the agent says goodbye and the call ends."""
        await asyncio.sleep(max(0, self._max_call_ms - self.clock.ms()) / 1000)
        metrics.CALL_LIMITS.labels("call_seconds").inc()
        self.journal.event(
            "limit",
            f"The call reached its maximum length ({self._max_call_ms // 1000} s) and was ended",
            limit="max_call_seconds",
            at_ms=self.clock.ms(),
        )
        self.turns.stop()  # no more turns: the goodbye is the last line
        await self.speaker.clear()
        await self.speaker.say_line(CALL_TOO_LONG, kind="limit", end_call=True)
        await asyncio.sleep(HANG_UP_GRACE_SECONDS)  # its mark never came back: end it anyway
        await self.ending.hang_up()

    # ---- the stream ----------------------------------------------------------------------
    async def start(self, *, stream_sid: str, custom_parameters: dict[str, Any]) -> None:
        self.stream_sid = stream_sid
        self.started = True
        metrics.ACTIVE_CALLS.inc()
        metrics.CALLS_STARTED.inc()
        if self.call.connector_id is not None:  # its capacity lease, refreshed while it lives
            PROCESS_LOAD.call_started(
                CallLease(self.call.call_sid, self.call.connector_id, self.call.workspace_id)
            )
        if self.call.answered_at is None:
            self.clock.start()
        else:  # a reconnected stream continues the call clock
            answered = (timezone.now() - self.call.answered_at).total_seconds()
            self.clock.start(answered_seconds_ago=answered)
            self.listener.in_ms = self.clock.ms()
        self._pacer.start(self.clock.ms())
        self._spool = self._open_spool()
        self.speaker.start(stream_sid, self._agent_frame)
        self._tasks += [
            asyncio.create_task(self.speaker.play(), name="sender"),
            asyncio.create_task(self.turns.run(), name="turns"),
            asyncio.create_task(self.turns.watch_silence(), name="silence"),
            asyncio.create_task(self._end_when_too_long(), name="max-length"),
        ]
        self.journal.submit(
            services.call_mark_stream_started,
            call=self.call,
            stream_sid=stream_sid,
            custom_parameters=custom_parameters,
        )
        handover = HandoverState.of(self.call)
        if handover is not None and handover.status == HandoverStatus.FAILED:
            self.journal.submit(self._control.mark_reconnected, call_id=self.call.pk)
            await self.speaker.say_line(TRANSFER_DID_NOT_GO_THROUGH, kind="reconnect")
        else:
            await self.speaker.say_line(self.conversation.greeting(), kind="greeting")
        # The version's other fixed lines, in the background, once the greeting is rendered.
        self.speaker.prerender(self.conversation.fixed_lines())

    def caller_audio(self, ulaw: bytes, timestamp_ms: int | None = None) -> None:
        """Audio that runs ahead of real time, or past the call's length cap, is dropped and
        counted: never spooled, monitored or fed to the speech models."""
        if self.closed:
            return
        at_ms = self.listener.in_ms
        if at_ms >= self._max_call_ms:
            self.count_error("call_too_long")
            return
        if not self._pacer.admit(ulaw, self.clock.ms()):
            self.count_error("audio_ahead_of_real_time")
            if self._pacer.dropped_ms > self._max_dropped_ms and self._flooding is None:
                self._flooding = asyncio.create_task(self._end_flooding_stream())
            return
        self._record(CALLER, at_ms, ulaw)
        self.monitor.audio("caller", at_ms, ulaw)
        for heard in self.listener.hear(ulaw, timestamp_ms):
            try:
                self.turns.heard(heard)
            except asyncio.QueueFull:
                self.count_error("turn_queue_full")
            self.turns.anticipate(heard)
        if time.monotonic() - self._last_heartbeat > HEARTBEAT_SECONDS:
            self._last_heartbeat = time.monotonic()
            self.journal.submit(services.call_heartbeat, call_id=self.call.pk)

    def caller_pressed(self, digit: str) -> None:
        if self.closed:
            return
        if not self._keys.admit(self.clock.ms()):
            self.count_error("dtmf_too_fast")
            return
        self.journal.event(
            "dtmf", f"Caller pressed {digit}", digit=digit, at_ms=self.listener.in_ms
        )
        if self.started:
            try:
                self.turns.put(KeyPress(digit))
            except asyncio.QueueFull:
                self.count_error("turn_queue_full")

    def mark_played(self, name: str) -> None:
        utt = self.speaker.mark_received(name)
        if utt is None:
            return
        self.turns.utterance_done(utt)
        if utt.end_call and not utt.cancelled:
            asyncio.create_task(self.ending.finish(utt.ending))

    async def hang_up(self) -> None:
        await self.ending.hang_up()

    # ---- intervene -----------------------------------------------------------------------
    async def take_over(
        self, *, by: str, action: dict[str, Any] | None, destination: str | None
    ) -> tuple[bool, str]:
        """A supervisor hands the caller to a human now: a short line, then the handover."""
        if not self.started or self.closed or not self.speaker.started:
            return False, "The call's media stream is not active."
        if action is None:
            if not destination:
                return False, "Choose a handover action or a phone number."
            action = supervisor_action(destination)
        self.journal.event(
            "take_over",
            f"{by} took over the call",
            by=by,
            action=action.get("name"),
            destination=action.get("destination", ""),
        )
        await self.turns.cut_for_take_over()
        try:
            self.turns.put(TakeOver(action, by))
        except asyncio.QueueFull:
            return False, "The call is busy; try again in a moment."
        return True, "Transferring the caller."

    # ---- end -----------------------------------------------------------------------------
    async def close(self, reason: str, *, stopped_by_twilio: bool = False) -> None:
        """End of the stream. A `stop` we did not cause means the caller hung up (or a REST
        transfer took the call, which services.call_stream_ended tells apart)."""
        if self.closed:
            return
        self.closed = True
        if self.speaker.started:
            # What the agent was saying when the call ended goes on record as far as it was
            # heard, with its turn's timing: before the tasks go, while their state is whole.
            self.turns.cut_off(self.speaker.stop())
        self.turns.stop()
        for task in self._tasks:
            task.cancel()
        if self._spool is not None:
            self._spool.close()
            # Many hosts, no shared disk: this host's part goes to the object store before
            # the end is recorded below (which triggers finalizing). A no-op on one machine.
            await ship_at_stream_end(self.call.pk)
        if self.started:
            metrics.ACTIVE_CALLS.dec()
            PROCESS_LOAD.call_ended(self.call.call_sid)
            self.monitor.ended(reason)
            self._note_line_quality()
            self.journal.save_conversation(self.conversation.state())
            self.journal.submit(
                services.call_stream_ended,
                call=self.call,
                reason=reason,
                input_errors=dict(self.errors),
                caller_hung_up=stopped_by_twilio,
            )
        elif self.errors:
            self.journal.submit(
                services.call_count_input_errors, call_id=self.call.pk, errors=dict(self.errors)
            )
        await self.journal.drain()

    def _note_line_quality(self) -> None:
        """The stream's line quality on the timeline, for the call page and troubleshooting."""
        quality = self.listener.line.summary()
        message = f"Line quality: {quality['verdict']}"
        if quality["reasons"]:
            message += " (" + "; ".join(quality["reasons"]) + ")"
        self.journal.event("line_quality", message, **quality)
