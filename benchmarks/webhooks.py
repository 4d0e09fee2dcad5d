"""Issue 20: how fast Twilio's webhooks are answered while live calls run, today vs the new layout.

Layouts, measured one after the other in the same run, on the same PostgreSQL (started here,
pinned to the load generator's core) and with the same load; every Daphne process is pinned to
the SAME server core (`taskset -c SERVER_CORE`), so no layout gets a core of its own:

- today: one Daphne process (stellar.asgi, today's settings: DB_CONN_MAX_AGE=0, no pool)
  carries the calls and answers the webhooks, as one `stellar-daphne@PORT` does now.
- pool: the same single process with DB_POOL_MAX_SIZE=10 (a psycopg pool instead of a new
  PostgreSQL connection per request): what the in-process fix alone gives.
- split: the calls' media streams on one Daphne process (STELLAR_PROCESS_ROLE=all) and the
  webhooks on an HTTP-class process (STELLAR_PROCESS_ROLE=http: no speech models, no
  websockets), both with the pool, sharing the core (docs/deploy.md, "HTTP and media processes").

For each layout and each N (default 0, 20, 40, 60 live calls): N simulated calls (signed
webhook → media stream → caller line silence, and one pre-rendered caller line said at a
random moment of the probe window, so VAD → STT → brain → TTS run meanwhile), then
- probes: `--probes` voice webhooks, `--rate` per second, each followed by its status callback
  (Twilio's `call-status`, CallStatus=completed): latency of each, at the load generator;
- a burst: `--burst` voice webhooks at once (connections opened beforehand).
Also: the server process's CPU% during the probes, calls that failed, load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from calls.simulator.signing import build_request, new_sid

from ._client import CallStats, LeanCall
from ._common import (
    CALLER_LINE,
    CLIENT_CORE,
    DEMO_ACCOUNT_SID,
    DEMO_AUTH_TOKEN,
    DEMO_IDENTIFIER,
    LOOPBACK,
    SERVER_CORE,
    Server,
    Speech,
    StellarEnv,
    add_common_args,
    banner,
    database,
    fmt,
    free_port,
    loadavg,
    pcts,
    pin_self,
    render_caller_lines,
    start_daphne,
    stellar_env,
    stop,
    table,
)

TARGET_P99_MS = 50.0
STATUS_PATH = f"/v1/agents/{DEMO_IDENTIFIER}/call-status"
LAYOUTS = {
    "today": "one Daphne process, calls + webhooks; DB_CONN_MAX_AGE=0, no pool (today)",
    "pool": "one Daphne process, calls + webhooks; DB_POOL_MAX_SIZE=10",
    "split": "media Daphne (calls) + HTTP-class Daphne (webhooks), same core; pool in both",
}


@dataclass
class Deployment:
    """Where the webhooks go (`http`) and where the media streams go (`media`)."""

    name: str
    http: Server
    media: Server

    @property
    def processes(self) -> list[Server]:
        return [self.http] if self.http is self.media else [self.http, self.media]


@dataclass
class Round:
    layout: str
    n: int
    calls: list[CallStats] = field(default_factory=list)
    voice_ms: list[float] = field(default_factory=list)
    status_ms: list[float] = field(default_factory=list)
    burst_ms: list[float] = field(default_factory=list)
    errors: int = 0
    cpu_percent: list[float] = field(default_factory=list)  # per process, during the probes
    load: str = ""

    @property
    def failed(self) -> int:
        return sum(1 for c in self.calls if c.error or c.closed_by_server or not c.media_received)


async def _signed_post(
    http: httpx.AsyncClient, public: str, path: str, params: dict[str, str]
) -> float:
    """POST Twilio-style (form body, X-Twilio-Signature over the public URL); latency in ms."""
    req = build_request("POST", public + path, params, DEMO_AUTH_TOKEN)
    headers = {"X-Twilio-Signature": req.signature}
    t0 = time.monotonic()
    resp = await http.post(req.url, data=req.form, headers=headers)
    elapsed = (time.monotonic() - t0) * 1000
    if resp.status_code not in (200, 204):
        raise RuntimeError(f"{path}: HTTP {resp.status_code}")
    return elapsed


def _voice_params(call_sid: str) -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": DEMO_ACCOUNT_SID,
        "From": "+15005550006",
        "To": "+15005550001",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }


async def _probe(http: httpx.AsyncClient, public: str, rnd: Round) -> None:
    """One voice webhook (a new call that never streams) and then its status callback."""
    sid = new_sid("CA")
    try:
        rnd.voice_ms.append(
            await _signed_post(
                http, public, f"/v1/agents/{DEMO_IDENTIFIER}/twilio-config", _voice_params(sid)
            )
        )
        status = {**_voice_params(sid), "CallStatus": "completed", "CallDuration": "0"}
        rnd.status_ms.append(await _signed_post(http, public, STATUS_PATH, status))
    except Exception:
        rnd.errors += 1


async def _burst(public: str, n: int, rnd: Round) -> None:
    limits = httpx.Limits(max_connections=n + 5, max_keepalive_connections=n + 5)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as http:
        # Open the connections first: the burst measures the server, not TCP set-up.
        await asyncio.gather(*(http.get(public + "/healthz") for _ in range(n)))
        path = f"/v1/agents/{DEMO_IDENTIFIER}/twilio-config"
        results = await asyncio.gather(
            *(_signed_post(http, public, path, _voice_params(new_sid("CA"))) for _ in range(n)),
            return_exceptions=True,
        )
    rnd.burst_ms = [r for r in results if isinstance(r, float)]
    rnd.errors += sum(1 for r in results if not isinstance(r, float))


async def _sample(dep: Deployment, stop_event: asyncio.Event) -> None:
    while not stop_event.is_set():
        for server in dep.processes:
            server.monitor.sample()
        await asyncio.sleep(0.25)


async def run_round(dep: Deployment, n: int, args, speech: Speech | None, seed: int) -> Round:
    rnd = Round(layout=dep.name, n=n, load=loadavg())
    rng = random.Random(seed + n)
    public, media = dep.http.url, dep.media.url
    probing = asyncio.Event()
    probe_window = args.probes / args.rate
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    sampler_stop = asyncio.Event()
    sampler = asyncio.create_task(_sample(dep, sampler_stop))
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as http:
        calls = [LeanCall(public, http, media_url=media) for _ in range(n)]

        async def one(k: int, call: LeanCall) -> CallStats:
            await asyncio.sleep(k * args.stagger / max(1, n))

            async def script(c: LeanCall) -> None:
                await probing.wait()
                if speech is not None:
                    await asyncio.sleep(rng.uniform(0, max(0.1, probe_window - speech.seconds)))
                    c.say(speech)

            return await call.run(600.0, script)  # hung up below, once measured

        tasks = [asyncio.create_task(one(k, c)) for k, c in enumerate(calls)]
        deadline = time.monotonic() + args.stagger + 30
        while time.monotonic() < deadline and not all(
            c.stats.connected_at or c.stats.error or c.closed.is_set() for c in calls
        ):
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0 if n else 0.0)  # the greetings play
        probing.set()
        t0 = time.monotonic()
        async with httpx.AsyncClient(timeout=30, trust_env=False) as probe_http:
            await probe_http.get(public + "/healthz")
            probes = []
            for i in range(args.probes):
                delay = t0 + i / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                probes.append(asyncio.create_task(_probe(probe_http, public, rnd)))
            await asyncio.gather(*probes)
        t1 = time.monotonic()
        if args.burst:
            await _burst(public, args.burst, rnd)
        for call in calls:
            call.hangup.set()
        rnd.calls = list(await asyncio.gather(*tasks))
    sampler_stop.set()
    await sampler
    rnd.cpu_percent = [s.monitor.cpu_percent(t0, t1) for s in dep.processes]
    return rnd


def _env(senv: StellarEnv, public: str, **extra: str) -> dict[str, str]:
    env = dict(senv.env)
    env.update(STELLAR_PUBLIC_URL=public, DB_CONN_MAX_AGE="0", DB_POOL_MAX_SIZE="0")
    env.pop("STELLAR_PROCESS_ROLE", None)
    env.update(extra)
    return env


@contextlib.contextmanager
def deployment(name: str, senv: StellarEnv) -> Iterator[Deployment]:
    log = senv.var_dir / f"{name}.log"
    warm = "Speech stack warm"
    if name in ("today", "pool"):
        port = free_port()
        pool = "10" if name == "pool" else "0"
        env = _env(senv, f"http://{LOOPBACK}:{port}", DB_POOL_MAX_SIZE=pool, STELLAR_WARMUP="1")
        server = start_daphne(
            "stellar.asgi:application", env, log, core=SERVER_CORE, port=port, ready_line=warm
        )
        try:
            yield Deployment(name, server, server)
        finally:
            stop(server.proc)
        return
    http_port = free_port()
    public = f"http://{LOOPBACK}:{http_port}"
    media_env = _env(senv, public, DB_POOL_MAX_SIZE="10", STELLAR_WARMUP="1")
    http_env = _env(senv, public, DB_POOL_MAX_SIZE="10", STELLAR_PROCESS_ROLE="http")
    media = start_daphne(
        "stellar.asgi:application", media_env, log, core=SERVER_CORE, ready_line=warm
    )
    try:
        http = start_daphne(
            "stellar.asgi:application",
            http_env,
            senv.var_dir / f"{name}-http.log",
            core=SERVER_CORE,
            port=http_port,
        )
        try:
            yield Deployment(name, http, media)
        finally:
            stop(http.proc)
    finally:
        stop(media.proc)


async def _settle(dep: Deployment) -> None:
    for server in dep.processes:
        await server.settle(timeout=45)


async def run_layout(name: str, senv: StellarEnv, args, ns: list[int], speech) -> list[Round]:
    rounds: list[Round] = []
    with deployment(name, senv) as dep:
        # Warm-up: a call (first greeting, first STT, connections) and a few webhooks.
        await run_round(dep, 1, _Warm(args), speech, seed=0)
        await _settle(dep)
        rss = ", ".join(f"{s.monitor.sample().rss / 1e6:.0f} MB" for s in dep.processes)
        print(f"  {name}: {LAYOUTS[name]}; idle RSS {rss}", flush=True)
        for n in ns:
            r = await run_round(dep, n, args, speech, seed=20)
            rounds.append(r)
            v = pcts(r.voice_ms, (50, 99))
            print(
                f"    N={n}: voice webhook p50 {fmt(v[0])} p99 {fmt(v[1])} ms, "
                f"{r.failed}/{n} calls failed, {r.errors} webhook errors, load {r.load}",
                flush=True,
            )
            if not all(s.alive() for s in dep.processes):
                print("    a server died; stopping this layout")
                break
            await _settle(dep)
    return rounds


class _Warm:
    """The warm-up round's knobs: short, no burst."""

    def __init__(self, args) -> None:
        self.probes, self.rate, self.burst, self.stagger = 5, 10.0, 0, 0.0


