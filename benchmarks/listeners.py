"""Issue 9: what supervisors listening in costs the calls they listen to.

N simulated calls (default 40) on Daphne A (`taskset -c SERVER_CORE`), in rounds without
listeners and with L listeners per call (default 2), alternated. Listeners are websocket
clients of Daphne B (another process, on the load generator's core) with a Studio session
cookie, on /v1/live/calls/<id>; A and B meet only through the Redis channel layer, as in
production. Each call: signed webhook → media stream → `--duration` s of caller media with
one pre-rendered caller line (VAD → STT → brain → TTS run) while the agent greets and answers.

Measured at the load generator:
- call frame jitter: the agent's outbound frames, arrival − (utterance's first frame + i·20 ms)
  minus the utterance's best lag (as `benchmarks concurrency`); p99 with vs without
  listeners is the cost of listening (target: change < 5 ms).
- listener latency: a monitor.audio message of the caller track carries at_ms, the call
  clock of its first 20 ms frame; A publishes it when its 5th (last) frame arrived, so
  latency = arrival at the listener − when the load generator sent that 5th frame
  (server A → Redis → server B → listener, batching excluded).
- delivery: caller-track audio received per listener / batches the call produced.
- fan-out delay (reported beside latency, not instead of it): the delay_ms B adds to each
  caller-track message, i.e. from when A made the batch to when B sent it (A's send queue →
  Redis → B's per-listener queue); latency minus this is A's own lag behind the phone.
Calls are never refused for load here (the overload rule is switched off for A): this measures
what listening costs, not admission.
Redis: REDIS_URL (db 14) if set, else a redis-server started here; a PostgreSQL started here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets
from websockets.exceptions import ConnectionClosed

from calls.runtime.monitor import AUDIO_BATCH_FRAMES  # noqa: E402
from calls.runtime.outbound import LOOKAHEAD_SECONDS  # noqa: E402

from ._client import CallStats, LeanCall, jitter_ms, lags_ms, send_lag_ms
from ._common import (
    CALLER_LINE,
    CLIENT_CORE,
    SERVER_CORE,
    Server,
    add_common_args,
    banner,
    fmt,
    loadavg,
    pcts,
    pin_self,
    render_caller_lines,
    self_cpu_seconds,
    start_daphne,
    stellar_env,
    stellar_server,
    stop,
    table,
)

BATCH_FRAMES = AUDIO_BATCH_FRAMES
TARGET_JITTER_CHANGE_MS = 5.0
PHASES = (  # the calls start within --stagger s of each other, all greet, then one caller line
    (0.0, 4.0, "first 4 s (the calls setting up at once)"),
    (4.0, 12.0, "4-12 s"),
    (12.0, math.inf, "after 12 s"),
)


class TimedCall(LeanCall):
    """LeanCall that remembers when each caller frame went out (index = chunk - 1)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent_at: list[float] = []

    def _media(self, payload: str) -> str:
        self.sent_at.append(time.monotonic())
        return super()._media(payload)


@dataclass
class ListenerStats:
    connected: bool = False
    refused: str | None = None
    caller_msgs: int = 0
    agent_msgs: int = 0
    transcripts: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, caller track
    latency_at: list[float] = field(default_factory=list)  # seconds into the call, same order
    fanout: list[float] = field(default_factory=list)  # ms, the delay_ms B reports, caller track


