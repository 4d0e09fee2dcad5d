"""The capacity board without Redis (the `make run` board, same interface as Redis'): caps,
leases that lapse when not refreshed, release, and what a media process reports about itself."""

from __future__ import annotations

import time
from concurrent.futures import Future

import pytest
from django.test import override_settings

from calls.runtime.load import ProcessLoad
from connectors.capacity import CallLease, LoadReport, MemoryBoard


def test_admits_up_to_the_cap_then_names_the_full_set() -> None:
    board = MemoryBoard()
    later = time.time() + 60
    caps = [("connector:1", 3), ("workspace:1", None)]
    assert [board.admit(caps, f"CA{i}", later) for i in range(3)] == [-1, -1, -1]
    assert board.admit(caps, "CA3", later) == 0  # the connector is full
    assert board.count("connector:1") == 3 and board.count("workspace:1") == 3
    # A repeated webhook of an admitted call is admitted again, not counted twice.
    assert board.admit(caps, "CA1", later) == -1 and board.count("connector:1") == 3
    # The workspace cap counts every connector of the workspace.
    other = [("connector:2", None), ("workspace:1", 3)]
    assert board.admit(other, "CA9", later) == 1


def test_a_released_lease_frees_its_slot_at_once() -> None:
    board = MemoryBoard()
    caps = [("c", 1), ("w", None)]
    assert board.admit(caps, "CA1", time.time() + 60) == -1
    assert board.admit(caps, "CA2", time.time() + 60) == 0
    board.release(["c", "w"], "CA1")
    assert board.admit(caps, "CA2", time.time() + 60) == -1


def test_a_lease_nobody_refreshes_lapses() -> None:
    board = MemoryBoard()
    caps = [("c", 1), ("w", None)]
    assert board.admit(caps, "CA1", time.time() + 0.05) == -1
    assert board.admit(caps, "CA2", time.time() + 60) == 0
    time.sleep(0.06)
    assert board.count("c") == 0
    assert board.admit(caps, "CA2", time.time() + 60) == -1


def test_refreshing_never_brings_back_a_released_lease() -> None:
    board = MemoryBoard()
    board.refresh(["c"], "CA1", time.time() + 60, xx=False)  # a stream started: held
    board.release(["c"], "CA1")  # the call ended meanwhile
    board.refresh(["c"], "CA1", time.time() + 60, xx=True)  # a late refresh
    assert board.count("c") == 0


def test_load_reports_expire() -> None:
    board = MemoryBoard()
    report = LoadReport("host:1", 2, 10.0, 0.0, False)
    board.publish_load(report, ttl=0.05)
    assert board.load_reports() == [report]
    time.sleep(0.06)
    assert board.load_reports() == []


class StuckExecutor:
    """A speech pool whose threads are all busy: nothing submitted starts."""

    def __init__(self) -> None:
        self.pending: list[Future[float]] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        future: Future[float] = Future()
        self.pending.append(future)
        return future


@override_settings(
    STELLAR_OVERLOAD_SPEECH_WAIT_MS=50,
    STELLAR_OVERLOAD_TURN_MS=1500,
    STELLAR_MAX_CALLS_PER_PROCESS=0,
)
def test_a_process_with_a_stuck_speech_pool_reports_itself_overloaded() -> None:
    load = ProcessLoad(executor=StuckExecutor(), process="p")  # type: ignore[arg-type]
    load.calls["CA0"] = CallLease("CA0", 1, 1)
    assert not load.report().overloaded  # the probe was just sent
    time.sleep(0.06)
    assert not load.report().overloaded  # one long wait is not yet a queue that stays long
    for _ in range(3):
        time.sleep(0.03)
        report = load.report()
    assert report.overloaded and "speech queue wait" in report.reason
    assert report.speech_wait_ms >= 50
    del load.calls["CA0"]  # its last call ended: room for one, whatever it measured
    report = load.report()
    assert not report.overloaded and report.reason == "" and report.speech_wait_ms >= 50


@override_settings(
    STELLAR_OVERLOAD_SPEECH_WAIT_MS=500,
    STELLAR_OVERLOAD_TURN_MS=1500,
    STELLAR_MAX_CALLS_PER_PROCESS=2,
)
@pytest.mark.parametrize(
    ("turns", "calls", "overloaded"),
    [
        ([800] * 9 + [2500], 1, False),
        ([2100, 2500, 1900, 2600, 2200], 1, True),
        ([900], 2, True),
        ([2500] * 4, 1, False),
    ],
)
def test_slow_turns_or_too_many_calls_make_a_process_overloaded(
    turns: list[float], calls: int, overloaded: bool
) -> None:
    class Idle:
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            future: Future[float] = Future()
            future.set_result(fn())
            return future

    load = ProcessLoad(executor=Idle(), process="p")  # type: ignore[arg-type]
    for ms in turns:
        load.turn_answered(ms)
    for i in range(calls):
        load.calls[f"CA{i}"] = CallLease(f"CA{i}", 1, 1)
    assert load.report().overloaded is overloaded


@override_settings(STELLAR_OVERLOAD_LOOP_LAG_MS=200, STELLAR_MAX_CALLS_PER_PROCESS=0)
def test_an_event_loop_that_stays_behind_makes_a_process_overloaded() -> None:
    class Idle:
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            future: Future[float] = Future()
            future.set_result(fn())
            return future

    load = ProcessLoad(executor=Idle(), process="p")  # type: ignore[arg-type]
    load.calls["CA0"] = CallLease("CA0", 1, 1)
    for lag in (900, 40, 600, 700):  # one tick on time: not a loop that stays behind
        load.loop_lagged(lag)
    assert not load.report().overloaded
    for lag in (300, 450, 250, 800):
        load.loop_lagged(lag)
    report = load.report()
    assert report.overloaded and report.loop_lag_ms == 250 and "event loop" in report.reason
