"""Issue 19: more talking callers than one media process can serve, with and without admission.

One Daphne process (webhook and media, as under `make run`: the in-process capacity board),
speech models loaded, pinned to SERVER_CORE; the load generator on CLIENT_CORE. Callers arrive
one every `--arrival` s; each that is let in talks all the time (a line, the agent's answer,
the line again) until its call ends.

Rounds, each on a fresh server, all in this run:
- baseline: one talking caller alone, the turn latency this machine gives when nothing competes;
- unprotected: N callers with overload admission and the holding line switched off
  (thresholds set out of reach): every caller is let in;
- protected: the same N callers with the defaults (docs/capacity.md): the process reports
  itself overloaded past its thresholds and the webhook gives the rest the overflow rule;
  late answers get the holding line.
The thresholds are the settings' defaults, chosen before this benchmark and not fitted to it.

Reported per round: callers let in / given the overflow rule (and why, from /metrics), caller
turns, and the silence a let-in caller hears after speaking: from their last voiced frame to
the first agent audio (the answer, or the holding line), p50/p95/p99/max, the share of turns
answered within the 1.5 s target (docs/deploy.md), ratios to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from dataclasses import dataclass, field

import httpx

from ._client import CallStats, LeanCall, keep_talking
from ._common import (
    CALLER_LINE,
    CLIENT_CORE,
    SERVER_CORE,
    Server,
    Speech,
    add_common_args,
    banner,
    fmt,
    loadavg,
    pcts,
    pin_self,
    render_caller_lines,
    stellar_env,
    stellar_server,
    table,
)

TARGET_S = 1.5  # turn latency target (docs/deploy.md: talking callers per core)
SILENCE_TARGET_S = 2.0  # the longest a caller should hear nothing after speaking
OFF = "1000000000"


async def _talk(call: LeanCall, speech: Speech) -> None:
    await call.wait_agent_quiet(quiet=0.3, timeout=20.0)  # after the greeting
    await keep_talking(call, speech, answer_timeout=15.0, quiet_timeout=20.0)


@dataclass
class Round:
    name: str
    callers: int
    admitted: list[CallStats] = field(default_factory=list)
    overflowed: int = 0
    failed: int = 0
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def silences(self) -> list[float]:
        """Seconds from each caller turn's last voiced frame to the first agent audio."""
        return [t.latency for c in self.admitted for t in c.turns if t.latency is not None]

    @property
    def unanswered(self) -> int:
        """Turns that ended long enough before the hang-up and got no audio at all."""
        return sum(
            1
            for c in self.admitted
            for t in c.turns
            if t.ended_at is not None
            and t.response_at is None
            and c.ended_at is not None
            and c.ended_at - t.ended_at > SILENCE_TARGET_S
        )


METRIC = re.compile(r'^(stellar_[a-z_]+)(?:\{(?:reason|stage)="([a-z_]+)"\})? ([0-9.e+-]+)$', re.M)
KEPT = (
    "stellar_calls_overflowed_total",
    "stellar_hold_lines_total",
    "stellar_turn_stage_seconds_sum",
    "stellar_turn_stage_seconds_count",
)


async def _scrape(http: httpx.AsyncClient, server: Server) -> dict[str, float]:
    text = (await http.get(server.url + "/metrics")).text
    out: dict[str, float] = {}
    for name, label, value in METRIC.findall(text):
        if name in KEPT:
            out[f"{name}:{label}" if label else name] = float(value)
    return out


def _stages(r: Round) -> str:
    """Where a turn's time went on the server, mean ms per stage (the server's own clock)."""
    parts = []
    for stage in ("endpoint", "stt_wait", "brain", "tts_first"):
        total = r.metrics.get(f"stellar_turn_stage_seconds_sum:{stage}", 0.0)
        count = r.metrics.get(f"stellar_turn_stage_seconds_count:{stage}", 0.0)
        parts.append(f"{stage} {fmt(1000 * total / count, 0) if count else '–'}")
    return ", ".join(parts)


async def run_round(
    name: str, server: Server, speech: Speech, *, callers: int, arrival: float, duration: float
) -> Round:
    result = Round(name, callers)
    limits = httpx.Limits(max_connections=callers + 10, max_keepalive_connections=callers + 10)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as http:

        async def one(k: int) -> LeanCall:
            await asyncio.sleep(k * arrival)
            call = LeanCall(server.url, http)
            await call.run(duration - k * arrival, lambda c: _talk(c, speech))
            return call

        calls = await asyncio.gather(*(one(k) for k in range(callers)))
        result.metrics = await _scrape(http, server)
    for call in calls:
        if call.overflowed:
            result.overflowed += 1
        elif call.stats.error or call.stats.closed_by_server or not call.stats.media_received:
            result.failed += 1
        else:
            result.admitted.append(call.stats)
    return result


