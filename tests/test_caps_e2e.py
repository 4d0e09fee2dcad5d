"""Caps across two server processes, over real sockets: simulated Twilio calls against two
Daphne processes sharing PostgreSQL and Redis. With a cap of 3, a 4th concurrent caller gets
the overflow rule whichever process answers; a call's end frees its slot; the lease of a call
whose process was killed lapses STELLAR_CALL_LEASE_SECONDS later."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from calls.models import Call, CallEvent, CallStatus
from calls.simulator import HangUp, Wait, WaitForAgent, simulate_call
from calls.simulator.result import CallResult
from connectors.capacity import DEFAULT_OVERFLOW_MESSAGE, board, connector_key
from connectors.models import PhoneConnector
from tests.conftest import LiveServer, daphne_server
from tests.e2e import eventually, simulated
from tests.twilio_call import Line, build_line

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 3
SPEEDUP = 4.0  # caller-side time (greeting playback, Wait): 4x


@pytest.fixture(scope="module")
def servers(django_db_setup, tmp_path_factory) -> Iterator[tuple[LiveServer, LiveServer]]:
    env = {"STELLAR_CALL_LEASE_SECONDS": str(LEASE_SECONDS)}
    with (
        daphne_server("caps-a", tmp_path_factory, **env) as a,
        daphne_server("caps-b", tmp_path_factory, **env) as b,
    ):
        yield a, b


@pytest.fixture
def pair(servers, transactional_db, request) -> Iterator[tuple[LiveServer, LiveServer]]:
    offsets = []
    for server in servers:
        server.process.ensure_running()
        offsets.append(server.process.log_size())
    yield servers
    settled()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for server, offset in zip(servers, offsets, strict=True):
            print(f"--- {server.process.name}\n{server.process.log_since(offset)}")


def settled(within: float = 20.0) -> None:
    """The servers' last writes of the test are done (ended calls, their events): no other
    connection runs a query or holds a transaction for a few checks in a row. The teardown's
    flush must not meet them: TRUNCATE against a writing transaction deadlocks."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND state <> 'idle'"
    )
    quiet, deadline = 0, time.monotonic() + within
    while quiet < 5 and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            busy = cursor.fetchone()[0]
        quiet = quiet + 1 if busy == 0 else 0
        time.sleep(0.1)


def call(server: LiveServer, line: Line, script: list) -> asyncio.Task[CallResult]:
    config = simulated(server, line, script, realtime=SPEEDUP, end_grace=0.2)
    return asyncio.create_task(simulate_call(config))


async def live_calls(line: Line, count: int, within: float = 20.0) -> None:
    """Wait until the board holds `count` leases of the line's connector."""
    deadline = time.monotonic() + within
    while (seen := board().count(connector_key(line.connector.pk))) != count:
        assert time.monotonic() < deadline, f"{seen} live calls, expected {count}"
        await asyncio.sleep(0.1)


def overflowed(result: CallResult) -> bool:
    return (
        result.webhook_ok
        and not result.streams
        and result.twilio_said == [DEFAULT_OVERFLOW_MESSAGE]
    )


def answered(result: CallResult) -> bool:
    return result.webhook_ok and len(result.streams) == 1 and bool(result.agent_utterances)


def capped_line(cap: int) -> Line:
    line = build_line()
    PhoneConnector.objects.filter(pk=line.connector.pk).update(max_concurrent_calls=cap)
    return line


def test_a_4th_concurrent_call_overflows_across_two_processes_and_an_ended_call_frees_a_slot(
    pair,
):
    a, b = pair
    line = capped_line(3)
    talking = [WaitForAgent(), Wait(12), HangUp()]  # ≈ 3 s after the greeting at 4x

    async def main() -> tuple[list[CallResult], CallResult, CallResult]:
        short = call(a, line, [WaitForAgent(), HangUp()])
        long = [call(b, line, talking), call(a, line, talking)]
        await live_calls(line, 3)
        fourth = await call(b, line, [WaitForAgent(), HangUp()])  # on the other process
        first = await short
        await live_calls(line, 2)  # its stream ended: the slot is free at once
        fifth = await call(b, line, [WaitForAgent(), HangUp()])
        return [first, *await asyncio.gather(*long)], fourth, fifth

    three, fourth, fifth = asyncio.run(main())
    assert all(answered(r) for r in three), [r.errors for r in three]
    assert overflowed(fourth), (fourth.twilio_said, fourth.errors)
    assert answered(fifth), fifth.errors
    refused = Call.objects.get(call_sid=fourth.call_sid)
    assert refused.status == CallStatus.REJECTED
    event = CallEvent.objects.get(call=refused, kind="overflow")
    assert event.data["reason"] == "connector_cap"
    assert eventually(lambda: board().count(connector_key(line.connector.pk)) == 0)


def test_the_lease_of_a_killed_process_lapses(pair):
    a, b = pair
    line = capped_line(1)

    async def main() -> tuple[CallResult, CallResult, float]:
        doomed = call(b, line, [WaitForAgent(), Wait(60), HangUp()])
        await live_calls(line, 1)
        started = await asyncio.to_thread(stream_started, line)
        assert started, "the call's stream did not start"
        await asyncio.sleep(0.5)  # the stream's lease is held (lease period: LEASE_SECONDS)
        b.process.proc.kill()  # no stream stop, no status callback: only the lease's expiry
        killed_at = time.monotonic()
        refused = await call(a, line, [WaitForAgent(), HangUp()])
        await live_calls(line, 0, within=LEASE_SECONDS + 5)
        lapsed_after = time.monotonic() - killed_at
        accepted = await call(a, line, [WaitForAgent(), HangUp()])
        doomed.cancel()
        return refused, accepted, lapsed_after

    refused, accepted, lapsed_after = asyncio.run(main())
    assert overflowed(refused), (refused.twilio_said, refused.errors)
    assert lapsed_after <= LEASE_SECONDS + 2
    assert answered(accepted), accepted.errors


def stream_started(line: Line) -> bool:
    """(In a thread of its own, whose database connection is closed after.)"""
    calls = Call.objects.filter(connector=line.connector)
    try:
        return bool(eventually(lambda: calls.exclude(answered_at=None).exists()))
    finally:
        connection.close()
