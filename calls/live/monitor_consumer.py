"""A supervisor's websocket on a live call: /v1/live/calls/<call_id> (Listen & intervene).

Speaks the calls.runtime.monitor protocol with the call's process over the channel layer (the call
may run on another Daphne process) and plain JSON with the browser:

server → browser  {"type": "snapshot", "call": {...}, "segments": [...], "can_take_over",
                   "handover_actions": [...]}, then every monitor.* message as it comes
                   (monitor.audio payloads stay base64 μ-law, plus "delay_ms": how long
                   ago the call's process heard its newest frame, and "dropped_ms": audio this
                   listener lost so far by falling behind), and
                  {"type": "take_over.result", "ok", "path": "live"|"rest"|"none", "detail"},
                  {"type": "access.changed", "can_take_over"} when the member's role changed,
                  {"type": "access.removed", "reason"} (then close 4403) when they left
browser → server  {"action": "take_over", "handover": <name>|null, "destination": <+E164>|null}
                  and nothing else: any other message (audio included) is ignored and counted,
                  so a listener can never put sound into the call.

Each listener has its own bounded queue (calls.live.outbox): the channel-layer handlers only
queue, a writer task sends. A listener that falls behind drops its own oldest audio (counted,
and shown on its page). Audio that is late for everyone (the call's process itself behind) is
still sent: dropping it would turn a late line into silence without making the rest sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError

from calls.live.access_events import member_group
from calls.live.listen import (
    ListenAccess,
    listen_access,
    listen_snapshot,
    take_over_action,
    take_over_via_rest,
)
from calls.live.outbox import ListenerOutbox
from calls.runtime.monitor import control_group, monitor_group
from stellar.kernel import metrics

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
HEARTBEAT_SECONDS = 5.0  # calls.runtime.monitor.LISTENER_TTL is 15 s
TAKE_OVER_REPLY_SECONDS = 3.0
MAX_CLIENT_MESSAGE = 4096
ACCESS_REMOVED = "You are no longer a member of this call's workspace."

# channels ships no types: the wrappers are typed here as what the wrapped functions return.
_listen_access: Callable[..., Awaitable[ListenAccess | None]] = database_sync_to_async(
    listen_access
)
_snapshot: Callable[..., Awaitable[dict[str, Any]]] = database_sync_to_async(listen_snapshot)
# A REST request can take seconds: run it in a worker thread, not the shared ORM thread.
_take_over_via_rest: Callable[..., Awaitable[tuple[bool, str]]] = database_sync_to_async(
    take_over_via_rest, thread_sensitive=False
)


class MonitorConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # channels: untyped base
    access: ListenAccess | None = None
    ignored = 0
    _writer: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        call_id = self.scope["url_route"]["kwargs"]["call_id"]
        self.access = await _listen_access(user=self.scope.get("user"), call_id=call_id)
        if self.access is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.call_id = self.access.call.pk
        self.user_id = self.scope["user"].pk
        self.monitor_group = monitor_group(self.call_id)
        self.control_group = control_group(self.call_id)
        self._heartbeat: asyncio.Task[None] | None = None
        self._reply: asyncio.Future[tuple[bool, str]] | None = None
        self._take_over: asyncio.Task[None] | None = None
        self._outbox = ListenerOutbox()
        await self.accept()
        await self.channel_layer.group_add(self.monitor_group, self.channel_name)
        await self.channel_layer.group_add(member_group(self.user_id), self.channel_name)
        await self._announce("call.monitor_join")
        self._heartbeat = asyncio.create_task(self._beat())
        snapshot = await _snapshot(call_id=self.call_id)
        snapshot["can_take_over"] = self.access.can_take_over
        snapshot["handover_actions"] = [
            {"name": a["name"], "description": a.get("description", ""), **_where(a)}
            for a in self.access.handover_actions
        ]
        await self.send_json(snapshot)
        if not snapshot["call"]["live"]:
            await self.send_json({"type": "monitor.ended", "reason": "The call is not live."})
            await self.close()
            return
        # What the call sent meanwhile waits in the outbox (trimmed to the newest audio).
        self._writer = asyncio.create_task(self._write())

    async def _announce(self, kind: str) -> None:
        with contextlib.suppress(Exception):  # best effort: the heartbeat tries again
            await self.channel_layer.group_send(
                self.control_group, {"type": kind, "listener": self.channel_name}
            )

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self._announce("call.monitor_join")

    async def disconnect(self, code: int) -> None:
        if self.access is None:
            return
        for task in (self._heartbeat, self._take_over, self._writer):
            if task is not None:
                task.cancel()
        await self._announce("call.monitor_leave")
        await self.channel_layer.group_discard(self.monitor_group, self.channel_name)
        await self.channel_layer.group_discard(member_group(self.user_id), self.channel_name)

    # ---- browser → server ----------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = None
        if text_data is not None and len(text_data) <= MAX_CLIENT_MESSAGE:
            with contextlib.suppress(ValueError, RecursionError):
                message = json.loads(text_data)
        if not isinstance(message, dict) or message.get("action") != "take_over":
            self._ignore("not a take-over command")
            return
        access = await self._recheck()  # rights as of now, not as of connect
        if access is None:
            return
        if not access.can_take_over:
            await self._result(False, "none", "Your role cannot take over calls.")
            return
        if self._take_over is not None and not self._take_over.done():
            return
        handover, destination = message.get("handover"), message.get("destination")
        try:
            action, number = take_over_action(
                call=access.call,
                handover=handover if isinstance(handover, str) else None,
                destination=destination if isinstance(destination, str) else None,
            )
        except ValidationError as exc:
            await self._result(False, "none", " ".join(exc.messages))
            return
        # The reply arrives through this consumer's own dispatch loop: wait in a task.
        self._take_over = asyncio.create_task(
            self._run_take_over(action, number, by=access.username)
        )

    async def _recheck(self) -> ListenAccess | None:
        """Load the member's rights again; a member who lost them is sent away (socket closed)."""
        access = await _listen_access(user=self.scope.get("user"), call_id=self.call_id)
        if access is None:
            logger.info("listener on call %s lost access: closing", self.call_id)
            await self.send_json({"type": "access.removed", "reason": ACCESS_REMOVED})
            await self.close(code=CLOSE_FORBIDDEN)
            return None
        self.access = access
        return access

    async def access_changed(self, message: dict[str, Any]) -> None:
        """The member's membership changed somewhere (calls.live.access_events)."""
        access = await self._recheck()
        if access is not None:
            await self.send_json({"type": "access.changed", "can_take_over": access.can_take_over})

    def _ignore(self, why: str) -> None:
        self.ignored += 1
        if self.ignored <= 3:
            logger.info("listener on call %s: ignored a message (%s)", self.call_id, why)

    async def _run_take_over(
        self, action: dict[str, Any] | None, destination: str | None, *, by: str
    ) -> None:
        self._reply = asyncio.get_running_loop().create_future()
        await self.channel_layer.group_send(  # the call's process answers on reply_to
            self.control_group,
            {
                "type": "call.take_over",
                "by": by,
                "action": action,
                "destination": destination,
                "reply_to": self.channel_name,
            },
        )
        try:
            ok, detail = await asyncio.wait_for(self._reply, TAKE_OVER_REPLY_SECONDS)
            path = "live"
        except TimeoutError:
            logger.info("call %s: no answer from the call's process; REST transfer", self.call_id)
            try:
                ok, detail = await _take_over_via_rest(
                    call_id=self.call_id, by=by, action=action, destination=destination
                )
            except Exception:
                logger.exception("call %s: REST take-over failed", self.call_id)
                ok, detail = False, "The transfer failed; see the server log."
            path = "rest"
        finally:
            self._reply = None
        await self._result(ok, path, detail)

    async def _result(self, ok: bool, path: str, detail: str) -> None:
        await self.send_json({"type": "take_over.result", "ok": ok, "path": path, "detail": detail})

    # ---- call → server (channel layer) ---------------------------------------------------
    async def dispatch(self, message: dict[str, Any]) -> None:
        """The call's monitor.* messages go straight to this listener's queue, skipping
        Channels' per-message database cleanup.

        Channels runs close_old_connections before every handler: a hop through the one
        shared ORM thread for each message, which at 10 messages/s per listener queued the
        listeners' audio behind all database work of the process. Queueing needs no database;
        everything else (connect, take over, access) still gets the cleanup. A monitor.batch
        is several messages of the call at once (calls/runtime/monitor.py), in order.
        """
        kind = message.get("type")
        if kind in MONITOR_TYPES:
            self._queue(message)
        elif kind == "monitor.batch":
            for item in message.get("messages") or []:
                if isinstance(item, dict) and item.get("type") in MONITOR_TYPES:
                    self._queue(item)
        else:
            await super().dispatch(message)

    async def call_take_over_result(self, message: dict[str, Any]) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_result((bool(message.get("ok")), str(message.get("detail", ""))))

    def _queue(self, message: dict[str, Any]) -> None:
        """Never waits: this listener's backlog costs only this listener (its oldest audio)."""
        before = self._outbox.dropped_audio
        dropped = self._outbox.put(message)
        if dropped:
            metrics.MONITOR_LISTENER_DROPPED.inc(dropped)
            if before == 0 or before // 100 != self._outbox.dropped_audio // 100:  # 1st, 100th…
                logger.info(
                    "listener on call %s fell behind: %d audio messages (%d ms) dropped",
                    self.call_id,
                    self._outbox.dropped_audio,
                    self._outbox.dropped_ms,
                )

    async def _write(self) -> None:
        """Send this listener's queue in order, as fast as its socket takes it."""
        while True:
            message = await self._outbox.get()
            kind = message.get("type")
            if kind == "monitor.audio":
                message = self._with_delay(message)
            try:
                await self.send_json(message)
                if kind == "monitor.ended":
                    await self.close()
                    return
            except Exception as exc:  # the socket went away: disconnect() cleans up
                logger.debug("listener on call %s: send failed: %s", self.call_id, exc)
                return

    def _with_delay(self, message: dict[str, Any]) -> dict[str, Any]:
        """Add how far behind the call this audio is (from the call process's clock stamp)."""
        made = message.get("made_ms")
        out = {**message, "dropped_ms": self._outbox.dropped_ms}
        if isinstance(made, int | float):
            out["delay_ms"] = max(0, round(time.time() * 1000 - made))
        return out


MONITOR_TYPES = frozenset({"monitor.audio", "monitor.transcript", "monitor.event", "monitor.ended"})


def _where(action: dict[str, Any]) -> dict[str, Any]:
    """What the browser may show about a handover target (no secrets in handover actions)."""
    return {"destination": action.get("destination", ""), "kind": action.get("kind", "phone")}
