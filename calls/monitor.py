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
  {"type": "monitor.audio", "track": "caller"|"agent", "at_ms": int, "payload": <b64 μ-law>}
  {"type": "monitor.transcript", "speaker", "text", "start_ms", "end_ms", "interrupted"}
  {"type": "monitor.event", "kind", "message"}
  {"type": "monitor.ended", "reason"}

Fan-out is best-effort: nothing is sent while nobody listens, at most MAX_IN_FLIGHT sends are
pending per call, and the audio path never awaits a send (a slow listener loses messages).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any

from . import metrics

logger = logging.getLogger(__name__)

LISTENER_TTL = 15.0
AUDIO_BATCH_FRAMES = 10  # 200 ms per monitor.audio message: 10 messages/s per listened call
MAX_IN_FLIGHT = 8


def monitor_group(call_id: int) -> str:
    return f"call-{call_id}-monitor"


def control_group(call_id: int) -> str:
    return f"call-{call_id}-control"


class MonitorFeed:
    def __init__(self, call_id: int, channel_layer):
        self.group = monitor_group(call_id)
        self._layer = channel_layer
        self._listeners: dict[str, float] = {}
        self._in_flight = 0
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
        if len(buffer) >= AUDIO_BATCH_FRAMES:
            payload = base64.b64encode(b"".join(buffer)).decode()
            buffer.clear()
            self._publish(
                {
                    "type": "monitor.audio",
                    "track": track,
                    "at_ms": self._audio_at[track],
                    "payload": payload,
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
        if self._in_flight >= MAX_IN_FLIGHT:
            metrics.MONITOR_DROPPED.inc()
            return
        self._in_flight += 1
        task = asyncio.create_task(self._layer.group_send(self.group, message))
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task) -> None:
        self._in_flight -= 1
        if not task.cancelled() and task.exception() is not None:
            metrics.MONITOR_DROPPED.inc()
            logger.debug("monitor send failed: %s", task.exception())
