"""The Media Streams protocol: Twilio's text frames (or the Playground's, which speaks the same)
checked and turned into calls on the session; a bad frame is counted, never fatal."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from stellar.kernel.audio import FRAME_BYTES

logger = logging.getLogger(__name__)

MAX_MEDIA_BYTES = FRAME_BYTES * 10
INBOUND_TRACKS = ("inbound", "inbound_track")
DTMF_DIGITS = "0123456789*#ABCD"


class StreamHandler(Protocol):
    """The call side of the stream (calls.runtime.session.CallSession)."""

    @property
    def call_sid(self) -> str: ...

    @property
    def started(self) -> bool: ...

    @property
    def closed(self) -> bool: ...  # the call side ended: what is still queued is ignored

    def count_error(self, kind: str, detail: str = "") -> None: ...

    async def start(self, *, stream_sid: str, custom_parameters: dict[str, Any]) -> None: ...

    def caller_audio(self, ulaw: bytes, timestamp_ms: int | None = None) -> None: ...

    def caller_pressed(self, digit: str) -> None: ...

    def mark_played(self, name: str) -> None: ...

    async def hang_up(self) -> None: ...


class MediaStreamProtocol:
    """One stream's frames in: `connected`, `start`, `media`, `dtmf`, `mark` and `stop`."""

    def __init__(
        self,
        handler: StreamHandler,
        *,
        max_frame_bytes: int,
        on_stop: Callable[[], Awaitable[None]],
    ) -> None:
        self._handler = handler
        self._max_frame_bytes = max_frame_bytes
        self._on_stop = on_stop  # the other side ended the stream

    async def receive(self, text: str | None) -> None:
        """One websocket frame (None: a binary frame, which the protocol never sends)."""
        if self._handler.closed:
            return  # e.g. a flooding stream's backlog after it was ended: drained at no cost
        count_error = self._handler.count_error
        if text is None:
            count_error("binary_frame")
            return
        if len(text) > self._max_frame_bytes:
            count_error("oversized_frame", str(len(text)))
            return
        try:
            msg = json.loads(text)
        except (ValueError, RecursionError):
            count_error("malformed_json")
            return
        if not isinstance(msg, dict):
            count_error("not_an_object")
            return
        try:
            await self._dispatch(msg)
        except Exception:
            count_error("handler_error")
            logger.exception("call %s: error handling %s", self._handler.call_sid, msg.get("event"))

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        event = msg.get("event")
        if event == "media":
            self._media(msg)
        elif event == "start":
            await self._start(msg)
        elif event == "mark":
            self._mark(msg)
        elif event == "dtmf":
            self._dtmf(msg)
        elif event == "connected":
            return
        elif event == "stop":
            await self._on_stop()
        else:
            self._handler.count_error("unknown_event", str(event))

    async def _start(self, msg: dict[str, Any]) -> None:
        handler = self._handler
        if handler.started:
            handler.count_error("second_start")
            return
        start = msg.get("start")
        if not isinstance(start, dict):
            handler.count_error("bad_start")
            return
        if start.get("callSid") and start["callSid"] != handler.call_sid:
            handler.count_error("start_call_sid_mismatch", str(start.get("callSid")))
            await handler.hang_up()
            return
        custom = start.get("customParameters")
        await handler.start(
            stream_sid=str(msg.get("streamSid") or start.get("streamSid") or "")[:64],
            custom_parameters=custom if isinstance(custom, dict) else {},
        )

    def _media(self, msg: dict[str, Any]) -> None:
        if not self._handler.started:
            self._handler.count_error("media_before_start")
            return
        media = msg.get("media")
        if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
            self._handler.count_error("bad_media")
            return
        if media.get("track", "inbound") not in INBOUND_TRACKS:
            return
        try:
            ulaw = base64.b64decode(media["payload"], validate=True)
        except (binascii.Error, ValueError):
            self._handler.count_error("bad_base64")
            return
        if not ulaw or len(ulaw) > MAX_MEDIA_BYTES:
            self._handler.count_error("bad_media_size", str(len(ulaw)))
            return
        self._handler.caller_audio(ulaw, _timestamp_ms(media.get("timestamp")))

    def _dtmf(self, msg: dict[str, Any]) -> None:
        dtmf = msg.get("dtmf")
        digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
        if not isinstance(digit, str) or len(digit) != 1 or digit not in DTMF_DIGITS:
            self._handler.count_error("bad_dtmf")
            return
        self._handler.caller_pressed(digit)

    def _mark(self, msg: dict[str, Any]) -> None:
        mark = msg.get("mark")
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str) or not self._handler.started:
            self._handler.count_error("bad_mark")
            return
        self._handler.mark_played(name)


def _timestamp_ms(value: object) -> int | None:
    """The media timestamp (ms since the stream started, a decimal string): where the line
    quality meter sees lost packets. Optional, so a missing or odd one is just not used."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 10:
        return int(value)
    return None