def _row(r: Round, base: list[float]) -> list[str]:
    s = r.silences
    p50, p95, p99 = pcts(s, (50, 95, 99)) if s else (float("nan"),) * 3
    top = max(s) if s else float("nan")
    within = 100 * sum(1 for x in s if x <= TARGET_S) / len(s) if s else float("nan")
    b50, b95 = pcts(base, (50, 95)) if base else (float("nan"),) * 2
    reasons = ", ".join(
        f"{k.split(':', 1)[1]} {v:.0f}"
        for k, v in sorted(r.metrics.items())
        if k.startswith("stellar_calls_overflowed_total:") and v
    )
    return [
        r.name,
        f"{len(r.admitted)}/{r.callers}",
        f"{r.overflowed}" + (f" ({reasons})" if reasons else ""),
        str(r.failed),
        str(len(s)),
        f"{fmt(p50 * 1000, 0)} / {fmt(p95 * 1000, 0)} / {fmt(p99 * 1000, 0)} / {fmt(top * 1000, 0)}",
        f"{fmt(within, 0)} %",
        f"{fmt(p50 / b50, 2)} / {fmt(p95 / b95, 2)}",
        f"{r.metrics.get('stellar_hold_lines_total', 0):.0f}",
        str(r.unanswered),
    ]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks overload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_args(p)
    p.add_argument("--callers", type=int, default=30, help="talking callers per round")
    p.add_argument("--arrival", type=float, default=1.0, help="seconds between two arrivals")
    p.add_argument("--duration", type=float, default=90.0, help="seconds of the whole round")
    return p


async def _rounds(args, senv, speech: Speech) -> list[Round]:
    out = []
    plans = [
        ("baseline (1 caller)", 1, {}),
        (
            "unprotected",
            args.callers,
            {
                "STELLAR_OVERLOAD_SPEECH_WAIT_MS": OFF,
                "STELLAR_OVERLOAD_TURN_MS": OFF,
                "STELLAR_OVERLOAD_LOOP_LAG_MS": OFF,
                "STELLAR_HOLD_LINE_AFTER_MS": OFF,
            },
        ),
        ("protected (defaults)", args.callers, {}),
    ]
    for name, callers, env in plans:
        saved = dict(senv.env)
        senv.env.update(env)
        try:
            with stellar_server(senv, name=name.split()[0]) as server:
                print(f"  round {name}: {callers} callers …", flush=True)
                out.append(
                    await run_round(
                        name,
                        server,
                        speech,
                        callers=callers,
                        arrival=args.arrival,
                        duration=args.duration,
                    )
                )
        finally:
            senv.env.clear()
            senv.env.update(saved)
    return out


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.callers, args.arrival, args.duration = 20, 1.0, 40.0
    banner(
        f"overload: {args.callers} talking callers on one process, one every {args.arrival:g} s,"
        f" {args.duration:g} s per round"
    )
    speech = render_caller_lines([CALLER_LINE])[CALLER_LINE]
    pin_self(CLIENT_CORE)
    print(f"  server on core {SERVER_CORE}, callers on core {CLIENT_CORE}; load {loadavg()}")
    with stellar_env() as senv:
        rounds = asyncio.run(_rounds(args, senv, speech))
    base = rounds[0].silences
    headers = [
        "round",
        "let in",
        "overflow (why)",
        "failed",
        "turns",
        "silence after speaking p50/p95/p99/max ms",
        f"≤ {TARGET_S:g} s",
        "p50 / p95 vs baseline",
        "hold lines",
        "unanswered",
    ]
    print(table(headers, [_row(r, base) for r in rounds]))
    print("\n  server-side mean per turn stage (ms):")
    for r in rounds:
        print(f"    {r.name:<22} {_stages(r)}")
    protected = rounds[-1].silences
    if protected:
        top, p99 = max(protected), pcts(protected, (99,))[0]
        verdict = "meets" if top <= SILENCE_TARGET_S else "MISSES"
        print(
            f"\n  protected: longest silence after speaking {top:.2f} s, p99 {p99:.2f} s —"
            f" {verdict} the {SILENCE_TARGET_S:g} s target"
        )
    print(f"  load average at the end {loadavg()} (a shared machine slows every round alike)")
