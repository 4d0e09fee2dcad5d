"""A live call: Twilio media-stream events in, the conversation engine, agent audio out.

Everything here runs on the event loop and never touches the ORM directly: speech models run
in a thread pool, database writes go through the call's ordered Persister.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from django.utils import timezone

from agents.engine import (
    ActionRan,
    CallContext,
    Conversation,
    Decision,
    EndCall,
    Handover,
    Speak,
)
from agents.speech.endpointer import (
    CALL_ENDPOINTING,
    Endpointer,
    SpeechPaused,
    SpeechStarted,
    UtteranceEnded,
)
from agents.speech.registry import get_stt, get_vad
from calls import services
from calls.live.monitor import MonitorFeed
from calls.models import Call, Speaker
from calls.recordings.spool import AGENT, CALLER, CallSpool
from calls.runtime.outbound import PacedSender, Utterance
from calls.runtime.persistence import Persister
from calls.runtime.speech_render import (
    PRERENDER_POOL,
    SPEECH_POOL,
    cached_frames,
    prerender,
    render_stream,
)
from calls.twilio.handover import handover_mark_reconnected, handover_request
from stellar.kernel import metrics
from stellar.kernel.audio import FRAME_BYTES, ulaw_to_pcm16

logger = logging.getLogger(__name__)

MAX_MEDIA_BYTES = FRAME_BYTES * 10
HEARTBEAT_SECONDS = 10.0
SILENCE_TIMEOUT_SECONDS = 8.0
SILENCE_REPROMPTS = 2
TAKE_OVER_LINE = "Please hold, I'm connecting you with a colleague."
TRANSFER_DID_NOT_GO_THROUGH = (
    "I'm sorry, the transfer did not go through. Is there anything else I can help you with?"
)


class CallSession:
    """Protocol-free call logic; the consumer translates websocket frames into these calls."""

    def __init__(
        self,
        *,
        call: Call,
        context: CallContext,
        send: Callable[[dict], Awaitable[None]],
        hangup: Callable[[], Awaitable[None]],
        channel_layer=None,
    ):
        self.call = call
        self.monitor = MonitorFeed(call.pk, channel_layer)
        self._send = send
        self._hangup = hangup
        self.errors: Counter[str] = Counter()
        self.stream_sid = ""
        self.started = False
        self.closed = False
        self._t0 = 0.0
        self._in_ms = 0
        self._spool: CallSpool | None = None
        self._sender: PacedSender | None = None
        self._tasks: list[asyncio.Task] = []
        self._inputs: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()
        self._persist = Persister(call.call_sid)
        self._endpointer = Endpointer(get_vad().new_stream(), CALL_ENDPOINTING)
        self._last_heartbeat = time.monotonic()
        self._speculative: tuple[int, asyncio.Future[str]] | None = None
        self._busy = False  # a turn is being answered
        self._speech_epoch = 0  # +1 each time the caller starts speaking
        self._unanswered = ""  # caller words whose answer was never heard (merged into the next)
        self._quiet_since = time.monotonic()
        self._silences = 0
        self.voice = (call.agent_snapshot or {}).get("voice")
        context.send_sms = self._send_sms
        self.conversation = Conversation(
            call.agent_snapshot or {}, context, state=call.conversation or {}
        )
        self._stt_prompt = self.conversation.vocabulary_prompt() or None
        self.turn_latencies: list[float] = []

    # ---- clock & bookkeeping -----------------------------------------------------------
    def clock_ms(self, at: float | None = None) -> int:
        loop_time = asyncio.get_running_loop().time() if at is None else at
        return int((loop_time - self._t0) * 1000)

    def count_error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        metrics.FRAMES_DROPPED.labels(kind).inc()
        if self.errors[kind] <= 3:
            logger.warning("call %s: bad input %s %s", self.call.call_sid, kind, detail[:200])

    def _event(self, kind: str, message: str, **data: Any) -> None:
        self._persist.submit(
            services.call_event_add, call=self.call, kind=kind, message=message, **data
        )
        self.monitor.event(kind, message)

    def _segment(self, **segment: Any) -> None:
        """A transcript line: stored at the turn boundary and shown to live listeners."""
        self._persist.submit(services.transcript_add, call=self.call, **segment)
        self.monitor.transcript(**segment)

    def _agent_frame(self, at_ms: int, frame: bytes) -> None:
        if self._spool is not None:
            self._spool.write(AGENT, at_ms, frame)
        self.monitor.audio("agent", at_ms, frame)

    # ---- Twilio events -----------------------------------------------------------------
    async def on_start(self, msg: dict[str, Any]) -> None:
        if self.started:
            self.count_error("second_start")
            return
        start = msg.get("start")
        if not isinstance(start, dict):
            self.count_error("bad_start")
            return
        if start.get("callSid") and start["callSid"] != self.call.call_sid:
            self.count_error("start_call_sid_mismatch", str(start.get("callSid")))
            await self._hangup()
            return
        self.stream_sid = str(msg.get("streamSid") or start.get("streamSid") or "")[:64]
        custom = start.get("customParameters")
        self.started = True
        metrics.ACTIVE_CALLS.inc()
        metrics.CALLS_STARTED.inc()
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        if self.call.answered_at is not None:  # a reconnected stream continues the call clock
            self._t0 -= (timezone.now() - self.call.answered_at).total_seconds()
            self._in_ms = self.clock_ms()
        self._spool = CallSpool(self.call.pk)
        self._sender = PacedSender(
            send=self._send,
            stream_sid=self.stream_sid,
            clock_ms=self.clock_ms,
            on_frame=self._agent_frame,
        )
        self._tasks += [
            asyncio.create_task(self._sender.run(), name="sender"),
            asyncio.create_task(self._input_loop(), name="turns"),
            asyncio.create_task(self._silence_watch(), name="silence"),
        ]
        self._persist.submit(
            services.call_mark_stream_started,
            call=self.call,
            stream_sid=self.stream_sid,
            custom_parameters=custom if isinstance(custom, dict) else {},
        )
        handover = (self.call.conversation or {}).get("handover") or {}
        if handover.get("status") == "failed":
            self._persist.submit(handover_mark_reconnected, call_id=self.call.pk)
            await self.say_line(TRANSFER_DID_NOT_GO_THROUGH, kind="reconnect")
        else:
            await self.say_line(self.conversation.greeting(), kind="greeting")
        # The version's other fixed lines, in the background, once the greeting is rendered.
        PRERENDER_POOL.submit(prerender, self.conversation.fixed_lines(), self.voice)

    def on_media(self, msg: dict[str, Any]) -> None:
        if not self.started:
            self.count_error("media_before_start")
            return
        media = msg.get("media")
        if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
            self.count_error("bad_media")
            return
        if media.get("track", "inbound") not in ("inbound", "inbound_track"):
            return
        try:
            ulaw = base64.b64decode(media["payload"], validate=True)
        except (binascii.Error, ValueError):
            self.count_error("bad_base64")
            return
        if not ulaw or len(ulaw) > MAX_MEDIA_BYTES:
            self.count_error("bad_media_size", str(len(ulaw)))
            return
        assert self._spool is not None
        self._spool.write(CALLER, self._in_ms, ulaw)
        self.monitor.audio("caller", self._in_ms, ulaw)
        pcm = ulaw_to_pcm16(ulaw)
        for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            for event in self._endpointer.feed(pcm[i : i + FRAME_BYTES], self._in_ms):
                self._on_endpoint(event)
            self._in_ms += 20
        if time.monotonic() - self._last_heartbeat > HEARTBEAT_SECONDS:
            self._last_heartbeat = time.monotonic()
            self._persist.submit(services.call_heartbeat, call_id=self.call.pk)

    def on_dtmf(self, msg: dict[str, Any]) -> None:
        dtmf = msg.get("dtmf")
        digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
        if not isinstance(digit, str) or len(digit) != 1 or digit not in "0123456789*#ABCD":
            self.count_error("bad_dtmf")
            return
        self._event("dtmf", f"Caller pressed {digit}", digit=digit, at_ms=self._in_ms)
        if self.started:
            self._inputs.put_nowait(("dtmf", digit))

    def on_mark(self, msg: dict[str, Any]) -> None:
        mark = msg.get("mark")
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str) or self._sender is None:
            self.count_error("bad_mark")
            return
        utt = self._sender.mark_received(name)
        if utt is None:
            return
        self._utterance_done(utt)
        if utt.end_call and not utt.cancelled:
            asyncio.create_task(self._finish_call(utt.meta.get("ending")))

    # ---- listening ---------------------------------------------------------------------
    def _on_endpoint(self, event) -> None:
        self._quiet_since = time.monotonic()
        if isinstance(event, SpeechStarted):
            self._silences = 0
            self._speech_epoch += 1
            if self._sender is not None and self._sender.speaking:
                asyncio.create_task(self.barge_in())
        elif isinstance(event, SpeechPaused):
            self._start_speculative_stt(event.audio)
        elif isinstance(event, UtteranceEnded):
            # On the call clock: now, minus the caller audio that followed the last voiced frame.
            now = self.clock_ms()
            voice_ended = now - (self._in_ms + 20 - event.end_ms)
            self._inputs.put_nowait(("utterance", (event, self._speech_epoch, now, voice_ended)))

    def _start_speculative_stt(self, audio: np.ndarray) -> None:
        """Transcribe during the trailing silence; reused if the caller stays silent."""
        if self._speculative is not None:
            self._speculative[1].cancel()  # an earlier pause the caller talked through
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            SPEECH_POOL, get_stt().transcribe, audio, 8000, self._stt_prompt
        )
        self._speculative = (len(audio), future)

    async def _transcribe(self, event: UtteranceEnded) -> str:
        audio = np.asarray(event.audio, dtype=np.int16)
        if self._speculative is not None and self._speculative[0] == len(audio):
            future = self._speculative[1]
        else:
            if self._speculative is not None:
                self._speculative[1].cancel()
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(
                SPEECH_POOL, get_stt().transcribe, audio, 8000, self._stt_prompt
            )
        self._speculative = None
        return ((await future) or "").strip()

    async def barge_in(self) -> None:
        assert self._sender is not None
        cut = self._sender.clear()
        if not cut:
            return
        await self._send({"event": "clear", "streamSid": self.stream_sid})
        self._event("barge_in", "Caller interrupted the agent", at_ms=self._in_ms)
        for utt in cut:
            if utt.heard_frames == 0 and utt.meta.get("caller_text"):
                self._unanswered = f"{utt.meta['caller_text']} {self._unanswered}".strip()
            self._utterance_done(utt)

    # ---- speaking ----------------------------------------------------------------------
    async def _render_into(self, utt: Utterance, text: str) -> None:
        """Feed `text` into the utterance as it renders: cached lines at once, others sentence
        by sentence from the TTS thread."""
        utt.text = f"{utt.text} {text}".strip()
        found = cached_frames(text, self.voice)
        if found is not None:
            utt.feed(list(found))
            return
        loop = asyncio.get_running_loop()

        def feed(frames: list[bytes]) -> None:
            loop.call_soon_threadsafe(utt.feed, frames)

        await loop.run_in_executor(SPEECH_POOL, render_stream, text, self.voice, feed)

    async def say_line(self, text: str, *, kind: str, end_call: bool = False) -> Utterance:
        assert self._sender is not None
        utt = Utterance(text="", end_call=end_call, meta={"kind": kind})
        self._sender.say(utt)
        await self._render_into(utt, text)
        utt.finish()
        return utt

    def _utterance_done(self, utt: Utterance) -> None:
        if utt.meta.get("recorded") or utt.start_ms is None:
            return
        utt.meta["recorded"] = True
        heard = utt.heard_text()
        self.conversation.agent_heard(heard, interrupted=utt.cancelled)
        self._quiet_since = time.monotonic()
        if utt.meta.get("timing"):
            self._record_turn_timing(utt.meta["timing"], utt.start_ms)
        self._segment(
            speaker=Speaker.AGENT,
            start_ms=utt.start_ms,
            end_ms=utt.start_ms + utt.heard_frames * 20,
            text=utt.text if not utt.cancelled else (heard or "…"),
            interrupted=utt.cancelled,
        )

    def _record_turn_timing(self, timing: dict[str, Any], first_frame_ms: int) -> None:
        """Caller stops speaking → first agent frame, and where the time went."""
        total = first_frame_ms - timing["caller_end_ms"]
        self.turn_latencies.append(total)
        metrics.TURN_LATENCY.observe(total / 1000)
        self._event(
            "turn_timing",
            f"Answered {total} ms after the caller stopped speaking",
            total_ms=total,
            endpoint_ms=timing["endpointed_ms"] - timing["caller_end_ms"],
            stt_wait_ms=timing["transcribed_ms"] - timing["endpointed_ms"],
            speculative_stt=timing["speculative_stt"],
            brain_ms=timing.get("decided_ms", first_frame_ms) - timing["transcribed_ms"],
            tts_first_ms=first_frame_ms - timing.get("decided_ms", first_frame_ms),
        )

    # ---- turns -------------------------------------------------------------------------
    async def _input_loop(self) -> None:
        while True:
            item = await self._inputs.get()
            if item is None:
                return
            kind, value = item
            self._busy = True
            try:
                if kind == "utterance":
                    await self._caller_turn(*value)
                elif kind == "dtmf":
                    await self._run_turn(self.conversation.dtmf(value), kind="dtmf")
                elif kind == "take_over":
                    action, by = value
                    await self._run_events(
                        [Speak(TAKE_OVER_LINE), Handover(action, reason=f"Taken over by {by}")],
                        "take_over",
                    )
                elif kind == "silence":
                    await self._run_events(self.conversation.silence_turn(*value), "silence")
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("call %s: turn failed", self.call.call_sid)
                await self.say_line("Sorry, something went wrong on my side.", kind="error")
            finally:
                self._busy = False
                self._quiet_since = time.monotonic()

    async def _caller_turn(
        self, event: UtteranceEnded, epoch: int, ended_ms: int, voice_ended_ms: int
    ) -> None:
        speculative = self._speculative is not None and self._speculative[0] == len(event.audio)
        try:
            heard = await self._transcribe(event)
        except Exception:
            logger.exception("call %s: transcription failed", self.call.call_sid)
            return
        if not heard:
            return
        text = f"{self._unanswered} {heard}".strip()
        self._unanswered = ""
        if self._speech_epoch != epoch:
            # The caller is already talking again: this was a pause, not the end of the turn.
            self._unanswered = text
            text = ""
        self._segment(
            speaker=Speaker.CALLER,
            start_ms=event.start_ms,
            end_ms=event.end_ms,
            text=heard,
        )
        if text:
            timing = {
                "caller_end_ms": voice_ended_ms,
                "endpointed_ms": ended_ms,
                "transcribed_ms": self.clock_ms(),
                "speculative_stt": speculative,
            }
            await self._run_turn(
                self.conversation.turn(text), kind="reply", caller_text=text, timing=timing
            )

    async def _run_events(self, events, kind: str) -> None:
        async def gen():
            for event in events:
                yield event

        await self._run_turn(gen(), kind=kind)

    async def _run_turn(
        self,
        events,
        *,
        kind: str,
        caller_text: str = "",
        timing: dict[str, Any] | None = None,
    ) -> None:
        """Carry out a turn's events in order; one utterance (and one mark) per turn."""
        assert self._sender is not None
        utt: Utterance | None = None
        ending: Handover | EndCall | None = None
        async for event in events:
            if isinstance(event, Speak):
                if utt is None:
                    if timing is not None:
                        timing["decided_ms"] = self.clock_ms()
                    meta = {"kind": kind, "timing": timing, "caller_text": caller_text}
                    utt = Utterance(text="", meta=meta)
                    self._sender.say(utt)
                await self._render_into(utt, event.text)
            elif isinstance(event, Decision):
                self._event(
                    "agent_turn",
                    f"Agent chose {event.label}",
                    label=event.label,
                    score=event.score,
                    brain=event.brain,
                )
            elif isinstance(event, ActionRan):
                self._event(
                    "action",
                    f"Action {event.name}: {event.outcome or ('ok' if event.ok else 'failed')}",
                    action=event.name,
                    action_kind=event.kind,
                    ok=event.ok,
                    duration_ms=event.duration_ms,
                    inputs=event.inputs,
                )
            elif isinstance(event, Handover | EndCall):
                ending = event
        self._persist.submit(
            services.call_save_conversation, call_id=self.call.pk, state=self.conversation.state()
        )
        if utt is None:
            if ending is not None:
                await self._finish_call(ending)
            return
        utt.meta["ending"] = ending
        utt.end_call = ending is not None
        utt.finish()

    async def _silence_watch(self) -> None:
        snapshot = self.call.agent_snapshot or {}
        timeout = float(snapshot.get("silence_timeout_seconds") or SILENCE_TIMEOUT_SECONDS)
        limit = int(snapshot.get("silence_reprompts", SILENCE_REPROMPTS))
        while True:
            await asyncio.sleep(0.5)
            idle = (
                not self._busy
                and not self._endpointer.in_speech
                and self._sender is not None
                and not self._sender.speaking
            )
            if not idle:
                self._quiet_since = max(self._quiet_since, time.monotonic() - 0.5)
                continue
            if time.monotonic() - self._quiet_since >= timeout:
                self._silences += 1
                self._quiet_since = time.monotonic()
                self._inputs.put_nowait(("silence", (self._silences, limit)))

    async def _send_sms(self, to: str, body: str) -> str:
        from connectors.twilio_client import twilio_client_for

        def send() -> str:
            client = twilio_client_for(self.call.connector)
            return client.messages.create(to=to, from_=self.call.to_number, body=body).sid

        return await asyncio.get_running_loop().run_in_executor(None, send)

    # ---- intervene ---------------------------------------------------------------------
    async def take_over(
        self, *, by: str, action: dict[str, Any] | None, destination: str | None
    ) -> tuple[bool, str]:
        """A supervisor hands the caller to a human now: a short line, then the handover."""
        if not self.started or self.closed or self._sender is None:
            return False, "The call's media stream is not active."
        if action is None:
            if not destination:
                return False, "Choose a handover action or a phone number."
            action = {
                "name": "supervisor_take_over",
                "kind": "phone",
                "destination": destination,
                "caller_id": "",
                "ring_timeout": 30,
                "fallback": "hangup",
            }
        self._event(
            "take_over",
            f"{by} took over the call",
            by=by,
            action=action.get("name"),
            destination=action.get("destination", ""),
        )
        await self.barge_in()
        self._inputs.put_nowait(("take_over", (action, by)))
        return True, "Transferring the caller."

    # ---- end ---------------------------------------------------------------------------
    async def _finish_call(self, ending: Handover | EndCall | None) -> None:
        """After the last words played: record the handover or hang-up, then close the stream.

        The handover is stored only now, so a line the caller talked over never transfers.
        """
        if isinstance(ending, Handover):
            self._persist.submit(
                handover_request, call_id=self.call.pk, action=ending.action, reason=ending.reason
            )
            target = ending.action.get("destination") or ending.action.get("name", "")
            self.monitor.event("handover_chosen", f"Handing the caller over to {target}")
        elif isinstance(ending, EndCall):
            self._event("end_call", ending.reason or "Agent ended the call")
        await self._persist.flush()
        await self._hangup()

    async def close(self, reason: str, *, stopped_by_twilio: bool = False) -> None:
        """End of the stream. A `stop` we did not cause means the caller hung up (or a REST
        transfer took the call, which services.call_stream_ended tells apart)."""
        if self.closed:
            return
        self.closed = True
        self._inputs.put_nowait(None)
        for task in self._tasks:
            task.cancel()
        if self._spool is not None:
            self._spool.close()
        if self.started:
            metrics.ACTIVE_CALLS.dec()
            self.monitor.ended(reason)
            self._persist.submit(
                services.call_save_conversation,
                call_id=self.call.pk,
                state=self.conversation.state(),
            )
            self._persist.submit(
                services.call_stream_ended,
                call=self.call,
                reason=reason,
                input_errors=dict(self.errors),
                caller_hung_up=stopped_by_twilio,
            )
        elif self.errors:
            self._persist.submit(
                services.call_count_input_errors, call_id=self.call.pk, errors=dict(self.errors)
            )
        await self._persist.drain()
