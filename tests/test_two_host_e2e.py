"""Two machines that share no disk (issue 20): `prod_local(hosts=2)`, each "host" with its own
media and HTTP-class Daphne, spool directory, Celery worker and spool shipper, sharing only
PostgreSQL, Redis and the harness's S3-compatible server (moto), behind one nginx.

Calls land on both hosts; a supervisor connected to host B listens to and takes over a call
streaming on host A (through Redis); a worker on one host is killed mid-finalize; a Daphne
killed mid-call leaves its spool on its host's disk, which that host's shipper sends on.
Every recording is built by whichever worker got it, from the parts the hosts shipped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest

from calls.models import Call, Recording
from calls.simulator import CallResult, Say, Wait, WaitForAgent, simulate_call
from calls.tasks import finalize_call
from stellar.celery import app as celery_app
from tests.conftest import LOADED_MACHINE_ENV, LiveServer, require_env, subprocess_database_url
from tests.e2e import eventually, words
from tests.harness.services import S3_TEST_CREDENTIALS
from tests.live_fixtures import listen_then_take_over
from tests.prod_local.topology import S3_BUCKET, Options, Process, Topology, prod_local
from tests.spooled_calls import long_spooled_call
from tests.test_prod_local_e2e import (
    QUESTION,
    live_call_host,
    login_through_nginx,
    simulated,
    upstreams_of_media_streams,
)
from tests.test_recordings_e2e import read_stereo, rms
from tests.twilio_call import OWNER_PASSWORD, build_line

pytestmark = pytest.mark.e2e

TOPOLOGY_REDIS_DB = 10  # test_prod_local_e2e uses 9, the other tests 0
LONG_MINUTES = 10  # the spooled call whose finalize gets its worker killed


@pytest.fixture(scope="module")
def _two_hosts(django_db_setup) -> Iterator[Topology]:
    from django.conf import settings

    options = Options(
        hosts=2,
        daphnes=2,
        http_daphnes=1,
        s3_url=require_env("STELLAR_TEST_S3_URL"),
        database_url=subprocess_database_url(),
        redis_url=urlunsplit(
            urlsplit(require_env("REDIS_URL"))._replace(path=f"/{TOPOLOGY_REDIS_DB}")
        ),
        encryption_keys=",".join(settings.STELLAR_ENCRYPTION_KEYS),
        migrate=False,
        demo=False,
        drain_seconds=10,
        worker_concurrency=1,
        ship_every=1,
        ship_grace=2,
        # A task abandoned by a killed worker comes back within the test (production: 300 s).
        env={
            **LOADED_MACHINE_ENV,
            **S3_TEST_CREDENTIALS,
            "CELERY_VISIBILITY_TIMEOUT": "5",
            "CELERY_RESTORE_INTERVAL": "1",
        },
    )
    with prod_local(options) as topology:
        yield topology


@pytest.fixture
def hosts(_two_hosts: Topology, transactional_db, request, monkeypatch) -> Iterator[Topology]:
    """The running topology; this process talks to its object store as a host would."""
    for key, value in S3_TEST_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    _two_hosts.ensure_running()
    offsets = {p.name: p.log_size() for p in _two_hosts.processes}
    yield _two_hosts
    reports = (getattr(request.node, f"rep_{when}", None) for when in ("setup", "call"))
    if any(r is not None and r.failed for r in reports):
        for process in _two_hosts.processes:
            text = process.log_text(offsets.get(process.name, 0)).splitlines()[-40:]
            print(f"--- {process.name} ({process.log}) during this test:")
            print("\n".join(text))


def s3(topology: Topology):
    return boto3.client("s3", endpoint_url=topology.s3_url)


def stored(topology: Topology, key: str) -> bytes:
    return s3(topology).get_object(Bucket=S3_BUCKET, Key=key)["Body"].read()


def parts_of(topology: Topology, call_id: int) -> list[str]:
    listed = s3(topology).list_objects_v2(Bucket=S3_BUCKET, Prefix=f"spool/call-{call_id}/")
    return [item["Key"].rsplit("/", 1)[1] for item in listed.get("Contents", [])]


def local_spools(topology: Topology) -> list[str]:
    return [
        path.name
        for host in topology.hosts
        if (host.var_dir / "spool").is_dir()
        for path in (host.var_dir / "spool").iterdir()
        if ".spool" in path.name or path.name.endswith(".shipping")
    ]


def test_calls_on_two_hosts_cross_host_take_over_and_a_killed_worker(hosts, settings):
    supervised, other = build_line(), build_line()
    cookie = login_through_nginx(hosts, supervised.owner.username, OWNER_PASSWORD)
    access_log = (hosts.logs_dir / "nginx-access.log").stat().st_size
    box: dict[str, CallResult] = {}
    long_script = [WaitForAgent(), Say("What are your opening hours?"), WaitForAgent(), Wait(30)]

    def place(name: str, line, script) -> None:
        box[name] = asyncio.run(simulate_call(simulated(hosts, line, script, realtime=1.0)))

    first = threading.Thread(target=place, args=("supervised", supervised, long_script))
    first.start()
    host_a_daphne = asyncio.run(live_call_host(hosts))
    host_a = hosts.host_of(host_a_daphne)
    second = threading.Thread(target=place, args=("other", other, QUESTION))
    second.start()  # least_conn: the other Daphne, i.e. host B
    host_b = next(h for h in hosts.hosts if h is not host_a)
    call = eventually(
        lambda: (
            Call.objects.filter(connector=supervised.connector, answered_at__isnull=False)
            .order_by("-pk")
            .first()
        )
    )

    async def supervise_from_host_b() -> list[dict]:
        daphne: Process = host_b.daphnes[0]
        server = LiveServer(daphne.url, daphne.port, hosts.public_url, daphne.ws_url, None)
        return await listen_then_take_over(
            server, call.pk, cookie, heard="monday", destination="+31612345678"
        )

    seen = asyncio.run(supervise_from_host_b())
    first.join(timeout=90)
    second.join(timeout=90)
    assert {m.get("track") for m in seen if m.get("type") == "monitor.audio"} == {
        "caller",
        "agent",
    }, "both tracks of host A's call reach the supervisor on host B"
    assert seen[-1]["ok"] is True, seen[-1]
    assert [d.number for d in box["supervised"].dials] == ["+31612345678"]
    assert upstreams_of_media_streams(hosts, access_log) == {
        f"127.0.0.1:{d.port}" for d in hosts.daphnes
    }, "one call on each host"
    http_class = {f"127.0.0.1:{d.port}" for d in hosts.http_daphnes}
    assert upstreams_of(hosts, access_log, "/twilio-config") <= http_class, "webhooks: HTTP class"

    # A worker on one host is killed in the middle of finalizing a long call spooled on host A.
    long_call = spooled_on(hosts, host_a, settings, minutes=LONG_MINUTES)
    offsets = {w.name: w.log_size() for w in hosts.workers}
    with celery_app.connection(hosts.redis_url) as broker:  # the topology's, not ours
        task = finalize_call.apply_async((long_call.pk,), connection=broker)
    victim = eventually(
        lambda: next((w for w in hosts.workers if task.id in w.log_text(offsets[w.name])), None),
        timeout=30,
    )
    os.killpg(victim.pid, signal.SIGKILL)  # the worker and its pool child, mid-build
    victim.wait(10)
    assert not Recording.objects.filter(call=long_call).exists(), "killed before it finished"
    hosts.ensure_running()  # the host's worker comes back; either host's worker may redo it

    # Every call: one recording, built from the parts both hosts shipped, and its transcript.
    results = {"supervised": box["supervised"], "other": box["other"]}
    for name, result in results.items():
        assert result.ok or name == "supervised", result.errors
        finished = Call.objects.get(call_sid=result.call_sid)
        recording = eventually(lambda c=finished: Recording.objects.filter(call=c).first(), 60)
        assert recording is not None, f"{name}: no recording"
        stream = result.streams[0]
        talked = stream.ended_at - stream.start_sent_at
        assert abs(recording.duration_ms / 1000 - talked) <= 0.5, (name, talked, recording)
        left, right, _rate = read_stereo(stored(hosts, recording.file.name))
        assert rms(left) > 100 and rms(right) > 100, f"{name}: both tracks recorded"
        assert len(parts_of(hosts, finished.pk)) >= 1
        finished.refresh_from_db()
        assert finished.finalized_at is not None and "opening hours" in finished.summary.lower()
        caller = " ".join(words(s.text) for s in finished.segments.filter(speaker="caller"))
        agent = " ".join(words(s.text) for s in finished.segments.filter(speaker="agent"))
        assert "opening hours" in caller and "monday" in agent, (caller, agent)
    recording = eventually(lambda: Recording.objects.filter(call=long_call).first(), 90)
    assert recording is not None, "the killed worker's task was redelivered and completed"
    assert abs(recording.duration_ms - LONG_MINUTES * 60_000) <= 20
    assert Recording.objects.filter(call=long_call).count() == 1
    assert local_spools(hosts) == [], "no audio left on either host's disk"


def test_a_daphne_killed_mid_call_leaves_a_spool_its_host_ships(hosts):
    line = build_line()
    box: dict[str, CallResult] = {}
    script = [WaitForAgent(), Say("What are your opening hours?"), Wait(30)]
    caller = threading.Thread(
        target=lambda: box.update(
            result=asyncio.run(simulate_call(simulated(hosts, line, script, realtime=1.0)))
        )
    )
    caller.start()
    daphne = asyncio.run(live_call_host(hosts))
    call = eventually(
        lambda: Call.objects.filter(connector=line.connector, answered_at__isnull=False).first()
    )
    eventually(lambda: call.segments.filter(speaker="caller").exists(), timeout=30)
    time.sleep(1.0)
    os.killpg(daphne.pid, signal.SIGKILL)  # the host lives on: its shipper, its worker
    daphne.wait(10)
    caller.join(timeout=60)
    stream = box["result"].streams[0]
    talked = stream.ended_at - stream.start_sent_at

    # Nobody holds the dead stream's spool any more: the host's periodic sweep ships it.
    assert eventually(lambda: parts_of(hosts, call.pk), timeout=30), "the spool was shipped"
    assert local_spools(hosts) == []
    # The stale-call sweep (beat's task, run now as if a minute had passed) ends the call,
    # and a worker on either host finalizes it from the shipped part.
    swept = hosts.manage("shell", "-c", STALE_SWEEP_NOW).stdout
    assert str(call.pk) in swept, swept
    recording = eventually(lambda: Recording.objects.filter(call=call).first(), timeout=60)
    assert recording is not None, "a worker finalized the swept call"
    call.refresh_from_db()
    # Host B's HTTP-class process answered Twilio's <Connect action> after the stream dropped,
    # so the call had ended (completed) without its stream ever closing.
    assert call.finalized_at is not None and call.events.filter(kind="swept").exists()
    # Audio up to the crash: at most the last flush interval (≈ 1 s) is lost.
    assert talked - 1.2 <= recording.duration_ms / 1000 <= talked + 0.5, (talked, recording)
    left, right, _rate = read_stereo(stored(hosts, recording.file.name))
    assert rms(left) > 100 and rms(right) > 100, "both the caller and the agent were recorded"


STALE_SWEEP_NOW = (
    "from datetime import timedelta; from django.utils import timezone; "
    "from calls.recordings.finalize import calls_sweep_stale; "
    "print(calls_sweep_stale(now=timezone.now() + timedelta(minutes=5)))"
)


def upstreams_of(topology: Topology, since: int, path_part: str) -> set[str]:
    """Processes nginx sent requests whose path holds `path_part` to (its access log)."""
    found = set()
    for entry in (topology.logs_dir / "nginx-access.log").read_text()[since:].splitlines():
        if path_part in entry:
            found.add(entry.split("upstream=", 1)[1].split()[0])
    return found


def spooled_on(topology: Topology, host, settings, *, minutes: int) -> Call:
    """An ended call whose `minutes` of audio (both tracks) host A spooled and shipped."""
    from calls.recordings.shipping import ship_call_spool

    settings.STELLAR_SPOOL_DIR = host.var_dir / "spool"
    settings.STELLAR_SPOOL_STORE = host.env["STELLAR_SPOOL_STORE"]
    settings.STELLAR_SPOOL_STORE_ENDPOINT_URL = topology.s3_url
    settings.STELLAR_HOST_ID = host.name
    call = long_spooled_call(minutes)
    assert ship_call_spool(call.pk) == 1
    return call
