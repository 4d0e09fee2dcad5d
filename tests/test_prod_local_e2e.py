"""The production topology end to end: nginx (TLS) → two Daphne processes, a separate Celery
worker and beat, PostgreSQL and Redis, all with production settings (tests/prod_local).

Simulated Twilio calls go over https:// and wss:// through nginx, signed for the public URL.
The topology shares the test database (so the tests read rows with the ORM) and uses its own
Redis database, so only its worker consumes its tasks. The SIGTERM test stops one Daphne:
the next test that needs the topology starts it again.

Listen & intervene across the two processes (issue 9) belongs here too; see the `prod`
fixture for what the topology exposes.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import signal
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from calls.models import Call, CallStatus, Recording
from calls.simulator import (
    CallResult,
    HangUp,
    Say,
    SimulatedCall,
    Wait,
    WaitForAgent,
    simulate_call,
)
from stellar import shutdown
from stellar.kernel.logging_json import CallSidFilter, JsonFormatter, call_sid_var
from tests.conftest import LOADED_MACHINE_ENV, LiveServer, require_env, subprocess_database_url
from tests.e2e import eventually, words
from tests.live_fixtures import listen_then_take_over
from tests.prod_local.topology import Options, Process, Topology, prod_local
from tests.twilio_call import ACCOUNT_SID, AUTH_TOKEN, OWNER_PASSWORD, build_line, voice_params

TOPOLOGY_REDIS_DB = 9  # the harness's other tests use database 0
QUESTION = [WaitForAgent(), Say("What are your opening hours?"), WaitForAgent(), HangUp()]


# --- the topology ------------------------------------------------------------------------


def _own_redis_db(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{TOPOLOGY_REDIS_DB}"))


@pytest.fixture(scope="module")
def _topology(django_db_setup) -> Iterator[Topology]:
    from django.conf import settings

    require_env("DATABASE_URL")
    options = Options(
        database_url=subprocess_database_url(),  # pytest-django's database, migrated
        redis_url=_own_redis_db(require_env("REDIS_URL")),
        encryption_keys=",".join(settings.STELLAR_ENCRYPTION_KEYS),  # build_line's tokens
        env=dict(LOADED_MACHINE_ENV),
        migrate=False,
        demo=False,
        drain_seconds=30,
        worker_concurrency=1,
    )
    with prod_local(options) as topology:
        yield topology


@pytest.fixture
def prod(_topology: Topology, transactional_db, request) -> Iterator[Topology]:
    """The running topology (every process started again if one exited).

    For tests: `https_url`/`wss_url` (nginx, where to connect), `public_url` (what the server
    signs and Twilio would call), `ssl_context()`/`http_client()` (trusting its certificate),
    `daphnes[i]` (`.url`, `.ws_url`, `.port`, `.pid`, `.log`, `send_signal()`), `metrics(d)`,
    `redis_url` (its channel layer and broker), `worker`, `beat`, `nginx`, `env`.
    """
    _topology.ensure_running()
    offsets = {p.name: p.log_size() for p in _topology.processes}
    yield _topology
    reports = (getattr(request.node, f"rep_{when}", None) for when in ("setup", "call"))
    if any(r is not None and r.failed for r in reports):
        for process in _topology.processes:
            text = process.log_text(offsets.get(process.name, 0)).splitlines()[-60:]
            print(f"--- {process.name} ({process.log}) during this test:")
            print("\n".join(text))


def simulated(topology: Topology, line, script, **options) -> SimulatedCall:
    """A call as Twilio places it: to nginx over TLS, signed for the public URL."""
    return SimulatedCall(
        base_url=topology.https_url,
        webhook=line.connector.webhook_path,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        public_url=topology.public_url,
        script=script,
        realtime=options.pop("realtime", 2.0),
        ssl_context=topology.ssl_context(),
        **options,
    )


def place(topology: Topology, line, script, **options) -> CallResult:
    return asyncio.run(simulate_call(simulated(topology, line, script, **options)))


def sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called `name` (with these labels) in a Prometheus text page."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def per_process(topology: Topology, name: str, **labels: str) -> list[float]:
    return [sample(topology.metrics(d), name, **labels) for d in topology.daphnes]


async def live_call_host(topology: Topology, timeout: float = 30) -> Process:
    """The Daphne process on which a media stream is open right now."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        while time.monotonic() < deadline:
            for daphne in topology.daphnes:
                page = (await client.get(daphne.url + "/metrics")).text
                if sample(page, "stellar_active_calls") >= 1:
                    return daphne
            await asyncio.sleep(0.1)
    raise AssertionError("no Daphne process reported a live call")