def _row(r: Round, base: Round | None) -> list[str]:
    v, s, b = pcts(r.voice_ms, (50, 99)), pcts(r.status_ms, (50, 99)), pcts(r.burst_ms, (50, 99))
    ratio = "-"
    if base is not None and base is not r:
        bv = pcts(base.voice_ms, (99,))[0]
        ratio = fmt(bv / v[1], 1) + "x" if v[1] and not math.isnan(bv) else "-"
    ok = "yes" if max(v[1], s[1], b[1]) < TARGET_P99_MS else "no"
    return [
        r.layout,
        str(r.n),
        *(fmt(x, 1) for x in v),
        *(fmt(x, 1) for x in s),
        *(fmt(x, 1) for x in b),
        ratio,
        ok,
        f"{r.failed}/{r.n}",
        str(r.errors),
        "/".join(fmt(c, 0) for c in r.cpu_percent),
        r.load,
    ]


HEADERS = [
    "layout",
    "calls",
    "voice p50",
    "voice p99",
    "status p50",
    "status p99",
    "burst p50",
    "burst p99",
    "today/this p99",
    "<50ms",
    "failed",
    "wh err",
    "CPU% http/media",
    "load",
]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks webhooks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_args(p)
    p.add_argument("--ns", default="0,20,40,60", help="live calls per round")
    p.add_argument("--layouts", default="today,pool,split", help=f"of {', '.join(LAYOUTS)}")
    p.add_argument("--probes", type=int, default=40, help="voice webhooks (+ callbacks) per round")
    p.add_argument("--rate", type=float, default=8.0, help="probes per second")
    p.add_argument("--burst", type=int, default=50, help="webhooks at once after the probes")
    p.add_argument("--stagger", type=float, default=3.0, help="the calls start within this")
    p.add_argument("--caller", choices=("speech", "silence"), default="speech")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.ns, args.probes, args.burst = "0,8", min(args.probes, 16), min(args.burst, 20)
    ns = [int(x) for x in str(args.ns).split(",") if x.strip()]
    names = [x.strip() for x in args.layouts.split(",") if x.strip()]
    unknown = [x for x in names if x not in LAYOUTS]
    if unknown:
        raise SystemExit(f"unknown layout(s) {unknown}; one of {', '.join(LAYOUTS)}")
    banner(f"webhooks: layouts={names}, calls={ns}, {args.probes} probes/round, burst {args.burst}")
    started = time.monotonic()
    speech = render_caller_lines([CALLER_LINE])[CALLER_LINE] if args.caller == "speech" else None
    pin_self(CLIENT_CORE)
    print(f"  servers pinned to core {SERVER_CORE}; load generator and PostgreSQL to {CLIENT_CORE}")
    results: list[Round] = []
    with database("postgres") as db, stellar_env(db) as senv:
        for name in names:
            results += asyncio.run(run_layout(name, senv, args, ns, speech))
    base = {r.n: r for r in results if r.layout == names[0]}
    print()
    print(table(HEADERS, [_row(r, base.get(r.n)) for r in results]))
    print(
        f"\n  latencies in ms at the load generator; voice = the voice webhook, status = its"
        f" status callback ({args.probes} each per round, {args.rate:g}/s);"
        f"\n  burst = {args.burst} voice webhooks at once. today/this = today's voice p99 over"
        f" this layout's at the same number of calls. <50ms = all three p99 under"
        f" {TARGET_P99_MS:g} ms.\n  CPU% = each server process during the probes (one core ="
        " 100; both processes share one core). Layouts:"
    )
    for name in names:
        print(f"    {name}: {LAYOUTS[name]}")
    print(f"  wall {time.monotonic() - started:.0f} s; load average now {loadavg()}")


if __name__ == "__main__":
    main()
