"""Live monitoring of a call (listen & intervene) over the channel layer.

The call's own consumer joins `control_group(call_id)`; supervisors' websockets (any process)
join `monitor_group(call_id)`. Protocol:

listener → call (control group)
  {"type": "call.monitor_join", "listener": <channel>}   also sent every few seconds as a
                                                         heartbeat; silence for LISTENER_TTL
                                                         means the listener is gone
  {"type": "call.monitor_leave", "listener": <channel>}
  {"type": "call.take_over", "by": <username>, "action": {handover action dict} | None,
   "destination": "+E164" | None, "reply_to": <channel>}
call → reply_to
  {"type": "call.take_over_result", "ok": bool, "detail": str}
call → listeners (monitor group)
  {"type": "monitor.audio", "track": "caller"|"agent", "at_ms": int, "payload": <b64 μ-law>,
   "made_ms": <epoch ms when its last frame reached this process: listeners' delay>}
  {"type": "monitor.transcript", "speaker", "text", "start_ms", "end_ms", "interrupted"}
  {"type": "monitor.event", "kind", "message"}
  {"type": "monitor.ended", "reason"}
  {"type": "monitor.batch", "messages": [<any of the above>, …]}

Fan-out is best-effort: nothing is sent while nobody listens, and the audio path never awaits
a send. Audio goes out in beats of the caller's AUDIO_BATCH_FRAMES frames, the agent's frames
of the moment along with them (one publish for both tracks). Each call has at most one send in flight; what the call produces meanwhile goes out
together in the next one (a monitor.batch), so a busy process sends fewer, larger messages
instead of queueing more. At most MAX_PENDING messages wait; past that the oldest audio is
dropped first (a transcript line or the end matters more than 200 ms of sound). Back-pressure
from each listener is handled on the listener's side (calls.live.outbox), never here.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any, Protocol

from stellar.kernel import metrics

logger = logging.getLogger(__name__)

LISTENER_TTL = 15.0
AUDIO_BATCH_FRAMES = 10  # 200 ms per caller monitor.audio message, 5 publishes/s per call
AGENT_ALONE_FRAMES = 2 * AUDIO_BATCH_FRAMES  # the agent track, when no caller audio flushes it
MAX_PENDING = 50  # ≈ 2.5 s of both tracks at 10 messages/s each


def monitor_group(call_id: int) -> str:
    return f"call-{call_id}-monitor"


def control_group(call_id: int) -> str:
    return f"call-{call_id}-control"


class GroupSender(Protocol):
    """The one channel-layer method the feed uses (Channels' layers are untyped)."""

    async def group_send(self, group: str, message: dict[str, Any]) -> None: ...


class MonitorFeed:
    def __init__(self, call_id: int, channel_layer: GroupSender | None):
        self.group = monitor_group(call_id)
        self._layer = channel_layer
        self._listeners: dict[str, float] = {}
        self._pending: list[dict[str, Any]] = []
        self._sender: asyncio.Task[None] | None = None
        self._audio: dict[str, list[bytes]] = {"caller": [], "agent": []}
        self._audio_at: dict[str, int] = {"caller": 0, "agent": 0}

    @property
    def active(self) -> bool:
        if not self._listeners or self._layer is None:
            return False
        now = time.monotonic()
        for name, seen in list(self._listeners.items()):
            if now - seen > LISTENER_TTL:
                del self._listeners[name]
        return bool(self._listeners)

    def listener_joined(self, channel: str) -> None:
        self._listeners[channel] = time.monotonic()

    def listener_left(self, channel: str) -> None:
        self._listeners.pop(channel, None)

    def audio(self, track: str, at_ms: int, ulaw: bytes) -> None:
        if not self.active:
            return
        buffer = self._audio[track]
        if not buffer:
            self._audio_at[track] = at_ms
        buffer.append(ulaw)
        if track == "caller" and len(buffer) >= AUDIO_BATCH_FRAMES:
            # The caller's stream never pauses (the phone sends silence too): its batches are
            # the beat that takes the agent's frames along, so a listened call costs one
            # channel-layer publish per beat, not one per track.
            self._flush("caller")
            self._flush("agent")
        elif len(buffer) >= AGENT_ALONE_FRAMES:  # no caller audio coming (yet): don't hoard
            self._flush(track)

    def _flush(self, track: str) -> None:
        buffer = self._audio[track]
        if not buffer:
            return
        payload = base64.b64encode(b"".join(buffer)).decode()
        buffer.clear()
        self._publish(
            {
                "type": "monitor.audio",
                "track": track,
                "at_ms": self._audio_at[track],
                "payload": payload,
                "made_ms": round(time.time() * 1000),
            }
        )

    def transcript(self, **segment: Any) -> None:
        if self.active:
            self._publish({"type": "monitor.transcript", **segment})

    def event(self, kind: str, message: str) -> None:
        if self.active:
            self._publish({"type": "monitor.event", "kind": kind, "message": message})

    def ended(self, reason: str) -> None:
        if self.active:
            self._publish({"type": "monitor.ended", "reason": reason})

    def _publish(self, message: dict[str, Any]) -> None:
        self._pending.append(message)
        if len(self._pending) > MAX_PENDING:
            audio = (i for i, m in enumerate(self._pending) if m["type"] == "monitor.audio")
            del self._pending[next(audio, 0)]
            metrics.MONITOR_DROPPED.inc()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_pending())

    async def _send_pending(self) -> None:
        assert self._layer is not None  # nothing is published without a layer (`active`)
        while self._pending:
            batch, self._pending = self._pending, []
            message = batch[0] if len(batch) == 1 else {"type": "monitor.batch", "messages": batch}
            try:
                await self._layer.group_send(self.group, message)
            except Exception as exc:  # best effort: the call goes on without its listeners
                metrics.MONITOR_DROPPED.inc(len(batch))
                logger.debug("monitor send failed: %s", exc)