def upstreams_of_media_streams(topology: Topology, since: int) -> set[str]:
    """Daphne addresses nginx proxied media-stream websockets (101) to, from its access log."""
    found = set()
    for entry in (topology.logs_dir / "nginx-access.log").read_text()[since:].splitlines():
        if "/v1/media/" in entry and '" 101 ' in entry:
            found.add(entry.split("upstream=", 1)[1].split()[0])
    return found


# --- unit-level checks of the pieces (no topology) ---------------------------------------


def _json_lines(records: list[logging.LogRecord]) -> list[dict]:
    formatter, call_filter = JsonFormatter(), CallSidFilter()
    lines = []
    for record in records:
        call_filter.filter(record)
        lines.append(json.loads(formatter.format(record)))
    return lines


def test_json_log_lines_carry_the_call_sid_into_tasks_and_threads():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record)  # format later, like a handler
    handler.addFilter(CallSidFilter())
    log = logging.getLogger("tests.prod_local.json")
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    async def call_path():
        call_sid_var.set("CA" + "1" * 32)  # what the media-stream consumer does on connect
        log.info("in the consumer")
        await asyncio.create_task(_log_later(log))  # the session's tasks start afterwards
        await sync_to_async(log.warning)("in a database thread %s", "x")

    try:
        log.info("before any call")
        asyncio.run(call_path())
        log.info("after the call")
    finally:
        log.removeHandler(handler)

    lines = _json_lines(records)
    assert [line["message"] for line in lines] == [
        "before any call",
        "in the consumer",
        "in a session task",
        "in a database thread x",
        "after the call",
    ]
    assert "call_sid" not in lines[0] and "call_sid" not in lines[-1]
    assert {line.get("call_sid") for line in lines[1:4]} == {"CA" + "1" * 32}
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert line["logger"] == "tests.prod_local.json" and line["time"].endswith("Z")
    assert lines[3]["level"] == "WARNING"


async def _log_later(log: logging.Logger) -> None:
    await asyncio.sleep(0)
    log.info("in a session task")


def test_readyz_is_503_while_models_load_or_the_process_drains(db, monkeypatch):
    from agents.speech import registry

    client = Client()
    monkeypatch.setenv("STELLAR_WARMUP", "1")
    monkeypatch.setattr(registry, "_instances", {})
    loading = client.get("/readyz")
    assert loading.status_code == 503
    assert loading.json()["status"] == "not ready"
    assert loading.json()["checks"]["speech"]["status"] == "failed"
    assert loading.json()["checks"]["database"]["status"] == "ok"

    monkeypatch.setattr(registry, "_instances", {name: object() for name in registry.DEFAULTS})
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code == 200

    monkeypatch.setattr(shutdown._state, "draining", True)
    draining = client.get("/readyz")
    assert draining.status_code == 503 and draining.json()["status"] == "draining"
    assert client.get("/healthz").status_code == 200, "a draining process is still alive"


def test_connection_tracker_counts_live_media_streams():
    def open_streams() -> float:
        return REGISTRY.get_sample_value("stellar_open_connections", {"kind": "media_stream"}) or 0

    async def scenario() -> tuple[float, float, float]:
        hang_up = asyncio.Event()

        async def consumer(scope, receive, send) -> None:
            await hang_up.wait()

        tracked = shutdown.ConnectionTracker(consumer)
        before = open_streams()
        call = asyncio.create_task(tracked({"type": "websocket", "path": "/v1/media/t"}, 0, 0))
        await asyncio.sleep(0.01)
        during = open_streams()
        hang_up.set()
        await call
        return before, during, open_streams()

    before, during, after = asyncio.run(scenario())

    assert (during - before, after - before) == (1, 0)


# --- end to end through nginx ------------------------------------------------------------


