"""Issue 20: a capacity model from measured CPU costs: processes, cores and machines for a volume.

Measured (the "tune" set), each on its own, with the production process classes:
- A: a media-class Daphne process (speech models loaded) pinned to SERVER_CORE, carrying the
  calls; C: an HTTP-class Daphne (STELLAR_PROCESS_ROLE=http) answering the calls' webhooks;
  B: a Daphne process the supervisors' listen websockets connect to. B and C and the load
  generator share CLIENT_CORE; Redis and PostgreSQL are started here.
- idle: A's CPU with no call.
- silent: N calls of line silence (after their greetings): CPU per call.
- listening: the same N silent calls, each with one supervisor listening on B: the extra CPU on A
  per listened call, and B's CPU per listener (the fan-out).
- talking: N calls, every third one with a caller who says a line, waits for the agent's
  answer, and says it again, all the time (VAD → STT → brain → TTS), the others silent, as in
  a real mix: CPU per caller turn, above the silent calls' CPU.
  (Per turn, not per talking call: how often a caller finishes a sentence is set by the people
  on the line, while a busy process answers later and so does fewer turns per second.)
- webhook: voice webhooks + status callbacks on C: CPU per request.
CPU = utime + stime of the process (/proc): a busy machine changes it less than it changes
latency, but a shared core still makes the speech engines slower per turn (caches, OpenMP
threads), so measure on an idle machine of the kind you deploy.

Model: a media process uses idle + Σ calls × cost(phase) of a core; plan it at `--utilization`
(default 0.7: headroom for bursts and for a restarting neighbour's calls, as docs/deploy.md).
For a volume (`--concurrent`, `--talking`, `--listened`, `--call-minutes`):
  per call = silent + talking·turn / turn-seconds + listened·(listen extra + fan-out)
  media processes = ⌈concurrent · per call / (utilization − idle)⌉ (one per core)
  HTTP processes  = max(2, ⌈requests/s · webhook / utilization⌉, ⌈burst · webhook / burst-ms⌉),
                    requests/s = concurrent / (call-minutes · 60) · 3 (voice webhook, status,
                    connect-ended); a burst of `--burst` webhooks answered within `--burst-ms`
  workers         = ⌈media processes / 4⌉ (finalizing is short; docs/deploy.md)
  machines        = ⌈(media + HTTP + workers) / (cores per machine − 1)⌉ (a core for nginx, OS)
Check (the "report" set, not used to fit): TWO media processes (A and A2, both on SERVER_CORE)
carry a mix of silent and talking calls at once; the model's CPU for them (from the number of
calls and of caller turns in the window) vs the measured sum.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from ._client import CallStats, LeanCall, keep_talking
from ._common import (
    CALLER_LINE,
    CLIENT_CORE,
    LOOPBACK,
    SERVER_CORE,
    Server,
    Speech,
    StellarEnv,
    add_common_args,
    banner,
    fmt,
    free_port,
    loadavg,
    pin_self,
    render_caller_lines,
    start_daphne,
    stellar_env,
    stop,
)
from .listeners import ListenerStats, TimedCall, _listen, _services, _sessions
from .webhooks import Round as WebhookRound
from .webhooks import RoutedCall, _probe

TOLERANCE = 0.20  # the model's CPU for two processes must be within 20 % of the measured
REQUESTS_PER_CALL = 3  # voice webhook, status callback, <Connect action> (connect-ended)
WARM = "Speech stack warm"


class ListenedCall(RoutedCall, TimedCall):
    """A call routed like production (webhook → HTTP class, media → media class) that keeps its
    frames' send times (the listeners' code reads them)."""


@dataclass
class Costs:
    """CPU, in cores (1.0 = one core busy), fitted from the tune set."""

    idle: float
    silent: float  # per call
    turn: float  # core-seconds per caller turn (STT, brain, TTS, the answer's audio)
    listen_extra: float  # per listened call, on the call's process
    fanout: float  # per listener, on the process the supervisor is connected to
    webhook: float  # core-seconds per HTTP request (voice webhook or status callback)

    def per_call(self, talking: float, listened: float, turn_seconds: float) -> float:
        return (
            self.silent
            + talking * self.turn / turn_seconds
            + listened * (self.listen_extra + self.fanout)
        )

    def predict(self, *, processes_idle: float, calls: int, turns_per_second: float) -> float:
        return processes_idle + calls * self.silent + turns_per_second * self.turn


@dataclass
class Stack:
    a: Server  # media class, carries the calls
    b: Server  # listeners' websockets
    c: Server  # HTTP class, webhooks

    def all(self) -> list[Server]:
        return [self.a, self.b, self.c]


def _env(senv: StellarEnv, public: str, **extra: str) -> dict[str, str]:
    env = dict(senv.env)
    env.update(STELLAR_PUBLIC_URL=public, DB_CONN_MAX_AGE="0", DB_POOL_MAX_SIZE="10")
    env.pop("STELLAR_PROCESS_ROLE", None)
    env.update(extra)
    return env


def _media(senv: StellarEnv, public: str, name: str) -> Server:
    env = _env(senv, public, STELLAR_WARMUP="1")
    log = senv.var_dir / f"{name}.log"
    return start_daphne(
        "stellar.asgi:application", env, log, core=SERVER_CORE, ready_line=WARM, ready_timeout=240
    )


@contextlib.contextmanager
def stack(senv: StellarEnv) -> Iterator[Stack]:
    c_port = free_port()
    public = f"http://{LOOPBACK}:{c_port}"
    with contextlib.ExitStack() as es:
        c = start_daphne(
            "stellar.asgi:application",
            _env(senv, public, STELLAR_PROCESS_ROLE="http"),
            senv.var_dir / "http.log",
            core=CLIENT_CORE,
            port=c_port,
        )
        es.callback(stop, c.proc)
        b = start_daphne(
            "stellar.asgi:application",
            _env(senv, public, STELLAR_WARMUP="0"),
            senv.var_dir / "listen.log",
            core=CLIENT_CORE,
        )
        es.callback(stop, b.proc)
        a = _media(senv, public, "media")
        es.callback(stop, a.proc)
        yield Stack(a, b, c)


@dataclass
class Phase:
    name: str
    n: int
    cpu: dict[str, float]  # process name → cores during the window
    failed: int
    window: float
    turns: int  # caller turns that ended in the window

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.window if self.window > 0 else math.nan

    talkers: int = 0

    @property
    def turn_seconds(self) -> float:
        """Seconds between two turns of one talking caller, here."""
        return self.talkers / self.turns_per_second if self.turns else math.nan


async def run_phase(
    name: str,
    servers: dict[str, Server],
    *,
    calls_on: list[Server],
    public: str,
    n: int,
    duration: float,
    speech: Speech | None,
    talking: list[bool],
    listen_via: Server | None = None,
    cookies: list[str] | None = None,
    warm_s: float = 6.0,
) -> Phase:
    """n calls (call k on calls_on[k % len], talking[k] says whether its caller talks),
    measured from `warm_s` after the last one connected (greetings done) to the first hang-up."""
    stop_sampling = asyncio.Event()

    async def sample() -> None:
        while not stop_sampling.is_set():
            for s in servers.values():
                s.monitor.sample()
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as http:

        async def one(k: int) -> CallStats:
            await asyncio.sleep(k * 2.0 / max(1, n))
            call = ListenedCall(public, calls_on[k % len(calls_on)].url, http)
            try:
                await call.connect()
            except Exception as exc:
                call.stats.error = f"{type(exc).__name__}: {exc}"[:300]
                return call.stats
            listener = None
            if listen_via is not None and cookies:
                url = listen_via.url.replace("http", "ws", 1)
                url += f"/v1/live/calls/{call._parameters.get('call_id')}"
                listener = asyncio.create_task(
                    _listen(url, listen_via.url, cookies[k % len(cookies)], call, ListenerStats())
                )
                await asyncio.sleep(0.3)  # the listener joins before the stream starts
            script = None
            if talking[k] and speech is not None:

                async def script(c: LeanCall, offset: float = (k * 0.37) % 2.0) -> None:
                    # After the greeting; offsets spread the callers' turns over the window.
                    await asyncio.sleep(warm_s - 2.0 + offset)
                    await keep_talking(c, speech)

            stats = await call.run(duration, script)
            if listener is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(listener, 10)
            return stats

        calls = list(await asyncio.gather(*(one(k) for k in range(n))))
    stop_sampling.set()
    await sampler
    connected = [c.connected_at for c in calls if c.connected_at]
    ended = [c.ended_at for c in calls if c.ended_at]
    cpu: dict[str, float] = {}
    window, turns = 0.0, 0
    if connected and ended:
        t0, t1 = max(connected) + warm_s, min(ended) - 0.5
        window = t1 - t0
        cpu = {k: s.monitor.cpu_percent(t0, t1) / 100 for k, s in servers.items()}
        turns = sum(
            1 for c in calls for t in c.turns if t.ended_at is not None and t0 <= t.ended_at < t1
        )
    failed = sum(1 for c in calls if c.error or c.closed_by_server or not c.media_received)
    return Phase(name, n, cpu, failed, window, turns, sum(talking))


async def _idle(server: Server, seconds: float = 4.0) -> float:
    a = server.monitor.sample()
    await asyncio.sleep(seconds)
    b = server.monitor.sample()
    return (b.cpu - a.cpu) / (b.at - a.at)


async def _webhook_cost(c: Server, probes: int) -> float:
    """Core-seconds per request on the HTTP-class process (voice webhook + status callback)."""
    rnd = WebhookRound(layout="capacity", n=0)
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        await _probe(http, c.url, rnd)  # warm
        rnd = WebhookRound(layout="capacity", n=0)
        a = c.monitor.sample()
        for _ in range(probes):
            await _probe(http, c.url, rnd)
        b = c.monitor.sample()
    requests = len(rnd.voice_ms) + len(rnd.status_ms)
    return (b.cpu - a.cpu) / requests if requests else math.nan


async def measure(args, senv: StellarEnv, speech: Speech, cookies: list[str]):
    n, d = args.calls, args.duration
    with stack(senv) as st:
        public = st.c.url
        servers = {"A": st.a, "B": st.b}
        common = {"public": public, "duration": d, "speech": speech}
        await run_phase("warm-up", servers, calls_on=[st.a], n=2, talking=[True, False], **common)
        for s in st.all():
            await s.settle(timeout=45)
        idle = await _idle(st.a)
        phases = []
        for name, talks, listen in (
            ("silent", [False] * n, False),
            ("listening", [False] * n, True),
            ("talking", [k % 3 == 0 for k in range(n)], False),
        ):
            p = await run_phase(
                name,
                servers,
                calls_on=[st.a],
                n=n,
                talking=talks,
                listen_via=st.b if listen else None,
                cookies=cookies,
                **common,
            )
            phases.append(p)
            print(
                f"  {name}: {n} calls, A {fmt(p.cpu.get('A', math.nan) * 100, 0)}% CPU,"
                f" B {fmt(p.cpu.get('B', math.nan) * 100, 0)}%, {p.failed} failed,"
                f" window {p.window:.0f} s, load {loadavg()}",
                flush=True,
            )
            await st.a.settle(timeout=60)
        webhook = await _webhook_cost(st.c, args.probes)
        by = {p.name: p for p in phases}
        b_base = by["silent"].cpu.get("B", 0.0)
        costs = Costs(
            idle=idle,
            silent=max(0.0, by["silent"].cpu["A"] - idle) / n,
            turn=max(0.0, by["talking"].cpu["A"] - by["silent"].cpu["A"])
            / by["talking"].turns_per_second,  # the same n calls, some of them talking
            listen_extra=max(0.0, by["listening"].cpu["A"] - by["silent"].cpu["A"]) / n,
            fanout=max(0.0, by["listening"].cpu.get("B", 0.0) - b_base) / n,
            webhook=webhook,
        )
        # The check: a second media process on the same core; the mix split over both.
        a2 = _media(senv, public, "media-2")
        try:
            # Like A before the tune set: a first call (first STT, first answer) and quiet.
            await run_phase(
                "warm-up", {"A2": a2}, calls_on=[a2], n=2, talking=[True, False], **common
            )
            await a2.settle(timeout=45)
            await st.a.settle(timeout=45)
            idle2 = await _idle(a2)
            m = args.check_calls
            # 25 % talk, on both processes (call k runs on A for even k, on A2 for odd k).
            talking = [k % 8 in (0, 1) for k in range(m)]
            check = await run_phase(
                "check",
                {"A": st.a, "A2": a2},
                calls_on=[st.a, a2],
                n=m,
                talking=talking,
                **common,
            )
        finally:
            stop(a2.proc)
        predicted = costs.predict(
            processes_idle=idle + idle2, calls=m, turns_per_second=check.turns_per_second
        )
        measured = check.cpu.get("A", math.nan) + check.cpu.get("A2", math.nan)
        return costs, by["talking"], check, predicted, measured, talking.count(True)


def plan(costs: Costs, args) -> list[tuple[str, str]]:
    per_call = costs.per_call(args.talking, args.listened, args.turn_seconds)
    usable = args.utilization - costs.idle
    calls_per_process = usable / per_call if per_call > 0 else math.inf
    media = math.ceil(args.concurrent / calls_per_process) if per_call > 0 else 1
    rps = args.concurrent / (args.call_minutes * 60) * REQUESTS_PER_CALL
    steady = math.ceil(rps * costs.webhook / args.utilization)
    # A burst of B webhooks at once is answered within T only if B x the cost fits in T on the
    # HTTP class's cores (each webhook runs on one core; one process per core).
    burst = math.ceil(args.burst * costs.webhook / (args.burst_ms / 1000))
    http = max(2, steady, burst)
    workers = max(1, math.ceil(media / 4))
    cores = media + http + workers
    machines = math.ceil(cores / max(1, args.cores_per_machine - 1))
    memory = media * (0.8 + calls_per_process * 0.002) + http * 0.25 + workers * 0.3
    return [
        ("CPU per call (mix)", f"{per_call * 100:.2f} % of a core"),
        ("calls per media process", f"{calls_per_process:.0f} (at {args.utilization:.0%} CPU)"),
        ("media processes (= cores)", str(media)),
        ("webhook + callback requests/s", f"{rps:.1f}"),
        (
            "HTTP-class processes (= cores)",
            f"{http} (steady load {steady}; a burst of {args.burst} within {args.burst_ms:g} ms"
            f" {burst}; ≥ 2 for failover)",
        ),
        ("Celery workers", str(workers)),
        ("cores", str(cores)),
        (f"machines of {args.cores_per_machine} cores", f"{machines} (one core each left over)"),
        ("memory, all processes", f"≈ {memory:.0f} GB (+ PostgreSQL, Redis)"),
    ]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks capacity",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_args(p)
    g = p.add_argument_group("the volume to plan for")
    g.add_argument("--concurrent", type=int, default=1000, help="calls at the busy hour's peak")
    g.add_argument("--talking", type=float, default=0.4, help="share of calls talking at a time")
    g.add_argument("--listened", type=float, default=0.05, help="share with a supervisor on")
    g.add_argument("--call-minutes", type=float, default=3.0, help="mean call length")
    g.add_argument(
        "--turn-seconds",
        type=float,
        default=8.0,
        help="seconds from one caller sentence to the next in a talking call (their sentence,"
        " the agent's answer, pauses)",
    )
    g.add_argument("--utilization", type=float, default=0.7, help="plan a core at this CPU")
    g.add_argument("--cores-per-machine", type=int, default=16)
    g.add_argument("--burst", type=int, default=50, help="webhooks arriving at once")
    g.add_argument("--burst-ms", type=float, default=50.0, help="…all answered within this")
    m = p.add_argument_group("the measurement")
    m.add_argument("--calls", type=int, default=12, help="calls per measured phase")
    m.add_argument("--check-calls", type=int, default=16, help="calls over two processes")
    m.add_argument("--duration", type=float, default=36.0, help="seconds per call")
    m.add_argument("--probes", type=int, default=60, help="webhook + callback pairs")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.calls, args.check_calls, args.duration, args.probes = 4, 6, 16.0, 20
    banner(
        f"capacity: {args.calls} calls per phase, {args.duration:g} s each; check with"
        f" {args.check_calls} calls on two processes"
    )
    started = time.monotonic()
    speech = render_caller_lines([CALLER_LINE])[CALLER_LINE]
    pin_self(CLIENT_CORE)
    with _services() as (extra, where):
        print(f"  calls' processes on core {SERVER_CORE}; others on {CLIENT_CORE}; {where}")
        with stellar_env(extra) as senv:
            cookies = _sessions(senv, 4)
            costs, talking, check, predicted, measured, talkers = asyncio.run(
                measure(args, senv, speech, cookies)
            )
    print("\n  measured CPU costs (1 core = 100 %):")
    print(f"    idle media process          {costs.idle * 100:6.2f} %")
    print(f"    silent call                 {costs.silent * 100:6.2f} % per call")
    print(
        f"    caller turn                 {costs.turn * 1000:6.0f} ms of CPU per turn"
        f" (here a talking caller took a turn every {fmt(talking.turn_seconds)} s)"
    )
    print(f"    supervisor listening        {costs.listen_extra * 100:6.2f} % per listened call")
    print(f"      + fan-out to the listener {costs.fanout * 100:6.2f} % per listener")
    print(f"    webhook / callback          {costs.webhook * 1000:6.2f} ms of CPU per request")
    error = (predicted - measured) / measured if measured else math.nan
    ok = not math.isnan(error) and abs(error) <= TOLERANCE
    print(
        f"\n  check (not used to fit): two media processes on one core, {check.n} calls"
        f" ({talkers} talking, {check.turns} turns), {check.failed} failed,"
        f" window {check.window:.0f} s:"
        f"\n    model {predicted * 100:.1f} % CPU, measured {measured * 100:.1f} %"
        f" (A {fmt(check.cpu.get('A', math.nan) * 100, 1)} + A2"
        f" {fmt(check.cpu.get('A2', math.nan) * 100, 1)}): error {fmt(error * 100, 1)} %"
        f" — {'within' if ok else 'NOT within'} {TOLERANCE:.0%}"
    )
    print(
        f"\n  plan for {args.concurrent} concurrent calls, {args.talking:.0%} talking (a turn"
        f" every {args.turn_seconds:g} s), {args.listened:.0%} listened,"
        f" {args.call_minutes:g} min per call:"
    )
    for label, value in plan(costs, args):
        print(f"    {label:<32} {value}")
    print(
        "\n  assumptions: CPU is the limit (memory ≈ 0.8 GB per media process + 2 MB per call);"
        " a call's phases add up linearly; one media process per core;\n  webhooks at an even"
        " rate (a burst of B webhooks needs B x the webhook cost of an HTTP process's core at"
        " once); the load generator, B and C shared a core,\n  so a busy machine (load below)"
        " inflates the costs a little. Measured with the embedded speech stack (Whisper, Piper)."
    )
    print(f"  wall {time.monotonic() - started:.0f} s; load average now {loadavg()}")


if __name__ == "__main__":
    main()
