"""This media process's load, measured and published for admission at the voice webhook.

Three measures, all of what callers feel: how long a job waits for a speech thread (a probe sent
through SPEECH_POOL each tick; a probe still waiting counts its age), how far the event loop
that paces every call's audio is behind (how late this loop's own tick wakes), and the recent
caller-turn latency (90th percentile over the last TURN_WINDOW_SECONDS). Past either threshold (or past
STELLAR_MAX_CALLS_PER_PROCESS, when set) the process reports itself overloaded, and the webhook
— another process in production — gives new callers the overflow rule (connectors.capacity).

The same loop keeps the capacity leases of this process's live calls refreshed; it runs while
the process has calls and stops (after a last, idle report) when the last one ends.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections import deque
from concurrent.futures import Executor, Future

from django.conf import settings

from calls.runtime.speech_render import SPEECH_POOL
from connectors.capacity import CallLease, LoadReport, board, lease_hold, leases_refresh
from stellar.kernel import metrics

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.5
REPORT_TTL_SECONDS = 3.0  # a process that stops publishing is forgotten this fast
TURN_WINDOW_SECONDS = 30.0
MIN_TURNS = 5  # fewer recent turns say nothing about latency
# The speech wait counts when it lasts: the least of the last WAIT_WINDOW ticks (≈ 2 s), so one
# long transcription does not turn callers away, a queue that stays long does.
WAIT_WINDOW = 4


def _p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile: one slow turn in ten does not make it."""
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


class ProcessLoad:
    def __init__(self, *, executor: Executor = SPEECH_POOL, process: str = "") -> None:
        self.process = process or f"{socket.gethostname()}:{os.getpid()}"
        self._executor = executor
        self.calls: dict[str, CallLease] = {}
        self._turns: deque[tuple[float, float]] = deque(maxlen=500)  # (monotonic, ms)
        self._waits: deque[float] = deque(maxlen=WAIT_WINDOW)
        self._lags: deque[float] = deque(maxlen=WAIT_WINDOW)  # event-loop lag per tick, ms
        self._probe: tuple[float, Future[float]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_refresh = 0.0
        self.overloaded = False  # as last reported

    # ---- what the call sessions tell it ------------------------------------------------
    def call_started(self, lease: CallLease) -> None:
        self.calls[lease.call_sid] = lease
        self._in_background(lease_hold, lease)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self.run(), name="process-load")

    def call_ended(self, call_sid: str) -> None:
        self.calls.pop(call_sid, None)

    def turn_answered(self, latency_ms: float) -> None:
        self._turns.append((time.monotonic(), latency_ms))

    def contended(self) -> bool:
        """Other calls share this process, or it reported itself overloaded: a late answer is
        then load, and the caller hears the holding line (calls.runtime.turns)."""
        return len(self.calls) > 1 or self.overloaded

    # ---- measuring ---------------------------------------------------------------------
    def _speech_wait_ms(self) -> float:
        """The wait of each tick's probe (the age of one still waiting); the least of the
        window, once it is full: the wait that held for the whole window."""
        now = time.monotonic()
        if self._probe is not None:
            sent, future = self._probe
            if future.done():
                self._waits.append(max(0.0, future.result() - sent) * 1000)
                self._probe = None
            else:
                self._waits.append((now - sent) * 1000)
        if self._probe is None:
            self._probe = (now, self._executor.submit(time.monotonic))
        return min(self._waits) if len(self._waits) == WAIT_WINDOW else 0.0

    def _turn_p90_ms(self) -> float:
        since = time.monotonic() - TURN_WINDOW_SECONDS
        recent = [ms for at, ms in self._turns if at >= since]
        return _p90(recent) if len(recent) >= MIN_TURNS else 0.0

    def loop_lagged(self, lag_ms: float) -> None:
        """How late the load loop's own tick woke: the event loop that also paces every
        call's audio is that far behind."""
        self._lags.append(lag_ms)

    def _loop_lag_ms(self) -> float:
        return min(self._lags) if len(self._lags) == WAIT_WINDOW else 0.0

    def report(self) -> LoadReport:
        wait, p90, lag = self._speech_wait_ms(), self._turn_p90_ms(), self._loop_lag_ms()
        # A process with no call left has room for one, whatever its last seconds measured
        # (its final report must not turn callers away for its whole lifetime in the board).
        reasons = self._overload_reasons(wait, p90, lag) if self.calls else []
        metrics.SPEECH_QUEUE_WAIT.set(wait / 1000)
        metrics.PROCESS_OVERLOADED.set(1 if reasons else 0)
        self.overloaded = bool(reasons)
        return LoadReport(
            process=self.process,
            active_calls=len(self.calls),
            speech_wait_ms=round(wait, 1),
            turn_p90_ms=round(p90, 1),
            overloaded=bool(reasons),
            reason=", ".join(reasons),
            loop_lag_ms=round(lag, 1),
        )

    def _overload_reasons(self, wait: float, p90: float, lag: float) -> list[str]:
        reasons = []
        if wait > settings.STELLAR_OVERLOAD_SPEECH_WAIT_MS:
            reasons.append(f"speech queue wait {wait:.0f} ms")
        if lag > settings.STELLAR_OVERLOAD_LOOP_LAG_MS:
            reasons.append(f"event loop {lag:.0f} ms behind")
        if p90 > settings.STELLAR_OVERLOAD_TURN_MS:
            reasons.append(f"turn latency p90 {p90:.0f} ms")
        most = settings.STELLAR_MAX_CALLS_PER_PROCESS
        if most and len(self.calls) >= most:
            reasons.append(f"{len(self.calls)} calls, its maximum")
        return reasons

    # ---- publishing --------------------------------------------------------------------
    def _publish(self, report: LoadReport, leases: list[CallLease]) -> None:
        board().publish_load(report, REPORT_TTL_SECONDS)
        if leases:
            leases_refresh(leases)

    def _in_background(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        """Board writes (Redis round trips) never run on the event loop."""
        future = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        future.add_done_callback(_log_failure)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            leases: list[CallLease] = []
            if time.monotonic() >= self._next_refresh:  # leases: a third of their period
                self._next_refresh = time.monotonic() + settings.STELLAR_CALL_LEASE_SECONDS / 3
                leases = list(self.calls.values())
            report = self.report()
            try:
                await loop.run_in_executor(None, self._publish, report, leases)
            except Exception:
                logger.exception("publishing this process's load failed")
            if not self.calls:
                return
            due = loop.time() + TICK_SECONDS
            await asyncio.sleep(TICK_SECONDS)
            self.loop_lagged(max(0.0, loop.time() - due) * 1000)


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("capacity board write failed", exc_info=future.exception())


PROCESS_LOAD = ProcessLoad()