@pytest.mark.e2e
def test_calls_over_https_and_wss_land_on_both_daphne_processes(prod):
    line = build_line()
    started = per_process(prod, "stellar_calls_started_total")
    webhooks = sum(per_process(prod, "stellar_webhook_seconds_count"))
    turns = sum(per_process(prod, "stellar_turn_latency_seconds_count"))
    access_log = (prod.logs_dir / "nginx-access.log").stat().st_size

    async def two_overlapping_calls() -> list[CallResult]:
        first = asyncio.create_task(simulate_call(simulated(prod, line, QUESTION)))
        await live_call_host(prod)  # the first stream is open on one process...
        second = simulate_call(simulated(prod, line, QUESTION))  # ...so nginx picks the other
        return list(await asyncio.gather(first, second))

    results = asyncio.run(two_overlapping_calls())

    for result in results:
        assert result.ok, result.errors
        assert result.webhook.url.startswith(prod.public_url + "/")
        assert result.streams[0].url.startswith(prod.wss_url + "/v1/media/")
        assert "monday" in words(result.transcribe_agent()[1])
    after = per_process(prod, "stellar_calls_started_total")
    assert [a - b for a, b in zip(after, started, strict=True)] == [1, 1], "one call each"
    assert upstreams_of_media_streams(prod, access_log) == {
        f"127.0.0.1:{d.port}" for d in prod.daphnes
    }
    assert sum(per_process(prod, "stellar_webhook_seconds_count")) - webhooks == 2
    assert sum(per_process(prod, "stellar_turn_latency_seconds_count")) - turns >= 2
    assert sum(per_process(prod, "stellar_active_calls")) == 0

    # The separate Celery worker finalizes both calls: stereo recording, transcript summary.
    for result in results:
        call = Call.objects.get(call_sid=result.call_sid)
        recording = eventually(lambda c=call: Recording.objects.filter(call=c).first(), 45)
        assert recording is not None and recording.size_bytes > 44
        call.refresh_from_db()
        assert call.finalized_at is not None and "opening hours" in call.summary.lower()
        assert f"call {result.call_sid} finalized" in prod.worker.log_text()


@pytest.mark.e2e
def test_handover_dial_works_through_the_proxy(prod):
    line = build_line()
    outcomes = sum(per_process(prod, "stellar_handover_outcomes_total"))

    result = place(
        prod,
        line,
        [
            WaitForAgent(),
            Say("Hi, I would like to buy something. Can I talk to sales?"),
            WaitForAgent(),
        ],
    )

    assert result.webhook_ok and not result.errors, result.errors
    assert [d.number for d in result.dials] == ["+31201234567"]
    assert result.dials[0].action.startswith(prod.public_url + "/v1/calls/")
    assert [e.kind for e in result.exchanges] == ["webhook", "connect-action", "dial-action"]
    assert all(e.status == 200 for e in result.exchanges)
    call = Call.objects.get(call_sid=result.call_sid)
    assert call.status == CallStatus.TRANSFERRED and call.transferred_to == "+31201234567"
    assert sum(per_process(prod, "stellar_handover_outcomes_total")) - outcomes == 1


@pytest.mark.e2e
def test_signatures_are_checked_against_the_public_url_behind_the_proxy(prod):
    line = build_line()
    path = line.connector.webhook_path
    params = voice_params()
    signed_for_public = line.validator.compute_signature(prod.public_url + path, params)
    # What a check rebuilding the URL from the proxied Host/scheme would accept instead:
    signed_for_upstream = line.validator.compute_signature(prod.daphnes[0].url + path, params)

    with prod.http_client(timeout=15) as client:

        def post(signature: str) -> httpx.Response:
            return client.post(
                prod.https_url + path, data=params, headers={"X-Twilio-Signature": signature}
            )

        forged, upstream_url, correct = (
            post("Zm9yZ2VkIHNpZ25hdHVyZQ=="),
            post(signed_for_upstream),
            post(signed_for_public),
        )

    assert forged.status_code == 403
    assert upstream_url.status_code == 403
    assert correct.status_code == 200 and correct.headers["content-type"].startswith("text/xml")
    stream_url = correct.text.split('<Stream url="', 1)[1].split('"', 1)[0]
    assert stream_url.startswith(prod.wss_url + "/v1/media/")

    async def handshake(signature: str) -> int:
        headers = {"x-twilio-signature": signature}
        try:
            async with websockets.connect(
                stream_url, additional_headers=headers, ssl=prod.ssl_context()
            ):
                return 101
        except websockets.InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(handshake("Zm9yZ2Vk")) == 403
    assert asyncio.run(handshake(line.validator.compute_signature(stream_url, {}))) == 101


