"""The call clock: milliseconds since the call was answered, shared by audio in and audio out."""

from __future__ import annotations

import asyncio


class CallClock:
    """Event-loop time relative to the answer; a reconnected stream continues the same clock."""

    def __init__(self) -> None:
        self.t0 = 0.0

    def start(self, *, answered_seconds_ago: float = 0.0) -> None:
        self.t0 = asyncio.get_running_loop().time() - answered_seconds_ago

    def ms(self, at: float | None = None) -> int:
        """Call-clock milliseconds now, or at event-loop time `at`."""
        loop_time = asyncio.get_running_loop().time() if at is None else at
        return int((loop_time - self.t0) * 1000)
