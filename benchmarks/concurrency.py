"""Issue 4: how many simultaneous calls one Daphne process on one core carries.

N simulated calls (ramp, e.g. 20/40/60/80) against ONE Stellar Daphne pinned to one core
(`taskset -c 1`), the load generator pinned to the other. Each call: signed webhook → media
stream → 20 s of caller media (line silence plus one pre-rendered caller line) while the
agent speaks its greeting and answers; the server runs VAD and spools every call.

Measured at the client:
- pacing lag of the agent's outbound frames: arrival − (first frame of the utterance +
  i·20 ms). The server sends up to 40 ms ahead, so on time reads ≈ −40 ms; > 0 means the
  frame arrived after the phone needed it (an audible gap).
- jitter: the same minus the utterance's best (lowest) lag, i.e. spread ≥ 0.
- webhook latency, failed/dropped calls; server CPU% and RSS per call from /proc.
Baseline in the same run: benchmarks/echo_server.py (bare Daphne + Channels consumer that
parses each media frame and echoes one back), echo round-trip p50/p95/p99 at the same N.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
from dataclasses import dataclass, field

import httpx

from ._client import CallStats, LeanCall, jitter_ms, lags_ms, send_lag_ms
from ._common import (
    CALLER_LINE,
    CLIENT_CORE,
    SERVER_CORE,
    Server,
    add_common_args,
    banner,
    database,
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


@dataclass
class Round:
    n: int
    kind: str  # "stellar" or "echo"
    calls: list[CallStats] = field(default_factory=list)
    cpu_percent: float = math.nan
    others_percent: float = math.nan
    rss_per_call: float = math.nan
    gen_cpu_percent: float = math.nan
    wall: float = 0.0
    load: str = ""

    @property
    def failed(self) -> list[CallStats]:
        bad = []
        for c in self.calls:
            no_audio = self.kind == "stellar" and c.media_received == 0
            if c.error or c.closed_by_server or no_audio:
                bad.append(c)
        return bad

    def failure_reasons(self) -> dict[str, int]:
        reasons: dict[str, int] = {}
        for c in self.failed:
            if c.error:
                key = c.error.split(":")[0] + (
                    ": " + c.error.split(":")[1][:40] if ":" in c.error else ""
                )
            elif c.closed_by_server:
                key = "server closed the stream"
            else:
                key = "no agent audio"
            reasons[key] = reasons.get(key, 0) + 1
        return reasons

    def lags_ms(self, which: str = "all") -> list[float]:
        return lags_ms(self.calls, which)

    def gap_ms_per_min(self) -> float:
        """Audible gaps (phone playout model) per minute of agent audio, ms."""
        audio = sum(len(u.arrivals) for c in self.calls for u in c.utts) * 0.02 / 60
        gaps = sum(g for c in self.calls for u in c.utts for g in u.gaps()) * 1000
        return gaps / audio if audio else math.nan

    def jitter_ms(self) -> list[float]:
        return jitter_ms(self.calls)

    def rtts_ms(self) -> list[float]:
        return [r * 1000 for c in self.calls for r in c.rtts]

    def webhook_ms(self) -> list[float]:
        return [c.webhook_latency * 1000 for c in self.calls if c.webhook_latency is not None]

    def send_lag_ms(self) -> list[float]:
        return send_lag_ms(self.calls)


async def _monitor(server: Server, stop_event: asyncio.Event) -> None:
    while not stop_event.is_set():
        server.monitor.sample()
        await asyncio.sleep(0.25)
    server.monitor.sample()


async def run_round(
    server: Server,
    n: int,
    *,
    duration: float,
    stagger: float,
    echo: bool,
    speech=None,
    idle_rss: int = 0,
    seed: int = 4,
) -> Round:
    rnd = random.Random(seed + n)
    result = Round(n=n, kind="echo" if echo else "stellar", load=loadavg())
    stop_event = asyncio.Event()
    monitor = asyncio.create_task(_monitor(server, stop_event))
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    gen_cpu0, t_start = self_cpu_seconds(), time.monotonic()
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as http:

        async def one(k: int) -> CallStats:
            await asyncio.sleep(k * stagger / max(1, n))
            call = LeanCall(server.url, http, echo=echo)
            script = None
            if speech is not None and not echo:
                speak_at = rnd.uniform(5.0, max(5.5, duration - speech.seconds - 5.0))

                async def script(c: LeanCall, at=speak_at) -> None:
                    await asyncio.sleep(at)
                    c.say(speech)

            return await call.run(duration, script)

        result.calls = list(await asyncio.gather(*(one(k) for k in range(n))))
    stop_event.set()
    await monitor
    result.wall = time.monotonic() - t_start
    result.gen_cpu_percent = 100 * (self_cpu_seconds() - gen_cpu0) / result.wall
    connected = [c.connected_at for c in result.calls if c.connected_at]
    ended = [c.ended_at for c in result.calls if c.ended_at]
    if connected and ended:
        t0, t1 = max(connected) + 0.5, min(ended) - 0.5
        if t1 - t0 < 1.0:  # ramp longer than the calls: use the whole round
            t0, t1 = min(connected), max(ended)
        result.cpu_percent = server.monitor.cpu_percent(t0, t1)
        result.others_percent = server.monitor.others_percent(t0, t1)
        rss = server.monitor.max_rss(t0, t1)
        if rss and idle_rss:
            result.rss_per_call = (rss - idle_rss) / n
    return result


async def webhook_burst(server: Server, n: int) -> list[float]:
    """n signed voice webhooks at once (each a new CallSid); latencies in ms."""
    limits = httpx.Limits(max_connections=n + 5, max_keepalive_connections=n + 5)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as http:
        # Open the connections first so the burst measures the server, not TCP set-up.
        await asyncio.gather(*(http.get(server.url + "/healthz") for _ in range(n)))

        async def one() -> float | None:
            call = LeanCall(server.url, http)
            try:
                await call._webhook()
            except Exception:
                return None
            return call.stats.webhook_latency * 1000

        values = await asyncio.gather(*(one() for _ in range(n)))
    return [v for v in values if v is not None]


def _row(st: Round, echo: Round | None) -> list[str]:
    lag = pcts(st.lags_ms())
    jit = pcts(st.jitter_ms(), (99,))[0]
    late = st.lags_ms()
    late_pct = 100 * sum(1 for v in late if v > 0) / len(late) if late else math.nan
    e = pcts(echo.rtts_ms()) if echo else [math.nan] * 3
    ratio = jit / e[2] if echo and e[2] and not math.isnan(e[2]) else math.nan
    wh = pcts(st.webhook_ms(), (50, 99))
    greet, later = pcts(st.lags_ms("greeting"), (99,))[0], pcts(st.lags_ms("later"), (99,))[0]
    gen = pcts(st.send_lag_ms(), (99,))[0]
    return [
        str(st.n),
        *(fmt(v, 1) for v in lag),
        fmt(jit, 1),
        f"{fmt(greet, 0)}/{fmt(later, 0)}",
        fmt(late_pct, 2),
        fmt(st.gap_ms_per_min(), 0),
        *(fmt(v, 2) for v in e),
        fmt(ratio, 1),
        f"{len(st.failed)}/{st.n}",
        f"{fmt(st.cpu_percent, 0)}/{fmt(st.others_percent, 0)}",
        f"{fmt(echo.cpu_percent, 0)}/{fmt(echo.others_percent, 0)}" if echo else "-",
        fmt(st.rss_per_call / 1e6, 2),
        *(fmt(v, 0) for v in wh),
        f"{fmt(st.gen_cpu_percent, 0)}/{fmt(gen, 0)}",
    ]


HEADERS = [
    "N",
    "lag p50",
    "lag p95",
    "lag p99",
    "jit p99",
    "p99 greet/later",
    "late%",
    "gap ms/min",
    "echo p50",
    "echo p95",
    "echo p99",
    "jit99/echo99",
    "failed",
    "CPU/others%",
    "echo CPU/others%",
    "MB/call",
    "wh p50",
    "wh p99",
    "gen CPU%/lag99",
]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks concurrency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_args(p)
    p.add_argument("--ns", default="20,40,60,80", help="concurrent calls per round")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of media per call")
    p.add_argument("--stagger", type=float, default=2.0, help="calls start spread over this")
    p.add_argument(
        "--caller",
        choices=("speech", "silence"),
        default="speech",
        help="speech: each call says one line (VAD→STT→brain→TTS run); silence: line only",
    )
    p.add_argument(
        "--db",
        choices=("auto", "sqlite", "postgres"),
        default="auto",
        help="auto: DATABASE_URL if set, else SQLite; postgres: DATABASE_URL or one started here",
    )
    p.add_argument("--no-echo", action="store_true", help="skip the echo baseline")
    p.add_argument(
        "--lookahead",
        type=float,
        help="experiment: seconds PacedSender sends ahead (benchmarks/tweaked_asgi.py)",
    )
    p.add_argument(
        "--switch-interval", type=float, help="experiment: the server's sys.setswitchinterval"
    )
    p.add_argument("--burst", type=int, default=50, help="concurrent webhooks in the burst")
    return p


async def _stellar_rounds(args, ns: list[int], speech) -> tuple[list[Round], list[float], str]:
    tweaks = {}
    if args.lookahead is not None:
        tweaks["STELLAR_BENCH_LOOKAHEAD"] = str(args.lookahead)
    if args.switch_interval is not None:
        tweaks["STELLAR_BENCH_SWITCH_INTERVAL"] = str(args.switch_interval)
    with (
        database(args.db) as db,
        stellar_env(db) as senv,
        stellar_server(senv, tweaks=tweaks) as server,
    ):
        print(f"  database: {senv.database}" + (f"; server tweaks: {tweaks}" if tweaks else ""))
        # Warm-up call: first greeting render, first STT, DB connections.
        await run_round(server, 1, duration=8.0, stagger=0, echo=False, speech=speech)
        await server.settle()
        idle_rss = server.monitor.sample().rss
        rounds = []
        for n in ns:
            r = await run_round(
                server,
                n,
                duration=args.duration,
                stagger=args.stagger,
                echo=False,
                speech=speech,
                idle_rss=idle_rss,
            )
            rounds.append(r)
            print(f"  stellar N={n}: {len(r.failed)} failed, load {r.load}", flush=True)
            for reason, count in sorted(r.failure_reasons().items()):
                print(f"    {count} × {reason}")
            if not server.alive():
                print("  server died; stopping the ramp")
                break
            waited = await server.settle(timeout=45)
            if waited > 2.5:
                print(f"    server still busy after the calls ended: idle after {waited:.0f} s")
        burst = await webhook_burst(server, args.burst) if args.burst else []
        errors = server.log.read_text(errors="replace").count(" ERROR ")
        return (
            rounds,
            burst,
            f"{errors} ERROR lines in the server log, idle RSS {idle_rss / 1e6:.0f} MB",
        )


async def _echo_rounds(args, ns: list[int], env_dir) -> list[Round]:
    log = env_dir / "echo.log"
    server = start_daphne("benchmarks.echo_server:application", {}, log, core=SERVER_CORE)
    try:
        await run_round(server, 1, duration=2.0, stagger=0, echo=True)
        idle_rss = server.monitor.sample().rss
        rounds = []
        for n in ns:
            r = await run_round(
                server,
                n,
                duration=args.duration,
                stagger=args.stagger,
                echo=True,
                idle_rss=idle_rss,
            )
            rounds.append(r)
            print(f"  echo N={n}: {len(r.failed)} failed, load {r.load}", flush=True)
            await asyncio.sleep(1.0)
        return rounds
    finally:
        stop(server.proc)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.ns, args.duration, args.burst = "4,8", min(args.duration, 9.0), min(args.burst, 10)
    ns = [int(x) for x in str(args.ns).split(",") if x.strip()]
    banner(f"concurrency: N={ns}, {args.duration:g} s per call, caller={args.caller}")
    t0 = time.monotonic()
    speech = None
    if args.caller == "speech":
        speech = render_caller_lines([CALLER_LINE])[CALLER_LINE]
    pin_self(CLIENT_CORE)
    print(f"  server pinned to core {SERVER_CORE}, load generator to core {CLIENT_CORE}")
    rounds, burst, note = asyncio.run(_stellar_rounds(args, ns, speech))
    echoes: list[Round] = []
    if not args.no_echo:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="stellar-echo-") as tmp:
            echoes = asyncio.run(_echo_rounds(args, ns, Path(tmp)))
    by_n = {r.n: r for r in echoes}
    print()
    print(table(HEADERS, [_row(r, by_n.get(r.n)) for r in rounds]))
    print(
        "\n  lag = arrival − (utterance's first frame + i·20 ms), ms; the server sends 40 ms"
        " ahead, so on time ≈ −40 and > 0 is a gap the caller hears. late% = frames with lag > 0."
        "\n  greet/later = lag p99 of the greetings (played while the other calls connect) and of"
        " everything said after them. gap ms/min = silence the phone inserts per minute of"
        " agent audio\n  (it plays frames as they arrive, so each stall is heard once even when"
        " the lag that follows persists)."
        "\n  jit = lag − the utterance's best lag (spread; includes the send-ahead burst at the start). echo = media round trip through the"
        " bare Channels echo consumer (same core pinning). CPU% = server process, one core = 100;"
        "\n  others% = how much of the server's core other processes used meanwhile (> a few %:"
        " the machine was busy, the numbers are not the server's alone)."
        "\n  MB/call = (RSS during the round − idle RSS) / N. wh = webhook latency during the ramp."
        "\n  gen = load generator CPU% and its own send-schedule lag p99 (ms): if high, the"
        " numbers above are the generator's, not the server's."
    )
    if burst:
        b = pcts(burst, (50, 95, 99))
        print(
            f"\n  webhook burst: {len(burst)}/{args.burst} answered, {args.burst} at once:"
            f" p50 {fmt(b[0])} ms, p95 {fmt(b[1])} ms, p99 {fmt(b[2])} ms (target p99 < 50 ms)"
        )
    print(f"  {note}")
    print(f"  wall {time.monotonic() - t0:.0f} s; load average now {loadavg()}")
    target = [r for r in rounds if r.n >= 60]
    if target:
        r = target[0]
        p99 = pcts(r.lags_ms(), (99,))[0]
        print(
            f"  target (≥60 calls, lag p99 < 20 ms, none failed): N={r.n} lag p99 "
            f"{fmt(p99)} ms, failed {len(r.failed)}"
        )


if __name__ == "__main__":
    main()