@pytest.mark.e2e
def test_each_process_reports_health_readiness_and_metrics(prod):
    pids = set()
    for daphne in prod.daphnes:
        assert httpx.get(daphne.url + "/healthz", trust_env=False).text == "ok"
        ready = httpx.get(daphne.url + "/readyz", trust_env=False)
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready" and not body["shutdown"]["draining"]
        assert {name: c["status"] for name, c in body["checks"].items()} == {
            "database": "ok",
            "redis": "ok",
            "speech": "ok",
        }
        pids.add(body["pid"])
        page = prod.metrics(daphne)
        for family in (
            "stellar_active_calls",
            "stellar_calls_started",
            "stellar_webhook_seconds",
            "stellar_turn_latency_seconds",
            "stellar_frames_dropped",
            "stellar_handover_outcomes",
            "stellar_finalize",
            "stellar_draining",
        ):
            assert f"# TYPE {family}" in page, family
    assert pids == {d.pid for d in prod.daphnes}, "each port is its own process"

    with prod.http_client(timeout=10) as client:
        assert client.get(prod.https_url + "/healthz").status_code == 200
        assert client.get(prod.https_url + "/readyz").json()["status"] == "ready"
        assert client.get(prod.https_url + "/metrics").status_code == 404, "not public"
        assert client.get(prod.https_url + "/login/").status_code == 200
    plain = httpx.get(prod.daphnes[0].url + "/login/", trust_env=False)
    assert plain.status_code == 301 and plain.headers["location"].startswith("https://")


@pytest.mark.e2e
def test_server_logs_are_json_lines_with_the_call_sid_of_the_call(prod):
    line = build_line()
    offsets = [d.log_size() for d in prod.daphnes]
    params = voice_params()
    url = prod.public_url + line.connector.webhook_path
    with prod.http_client(timeout=15) as client:
        twiml = client.post(
            prod.https_url + line.connector.webhook_path,
            data=params,
            headers={"X-Twilio-Signature": line.validator.compute_signature(url, params)},
        ).text
    stream_url = twiml.split('<Stream url="', 1)[1].split('"', 1)[0]
    signature = line.validator.compute_signature(stream_url, {})

    async def call_with_a_bad_frame() -> None:
        # A forged handshake for this call, then a real stream that sends one bad frame.
        with contextlib.suppress(websockets.InvalidStatus):
            async with websockets.connect(
                stream_url, additional_headers={"x-twilio-signature": "x"}, ssl=prod.ssl_context()
            ):
                pass
        async with websockets.connect(
            stream_url, additional_headers={"x-twilio-signature": signature}, ssl=prod.ssl_context()
        ) as ws:
            start = {"callSid": params["CallSid"], "streamSid": "MZ" + "0" * 32, "tracks": []}
            await ws.send(json.dumps({"event": "connected", "protocol": "Call"}))
            await ws.send(
                json.dumps({"event": "start", "start": start, "streamSid": "MZ" + "0" * 32})
            )
            await ws.send("this is not JSON")
            await asyncio.sleep(0.5)
            await ws.send(json.dumps({"event": "stop", "stop": {}, "streamSid": "MZ" + "0" * 32}))
            with contextlib.suppress(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)

    asyncio.run(call_with_a_bad_frame())

    def logged() -> list[dict]:
        entries = []
        for daphne, offset in zip(prod.daphnes, offsets, strict=True):
            for raw in daphne.log_text(offset).splitlines():
                entry = json.loads(raw)  # every line is one JSON object
                assert isinstance(entry, dict)
                assert {"time", "level", "logger", "message"} <= entry.keys(), raw
                entries.append(entry)
        return entries

    entries = eventually(
        lambda: [e for e in logged() if e["logger"] == "calls.twilio.media_stream"], timeout=10
    )
    refused = [e for e in entries if "bad signature" in e["message"]]
    bad_input = [e for e in logged() if "bad input malformed_json" in e["message"]]
    assert refused and bad_input, entries
    for entry in refused + bad_input:
        assert entry.get("call_sid") == params["CallSid"], entry