@dataclass
class Round:
    kind: str  # "none" or "listen"
    n: int
    listeners_per_call: int
    calls: list[CallStats] = field(default_factory=list)
    listeners: list[ListenerStats] = field(default_factory=list)
    batches_expected: int = 0  # caller-track messages the listeners should get, in all
    dropped_at_a: float = math.nan  # stellar_monitor_messages_dropped_total during the round
    cpu_a: float = math.nan
    cpu_b: float = math.nan
    gen_cpu: float = math.nan
    wall: float = 0.0

    @property
    def failed(self) -> list[CallStats]:
        return [c for c in self.calls if c.error or c.closed_by_server or not c.media_received]

    def jitter_ms(self) -> list[float]:
        return jitter_ms(self.calls)

    def lags_ms(self) -> list[float]:
        return lags_ms(self.calls)

    def late_share(self) -> float:
        """% of agent frames that reached the phone after their play-out time (lag > 0)."""
        lags = self.lags_ms()
        return 100 * sum(1 for lag in lags if lag > 0) / len(lags) if lags else math.nan

    def send_lag_ms(self) -> list[float]:
        return send_lag_ms(self.calls)

    def latency_ms(self, since: float = 0.0, until: float = math.inf) -> list[float]:
        """Listener latencies of the caller audio from `since` to `until` s into the calls."""
        return [
            x * 1000
            for s in self.listeners
            for x, at in zip(s.latencies, s.latency_at, strict=True)
            if since <= at < until
        ]

    def fanout_ms(self) -> list[float]:
        return [x for s in self.listeners for x in s.fanout]

    def delivery(self) -> float:
        got = sum(s.caller_msgs for s in self.listeners)
        return 100 * got / self.batches_expected if self.batches_expected else math.nan


async def _listen(
    url: str, origin: str, cookie: str, call: TimedCall, stats: ListenerStats
) -> None:
    """A supervisor's websocket: count what arrives, time the caller track."""
    try:
        ws = await websockets.connect(
            url,
            additional_headers={"Cookie": f"sessionid={cookie}"},
            origin=origin,
            open_timeout=30,
            proxy=None,
            compression=None,
            max_queue=None,
        )
    except Exception as exc:
        stats.refused = f"{type(exc).__name__}: {exc}"[:200]
        return
    stats.connected = True
    try:
        async for raw in ws:
            now = time.monotonic()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "monitor.audio":
                if message.get("track") == "agent":
                    stats.agent_msgs += 1
                    continue
                stats.caller_msgs += 1
                if isinstance(message.get("delay_ms"), int | float):
                    stats.fanout.append(float(message["delay_ms"]))
                last = int(message.get("at_ms", 0)) // 20 + BATCH_FRAMES - 1
                if 0 <= last < len(call.sent_at):
                    stats.latencies.append(now - call.sent_at[last])
                    stats.latency_at.append(int(message["at_ms"]) / 1000)
            elif kind == "monitor.transcript":
                stats.transcripts += 1
            elif kind == "monitor.ended":
                break
    except ConnectionClosed:
        pass
    finally:
        with contextlib.suppress(Exception):
            await ws.close()


