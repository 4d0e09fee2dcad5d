"""One listener's queue of monitor messages on their way to the browser (calls.live.monitor_consumer).

Back-pressure is per listener: the consumer puts what the call sends here without ever waiting,
and its writer task takes it out as fast as this listener's socket goes. A listener that falls
behind (a busy process, a slow browser, a long connect) loses its own oldest audio past
`max_audio` messages, so what it hears stays live; the call and the other listeners never notice.
Transcript lines and events are kept (bounded too: `max_other`), in order with the audio.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

MAX_AUDIO = 6  # monitor.audio messages waiting: ≈ 600 ms of each track at 200 ms a message
MAX_OTHER = 200  # transcript lines / events waiting (a listener that stalls this long is gone)
ULAW_BYTES_PER_MS = 8


def audio_ms(message: dict[str, Any]) -> int:
    """Milliseconds of μ-law in a monitor.audio message (its payload is base64)."""
    payload = message.get("payload")
    return len(payload) * 3 // 4 // ULAW_BYTES_PER_MS if isinstance(payload, str) else 0


class ListenerOutbox:
    """A bounded FIFO that drops its own oldest audio; `put` never waits, `get` does."""

    def __init__(self, *, max_audio: int = MAX_AUDIO, max_other: int = MAX_OTHER):
        self.max_audio = max_audio
        self.max_other = max_other
        self._items: deque[dict[str, Any]] = deque()
        self._audio = 0
        self._ready = asyncio.Event()
        self.dropped_audio = 0  # messages
        self.dropped_ms = 0  # of audio
        self.dropped_other = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, message: dict[str, Any]) -> int:
        """Queue `message`; returns how many older messages it pushed out (0 normally)."""
        self._items.append(message)
        if message.get("type") == "monitor.audio":
            self._audio += 1
        dropped = 0
        while self._audio > self.max_audio:
            self._drop(audio=True)
            dropped += 1
        while len(self._items) - self._audio > self.max_other:
            self._drop(audio=False)
            dropped += 1
        self._ready.set()
        return dropped

    def _drop(self, *, audio: bool) -> None:
        for i, item in enumerate(self._items):
            if (item.get("type") == "monitor.audio") == audio:
                del self._items[i]
                break
        if audio:
            self._audio -= 1
            self.count_dropped(item)
        else:
            self.dropped_other += 1

    def count_dropped(self, message: dict[str, Any]) -> None:
        """Audio this listener lost (here, or found too late by the consumer when sending)."""
        self.dropped_audio += 1
        self.dropped_ms += audio_ms(message)

    async def get(self) -> dict[str, Any]:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if item.get("type") == "monitor.audio":
            self._audio -= 1
        return item