@pytest.mark.e2e
def test_sigterm_drains_the_live_call_then_the_process_exits(prod):
    line = build_line()
    seen: dict = {}

    async def scenario() -> CallResult:
        first = asyncio.create_task(simulate_call(simulated(prod, line, QUESTION, realtime=1.0)))
        host = seen["host"] = await live_call_host(prod)
        other = next(d for d in prod.daphnes if d is not host)
        other_started = sample(prod.metrics(other), "stellar_calls_started_total")
        probe = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
        assert (await asyncio.to_thread(_get_json, probe, "/readyz"))[0] == 200
        # When: SIGTERM while the call is live.
        host.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(0.5)
        seen["readyz"] = await asyncio.to_thread(_get_json, probe, "/readyz")  # kept alive
        seen["refused"] = await _refuses_connections(host.port)
        seen["second"] = await simulate_call(simulated(prod, line, [WaitForAgent(), HangUp()]))
        seen["moved"] = sample(prod.metrics(other), "stellar_calls_started_total") - other_started
        seen["draining_after_second_call"] = host.alive()
        result = await first
        seen["exit_code"] = await asyncio.to_thread(host.wait, 40)
        seen["took"] = time.monotonic() - signalled
        return result

    result = asyncio.run(scenario())

    status, body = seen["readyz"]
    assert status == 503 and body["status"] == "draining", body
    assert body["shutdown"]["live_calls"] == 1
    assert seen["refused"], "a draining process accepts no new connections"
    assert seen["second"].ok and seen["moved"] == 1, "a new call goes to the other process"
    assert seen["draining_after_second_call"], "the process waits for its live call"
    assert result.ok, result.errors
    assert result.streams[0].ended_by == "caller", "the caller hung up; the server did not cut"
    assert "monday" in words(result.transcribe_agent()[1]), "answered after the SIGTERM"
    assert seen["exit_code"] == 0 and seen["took"] < 30
    assert "drained in" in seen["host"].log_text()
    call = Call.objects.get(call_sid=result.call_sid)
    assert eventually(lambda: Recording.objects.filter(call=call).exists(), 45)


def _get_json(connection: http.client.HTTPConnection, path: str) -> tuple[int, dict]:
    connection.request("GET", path, headers={"Host": "127.0.0.1"})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


async def _refuses_connections(port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


def login_through_nginx(topology: Topology, username: str, password: str) -> str:
    """Sign in on the login page like a browser (the topology has its own SECRET_KEY)."""
    with topology.http_client() as client:
        page = client.get(topology.https_url + "/login/")
        token = page.cookies["csrftoken"]
        response = client.post(
            topology.https_url + "/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": topology.https_url + "/login/"},
        )
        assert response.status_code == 302, response.text[:500]
        return client.cookies["sessionid"]


@pytest.mark.e2e
def test_supervisor_on_one_process_listens_and_takes_over_a_call_on_the_other(prod):
    """The call streams through nginx to one Daphne; the supervisor's websocket is on the
    other; they meet only through Redis. Take over ends in a <Dial> to the supervisor."""
    line = build_line()
    cookie = login_through_nginx(prod, line.owner.username, OWNER_PASSWORD)
    box: dict = {}
    script = [WaitForAgent(), Say("What are your opening hours?"), WaitForAgent(), Wait(40)]
    caller = threading.Thread(target=lambda: box.update(result=place(prod, line, script)))
    caller.start()
    host = asyncio.run(live_call_host(prod))
    other = next(d for d in prod.daphnes if d is not host)
    call = eventually(
        lambda: Call.objects.filter(connector=line.connector, answered_at__isnull=False).first()
    )

    async def supervise() -> list[dict]:
        listener = LiveServer(other.url, other.port, prod.public_url, other.ws_url, None)
        return await listen_then_take_over(
            listener, call.pk, cookie, heard="monday", destination="+31612345678"
        )

    seen = asyncio.run(supervise())
    caller.join(timeout=120)
    result = box["result"]
    tracks = {m.get("track") for m in seen if m.get("type") == "monitor.audio"}
    assert tracks == {"caller", "agent"}, "both tracks reach the other process"
    assert seen[-1]["ok"] is True and seen[-1]["path"] == "live", seen[-1]
    assert [d.number for d in result.dials] == ["+31612345678"]
    event = call.events.get(kind="take_over")
    assert event.data["by"] == line.owner.username
    # Let the worker finish with this call before the test database is flushed.
    assert eventually(
        lambda: Call.objects.filter(pk=call.pk, finalized_at__isnull=False).exists(), 45
    )