async def run_round(
    a: Server,
    b: Server | None,
    kind: str,
    n: int,
    *,
    listeners: int,
    cookies: list[str],
    duration: float,
    stagger: float,
    speech,
    seed: int,
) -> Round:
    rnd = random.Random(seed)
    result = Round(kind=kind, n=n, listeners_per_call=listeners if kind == "listen" else 0)
    stop_sampling = asyncio.Event()

    async def sample() -> None:
        while not stop_sampling.is_set():
            a.monitor.sample()
            if b is not None:
                b.monitor.sample()
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    dropped0 = await _dropped(a)
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    gen0, t0 = self_cpu_seconds(), time.monotonic()
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as http:

        async def one(k: int) -> tuple[CallStats, list[ListenerStats], int]:
            await asyncio.sleep(k * stagger / max(1, n))
            call = TimedCall(a.url, http)
            speak_at = rnd.uniform(5.0, max(5.5, duration - speech.seconds - 5.0))

            async def script(c: LeanCall, at=speak_at) -> None:
                await asyncio.sleep(at)
                c.say(speech)

            mine: list[ListenerStats] = []
            tasks = []
            try:
                await call.connect()
            except Exception as exc:
                call.stats.error = f"{type(exc).__name__}: {exc}"[:300]
                return call.stats, mine, 0
            if kind == "listen" and b is not None:
                call_id = call._parameters.get("call_id")
                url = b.url.replace("http", "ws", 1) + f"/v1/live/calls/{call_id}"
                for i in range(listeners):
                    stats = ListenerStats()
                    mine.append(stats)
                    tasks.append(
                        asyncio.create_task(
                            _listen(url, b.url, cookies[i % len(cookies)], call, stats)
                        )
                    )
                await asyncio.sleep(0.3)  # their monitor_join reaches the call before start
            stats = await call.run(duration, script)
            if tasks:
                _done, pending = await asyncio.wait(tasks, timeout=10)
                for task in pending:
                    task.cancel()
            return stats, mine, len(call.sent_at)

        outcomes = await asyncio.gather(*(one(k) for k in range(n)))
    stop_sampling.set()
    await sampler
    result.dropped_at_a = await _dropped(a) - dropped0
    result.wall = time.monotonic() - t0
    result.gen_cpu = 100 * (self_cpu_seconds() - gen0) / result.wall
    for stats, mine, sent in outcomes:
        result.calls.append(stats)
        result.listeners += mine
        result.batches_expected += (sent // BATCH_FRAMES) * len(mine)
    connected = [c.connected_at for c in result.calls if c.connected_at]
    ended = [c.ended_at for c in result.calls if c.ended_at]
    if connected and ended:
        w0, w1 = max(connected) + 0.5, min(ended) - 0.5
        if w1 - w0 < 1.0:
            w0, w1 = min(connected), max(ended)
        result.cpu_a = a.monitor.cpu_percent(w0, w1)
        if b is not None:
            result.cpu_b = b.monitor.cpu_percent(w0, w1)
    return result


async def _dropped(server: Server) -> float:
    """Monitor messages the call side dropped so far (its bounded, best-effort fan-out)."""
    try:
        async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
            text = (await http.get(server.url + "/metrics")).text
    except httpx.HTTPError:
        return math.nan
    for line in text.splitlines():
        if line.startswith("stellar_monitor_messages_dropped_total "):
            return float(line.split()[1])
    return 0.0


def _sessions(senv, count: int) -> list[str]:
    """Editors of the demo workspace, each signed in once: their session cookies."""
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from django.test import Client\n"
        "from agents.models import Membership, Workspace\n"
        "ws = Workspace.objects.get(slug='demo')\n"
        f"for i in range({count}):\n"
        "    user, _ = get_user_model().objects.get_or_create(username=f'bench-listener-{i}')\n"
        "    Membership.objects.get_or_create(workspace=ws, user=user,"
        " defaults={'role': 'editor'})\n"
        "    client = Client()\n"
        "    client.force_login(user)\n"
        "    print('SESSION', client.cookies['sessionid'].value)\n"
    )
    out = senv.manage("shell", "-c", code)
    return [line.split()[1] for line in out.splitlines() if line.startswith("SESSION ")]


@contextlib.contextmanager
def _services():
    """Redis (REDIS_URL db 14, or started here) and a PostgreSQL of our own: two server
    processes on one SQLite file lock each other out."""
    from tests.harness.services import postgres_server, redis_server

    with contextlib.ExitStack() as stack:
        url = os.environ.get("REDIS_URL", "")
        if url:
            redis_url, where = urlunsplit(urlsplit(url)._replace(path="/14")), "REDIS_URL db 14"
        else:
            redis_url, where = stack.enter_context(redis_server()).url, "started here"
        database = stack.enter_context(postgres_server(dbname="stellar_listeners")).url
        # Admission is not what this measures: a loaded machine must not get calls refused.
        no_overload = {
            name: os.environ.get(name, "1000000")
            for name in ("STELLAR_OVERLOAD_SPEECH_WAIT_MS", "STELLAR_OVERLOAD_TURN_MS")
        }
        yield (
            {
                "REDIS_URL": redis_url,
                "CELERY_BROKER_URL": redis_url,
                "DATABASE_URL": database,
                **no_overload,
            },
            (f"Redis {where}, PostgreSQL started here"),
        )


