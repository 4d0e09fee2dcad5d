"""A live call: Twilio media-stream events in, the conversation engine, agent audio out."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from agents.engine import AgentTurn, Conversation
from agents.speech.endpointer import Endpointer, SpeechStarted, UtteranceEnded
from agents.speech.registry import get_stt, get_vad
from handovers.executor import handover_mark_reconnected, handover_request

from . import services
from .audio.codec import FRAME_BYTES, ulaw_to_pcm16
from .models import Call, Speaker
from .outbound import PacedSender, Utterance
from .persistence import Persister
from .speech_render import render_frames
from .spool import CALLER, CallSpool

logger = logging.getLogger(__name__)

MAX_MEDIA_BYTES = FRAME_BYTES * 10
TRANSFER_DID_NOT_GO_THROUGH = (
    "I'm sorry, the transfer did not go through. Is there anything else I can help you with?"
)
HEARTBEAT_SECONDS = 10.0
SPEECH_POOL = ThreadPoolExecutor(
    max_workers=getattr(settings, "STELLAR_SPEECH_THREADS", 2), thread_name_prefix="speech"
)


class CallSession:
    """Protocol-free call logic; the consumer translates websocket frames into these calls."""

    def __init__(self, *, call: Call, send: Callable[[dict], Awaitable[None]], hangup):
        self.call = call
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
        self._turns: asyncio.Queue[UtteranceEnded | None] = asyncio.Queue()
        self._persist = Persister(call.call_sid)
        self._endpointer = Endpointer(get_vad().new_stream())
        self._last_heartbeat = time.monotonic()
        self.conversation = Conversation(
            call.agent_snapshot or {},
            call_context={"from": call.from_number, "to": call.to_number, **call.ivr_params},
        )

    # ---- clock -------------------------------------------------------------------------
    def clock_ms(self, at: float | None = None) -> int:
        loop_time = asyncio.get_running_loop().time() if at is None else at
        return int((loop_time - self._t0) * 1000)

    def count_error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        if self.errors[kind] <= 3:
            logger.warning("call %s: bad input %s %s", self.call.call_sid, kind, detail[:200])

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
            self.count_error("start_call_sid_mismatch", start.get("callSid", ""))
            await self._hangup()
            return
        self.stream_sid = str(msg.get("streamSid") or start.get("streamSid") or "")[:64]
        custom = start.get("customParameters") or {}
        self.started = True
        self._t0 = asyncio.get_running_loop().time()
        if self.call.answered_at is not None:  # a reconnected stream continues the call clock
            self._t0 -= (timezone.now() - self.call.answered_at).total_seconds()
            self._in_ms = self.clock_ms()
        self._spool = CallSpool(self.call.pk)
        self._sender = PacedSender(
            send=self._send, stream_sid=self.stream_sid, clock_ms=self.clock_ms, spool=self._spool
        )
        self._tasks.append(asyncio.create_task(self._sender.run(), name="sender"))
        self._tasks.append(asyncio.create_task(self._turn_loop(), name="turns"))
        self._persist.submit(
            services.call_mark_stream_started,
            call=self.call,
            stream_sid=self.stream_sid,
            custom_parameters=custom if isinstance(custom, dict) else {},
        )
        handover = (self.call.conversation or {}).get("handover") or {}
        if handover.get("status") == "failed":
            self._persist.submit(handover_mark_reconnected, call_id=self.call.pk)
            await self.say(TRANSFER_DID_NOT_GO_THROUGH, kind="reconnect")
        else:
            await self.say(self.conversation.greeting(), kind="greeting")

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
        self._persist.submit(
            services.call_event_add,
            call=self.call,
            kind="dtmf",
            message=f"Caller pressed {digit}",
            digit=digit,
            at_ms=self._in_ms,
        )

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
            asyncio.create_task(self._end_stream())

    # ---- speech ------------------------------------------------------------------------
    def _on_endpoint(self, event) -> None:
        if isinstance(event, SpeechStarted):
            if self._sender is not None and self._sender.speaking:
                asyncio.create_task(self.barge_in())
        elif isinstance(event, UtteranceEnded):
            self._turns.put_nowait(event)

    async def barge_in(self) -> None:
        assert self._sender is not None
        cut = self._sender.clear()
        if not cut:
            return
        await self._send({"event": "clear", "streamSid": self.stream_sid})
        for utt in cut:
            self._utterance_done(utt)

    async def say(self, text: str, *, kind: str = "reply", end_call: bool = False) -> Utterance:
        assert self._sender is not None
        utt = Utterance(text=text, end_call=end_call, meta={"kind": kind})
        self._sender.say(utt)
        voice = (self.call.agent_snapshot or {}).get("voice")
        loop = asyncio.get_running_loop()
        frames = await loop.run_in_executor(SPEECH_POOL, render_frames, text, voice)
        utt.feed(frames)
        utt.finish()
        return utt

    def _utterance_done(self, utt: Utterance) -> None:
        if utt.meta.get("recorded") or utt.start_ms is None:
            return
        utt.meta["recorded"] = True
        end_ms = utt.start_ms + utt.sent * 20
        heard = utt.heard_text()
        self.conversation.history.append({"role": "agent_heard", "text": heard})
        self._persist.submit(
            services.transcript_add,
            call=self.call,
            speaker=Speaker.AGENT,
            start_ms=utt.start_ms,
            end_ms=end_ms,
            text=utt.text if not utt.cancelled else heard or "…",
            interrupted=utt.cancelled,
        )

    async def _turn_loop(self) -> None:
        loop = asyncio.get_running_loop()
        stt = get_stt()
        while True:
            event = await self._turns.get()
            if event is None:
                return
            audio = np.asarray(event.audio, dtype=np.int16)
            try:
                text = await loop.run_in_executor(SPEECH_POOL, stt.transcribe, audio, 8000, None)
            except Exception:
                logger.exception("call %s: transcription failed", self.call.call_sid)
                continue
            text = (text or "").strip()
            if not text:
                continue
            self._persist.submit(
                services.transcript_add,
                call=self.call,
                speaker=Speaker.CALLER,
                start_ms=event.start_ms,
                end_ms=event.end_ms,
                text=text,
            )
            turn: AgentTurn = self.conversation.respond(text)
            self._persist.submit(
                services.call_event_add,
                call=self.call,
                kind="agent_turn",
                message=f"Agent chose {turn.label or 'a reply'}",
                caller_text=text,
                label=turn.label,
                score=round(turn.score, 3),
            )
            if turn.action and turn.action.get("type") == "handover":
                action = {k: v for k, v in turn.action.items() if k != "type"}
                self._persist.submit(
                    handover_request,
                    call_id=self.call.pk,
                    action=action,
                    reason=f"Caller said: {text}",
                )
                await self.say(turn.text, kind="handover", end_call=True)
            elif turn.text:
                await self.say(turn.text, end_call=turn.end_call)
            self._persist.submit(
                services.call_save_conversation,
                call_id=self.call.pk,
                state=self.conversation.state(),
            )

    # ---- end ---------------------------------------------------------------------------
    async def _end_stream(self) -> None:
        """Close the stream after the last words played; state is written first."""
        await self._persist.flush()
        await self._hangup()

    async def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self._turns.put_nowait(None)
        for task in self._tasks:
            task.cancel()
        if self._spool is not None:
            self._spool.close()
        if self.started:
            self._persist.submit(
                services.call_stream_ended,
                call=self.call,
                reason=reason,
                input_errors=dict(self.errors),
            )
            self._persist.submit(
                services.call_save_conversation,
                call_id=self.call.pk,
                state=self.conversation.state(),
            )
        await self._persist.drain()
