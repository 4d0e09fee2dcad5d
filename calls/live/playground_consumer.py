"""The Playground websocket: /v1/live/playground/<session token>.

The browser plays Twilio: it sends the Media Streams events (connected, start, media with
base64 μ-law 8 kHz 20 ms frames, mark, stop) and receives media, mark and clear. So this is
MediaStreamConsumer with a different door (a signed session token and the signed-in member
instead of Twilio's signature) and a different end: the browser stops, or the agent hangs
up or hands over (shown, not dialled), and the session is closed like a finished call.

Besides the Twilio events the browser also receives what a listener would see, directly:
{"event": "transcript", speaker, text, start_ms, end_ms, interrupted},
{"event": "activity", kind, message} and, last, {"event": "ended", kind, detail}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

from calls.live.access_events import member_group
from calls.live.playground import (
    playground_call_for,
    playground_ending,
    playground_may_run,
    playground_session_end,
)
from calls.runtime.monitor import GroupSender, MonitorFeed
from calls.runtime.setup import call_context_for
from calls.twilio.media_stream import MediaStreamConsumer

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403

_call_for = database_sync_to_async(playground_call_for)
_context_for = database_sync_to_async(call_context_for)
_ending = database_sync_to_async(playground_ending)
_session_end = database_sync_to_async(playground_session_end)
_may_run = database_sync_to_async(playground_may_run)


class PlaygroundFeed(MonitorFeed):
    """The monitor feed, plus the transcript and activity straight to the Playground page."""

    def __init__(
        self,
        call_id: int,
        channel_layer: GroupSender | None,
        deliver: Callable[[dict[str, Any]], None],
    ):
        super().__init__(call_id, channel_layer)
        self._deliver = deliver

    def transcript(self, **segment: Any) -> None:
        self._deliver({"event": "transcript", **segment})
        super().transcript(**segment)

    def event(self, kind: str, message: str) -> None:
        self._deliver({"event": "activity", "kind": kind, "message": message})
        super().event(kind, message)


class PlaygroundConsumer(MediaStreamConsumer):
    _end_reason = ""
    _ended = False

    async def connect(self) -> None:
        token = self.scope["url_route"]["kwargs"]["token"]
        call = await _call_for(token=token, user=self.scope.get("user"))
        if call is None:
            logger.info("playground refused: bad token, other user, or session over")
            await self.close(code=CLOSE_FORBIDDEN)
            return
        context = await _context_for(call)
        # The page sees what a listener would; supervisors can still listen like to any call.
        monitor = PlaygroundFeed(call.pk, self.channel_layer, self._deliver)
        await self._open(call, context, hangup=self._agent_hung_up, monitor=monitor)
        if self.session is not None:
            self.user_group = member_group(self.scope["user"].pk)
            await self.channel_layer.group_add(self.user_group, self.channel_name)

    async def access_changed(self, message: dict[str, Any]) -> None:
        """The member's membership changed (calls.live.access_events): still allowed?"""
        if self.session is None or self._ended:
            return
        if not await _may_run(user=self.scope.get("user"), call=self.session.call):
            self._end_reason = "Your role no longer allows this Playground session"
            await self.close(code=CLOSE_FORBIDDEN)

    def _deliver(self, message: dict[str, Any]) -> None:
        asyncio.create_task(self._send_quietly(message))

    async def _send_quietly(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # the page is gone: nothing to show it to
            await self._send_json(message)

    async def _stream_stopped(self) -> None:
        """The browser's `stop`: the session ends when the socket closes (disconnect)."""
        self._end_reason = "Stopped in the Playground"
        await self.close()

    async def _agent_hung_up(self) -> None:
        """The agent ended the call or handed it over: tell the page, then end the session."""
        assert self.session is not None
        ending = await _ending(call_id=self.session.call.pk)
        self._end_reason = ending["detail"]
        await self._send_json({"event": "ended", **ending})
        await self.close()

    async def disconnect(self, code: int) -> None:
        if self.session is not None:
            await self.channel_layer.group_discard(self.user_group, self.channel_name)
        await super().disconnect(code)  # closes the CallSession: stream end persisted
        if self.session is None or self._ended:
            return
        self._ended = True
        reason = self._end_reason or f"The browser left the Playground ({code})"
        try:
            await _session_end(call_id=self.session.call.pk, reason=reason)
        except Exception:
            logger.exception("playground call %s: ending failed", self.session.call.call_sid)

    async def _send_json(self, message: dict[str, Any]) -> None:
        if not self._ended:
            await self.send(text_data=json.dumps(message, separators=(",", ":")))