def _row(r: Round) -> list[str]:
    jit = pcts(r.jitter_ms(), (50, 95, 99))
    lat = pcts(r.latency_ms(), (50, 95, 99))
    listeners = [s for s in r.listeners if s.connected]
    return [
        r.kind,
        str(r.n),
        f"{len(listeners)}/{len(r.listeners)}" if r.listeners else "-",
        *(fmt(v, 1) for v in jit),
        fmt(pcts(r.lags_ms(), (99,))[0], 1),
        fmt(r.late_share(), 2),
        f"{len(r.failed)}/{r.n}",
        fmt(r.cpu_a, 0),
        fmt(r.cpu_b, 0),
        *(fmt(v, 1) for v in lat),
        fmt(pcts(r.fanout_ms(), (95,))[0], 1) if r.listeners else "-",
        fmt(r.delivery(), 1),
        fmt(r.dropped_at_a, 0),
        str(sum(s.agent_msgs for s in r.listeners)) if r.listeners else "-",
        f"{fmt(r.gen_cpu, 0)}/{fmt(pcts(r.send_lag_ms(), (99,))[0], 0)}",
    ]


HEADERS = [
    "round",
    "N",
    "listeners",
    "jit p50",
    "jit p95",
    "jit p99",
    "lag p99",
    "late%",
    "failed",
    "A CPU%",
    "B CPU%",
    "lat p50",
    "lat p95",
    "lat p99",
    "fan p95",
    "deliv%",
    "A dropped",
    "agent msgs",
    "gen CPU%/lag99",
]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks listeners",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_args(p)
    p.add_argument("--calls", type=int, default=40, help="concurrent calls per round")
    p.add_argument("--listeners", type=int, default=2, help="listeners per call")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of media per call")
    p.add_argument("--stagger", type=float, default=2.0, help="calls start spread over this")
    p.add_argument("--reps", type=int, default=2, help="pairs of rounds (none, listen)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    return p


async def _rounds(args, speech, senv, cookies: list[str]) -> list[Round]:
    with stellar_server(senv) as a:
        env = dict(senv.env)
        env["STELLAR_WARMUP"] = "0"
        b = start_daphne(
            "stellar.asgi:application", env, senv.var_dir / "daphne-b.log", core=CLIENT_CORE
        )
        try:
            await run_round(
                a,
                b,
                "warm-up",
                2,
                listeners=1,
                cookies=cookies,
                duration=8.0,
                stagger=0,
                speech=speech,
                seed=0,
            )
            rounds = []
            for rep in range(args.reps):
                for kind in ("none", "listen"):
                    await asyncio.sleep(2.0)
                    r = await run_round(
                        a,
                        b if kind == "listen" else None,
                        kind,
                        args.calls,
                        listeners=args.listeners,
                        cookies=cookies,
                        duration=args.duration,
                        stagger=args.stagger,
                        speech=speech,
                        seed=9 + rep,
                    )
                    rounds.append(r)
                    print(
                        f"  {kind} #{rep + 1}: {len(r.failed)} failed calls, load {loadavg()}",
                        flush=True,
                    )
                    errors = {c.error for c in r.failed if c.error}
                    errors |= {s.refused for s in r.listeners if s.refused}
                    for error in sorted(errors)[:3]:
                        print(f"    e.g. {error}")
            errors = sum(log.read_text(errors="replace").count(" ERROR ") for log in (a.log, b.log))
            print(f"  {errors} ERROR lines in the server logs")
            return rounds
        finally:
            stop(b.proc)


def _pooled(rounds: list[Round], kind: str, values) -> list[float]:
    return [v for r in rounds if r.kind == kind for v in values(r)]


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.calls, args.duration, args.reps = min(args.calls, 8), min(args.duration, 10.0), 1
    banner(
        f"listeners: {args.calls} calls × {args.listeners} listeners vs none, "
        f"{args.duration:g} s per call, {args.reps} pair(s) of rounds"
    )
    t0 = time.monotonic()
    speech = render_caller_lines([CALLER_LINE])[CALLER_LINE]
    pin_self(CLIENT_CORE)
    with _services() as (extra, where):
        print(
            f"  A (calls) on core {SERVER_CORE}; B (listeners) and the load generator on core"
            f" {CLIENT_CORE}; {where}"
        )
        with stellar_env(extra, keep=args.keep) as senv:
            if args.keep:
                print(f"  server logs: {senv.var_dir}")
            cookies = _sessions(senv, max(1, args.listeners))
            rounds = asyncio.run(_rounds(args, speech, senv, cookies))
    print()
    print(table(HEADERS, [_row(r) for r in rounds]))
    none = pcts(_pooled(rounds, "none", Round.jitter_ms), (50, 99))
    listen = pcts(_pooled(rounds, "listen", Round.jitter_ms), (50, 99))
    latency = pcts(_pooled(rounds, "listen", Round.latency_ms), (50, 95, 99))
    fanout = pcts(_pooled(rounds, "listen", Round.fanout_ms), (50, 95, 99))
    change = listen[1] - none[1]
    late = [
        sum(r.late_share() for r in rounds if r.kind == k) / (len(rounds) / 2)
        for k in ("none", "listen")
    ]
    print(
        "\n  jit = agent frame arrival − (utterance's first frame + i·20 ms) − the utterance's"
        " best lag, ms, at the call's phone (load generator); it includes the burst of the"
        f" {LOOKAHEAD_SECONDS * 1000:.0f} ms the server sends ahead. lag = the same without the"
        " best lag subtracted (≤ 0: the frame was there before its play-out time); late% ="
        " frames with lag > 0."
        "\n  lat = caller-track monitor.audio arrival at a listener − when its last frame was"
        " sent by the phone, ms (A → Redis → B → browser). deliv% = caller-track messages"
        " received / produced per listener. agent msgs = agent-track messages received."
        " fan = the delay_ms B reports: A made the batch → B sent it (part of lat), ms."
        "\n  gen = load generator CPU% and its own send-schedule lag p99 (ms); B shares its core."
    )
    print(
        f"\n  call frame jitter p99: {fmt(none[1])} ms without listeners, {fmt(listen[1])} ms"
        f" with {args.listeners} per call: change {fmt(change)} ms"
        f" (target < {TARGET_JITTER_CHANGE_MS:g} ms: "
        f"{'met' if change < TARGET_JITTER_CHANGE_MS else 'NOT met'})"
    )
    print(f"  frames late at the phone: {late[0]:.2f} % without listeners, {late[1]:.2f} % with")
    print(
        f"  listener latency p50 {fmt(latency[0])} ms, p95 {fmt(latency[1])} ms,"
        f" p99 {fmt(latency[2])} ms (+ {BATCH_FRAMES * 20 - 20} ms batching of the first frame)"
    )
    print(
        f"  of which fan-out (A's batch → sent by B): p50 {fmt(fanout[0])} ms,"
        f" p95 {fmt(fanout[1])} ms, p99 {fmt(fanout[2])} ms"
    )
    print("  listener latency by when in the call the audio was spoken (ms):")
    for since, until, what in PHASES:
        lat = pcts(
            _pooled(rounds, "listen", lambda r, a=since, b=until: r.latency_ms(a, b)), (50, 95)
        )
        print(f"    {what:<38} p50 {fmt(lat[0])}, p95 {fmt(lat[1])}")
    print(f"  wall {time.monotonic() - t0:.0f} s; load average now {loadavg()}")


if __name__ == "__main__":
    main()
