"""Silence re-prompts: when nobody has said anything for a while, ask again, in the end hang up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SILENCE_TIMEOUT_SECONDS = 8.0
SILENCE_REPROMPTS = 2
TICK_SECONDS = 0.5


@dataclass(frozen=True)
class Reprompt:
    """The `count`-th silence in a row; past `limit` the conversation says goodbye."""

    count: int
    limit: int


class SilenceWatch:
    def __init__(
        self, *, timeout: float, limit: int, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.timeout = timeout
        self.limit = limit
        self._now = now
        self.quiet_since = now()
        self.count = 0  # silences in a row, reset when the caller speaks

    @classmethod
    def for_agent(cls, snapshot: dict[str, Any]) -> SilenceWatch:
        """With the agent version's own timeout and number of re-prompts."""
        return cls(
            timeout=float(snapshot.get("silence_timeout_seconds") or SILENCE_TIMEOUT_SECONDS),
            limit=int(snapshot.get("silence_reprompts", SILENCE_REPROMPTS)),
        )

    def activity(self) -> None:
        """Something happened on the line (speech, a finished turn): the quiet starts again."""
        self.quiet_since = self._now()

    def caller_spoke(self) -> None:
        self.count = 0

    def tick(self, idle: bool) -> Reprompt | None:
        """One look at the line; `idle`: no turn running, nobody speaking."""
        if not idle:
            self.quiet_since = max(self.quiet_since, self._now() - TICK_SECONDS)
            return None
        if self._now() - self.quiet_since >= self.timeout:
            self.count += 1
            self.quiet_since = self._now()
            return Reprompt(self.count, self.limit)
        return None

    async def run(self, idle: Callable[[], bool], reprompt: Callable[[Reprompt], None]) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            found = self.tick(idle())
            if found is not None:
                reprompt(found)
