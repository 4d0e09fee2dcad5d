"""Issue 5: turn latency on the embedded stack, and how many talking callers one core holds.

Turn latency = the caller's last voiced frame sent → the agent's first audio frame received
(loopback, so ≈ what the server adds). The demo agent (stellar_demo) answers knowledge
questions; caller lines are rendered once with Piper before the run.

1. Latency: one call, K turns (the caller asks, waits for the answer to play, asks again).
2. Capacity: N calls whose callers talk continuously (ask again as soon as the answer has
   played), N = 1, 2, 4, 6, 8, … until turn latency p95 passes 1.5 s.
3. Stages (end-pointing, STT, brain, TTS first chunk): from `turn_timing` CallEvents when the
   server records them; otherwise measured offline here with the same models on the server's
   core (server stopped), and combined the way calls/runtime/session.py chains them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from dataclasses import dataclass, field

import httpx

from ._client import CallerTurn, LeanCall
from ._common import (
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

LINES = [
    "What are your opening hours?",
    "Where is your office?",
    "How much does delivery cost?",
]
STAGE_KEYS = ("endpoint_ms", "stt_ms", "brain_ms", "tts_first_ms", "total_ms")
P95_LIMIT = 1.5


@dataclass
class TurnRound:
    n: int
    turns: list[CallerTurn] = field(default_factory=list)
    unanswered: int = 0
    failed: int = 0
    cpu: float = math.nan
    others: float = math.nan
    load: str = ""

    def latencies(self) -> list[float]:
        return [t.latency for t in self.turns if t.latency is not None]


async def _talker(call: LeanCall, lines: list[Speech], max_turns: int, offset: int) -> None:
    """Ask, wait for the answer to play out, ask again (continuously)."""
    if not await call.wait_agent_quiet(quiet=0.3, timeout=20):
        return
    for i in range(max_turns):
        turn = call.say(lines[(i + offset) % len(lines)])
        await call.wait_sent(turn)
        await call.wait_response(turn, timeout=10)
        await call.wait_agent_quiet(quiet=0.3, timeout=30)


async def run_turn_round(
    server: Server, n: int, *, duration: float, lines: list[Speech], max_turns: int = 1000
) -> TurnRound:
    result = TurnRound(n=n, load=loadavg())
    stop_event = asyncio.Event()

    async def monitor() -> None:
        while not stop_event.is_set():
            server.monitor.sample()
            await asyncio.sleep(0.25)

    mon = asyncio.create_task(monitor())
    t0 = time.monotonic()
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:

        async def one(k: int):
            await asyncio.sleep(k * 0.37)
            call = LeanCall(server.url, http)

            async def script(c: LeanCall) -> None:
                await _talker(c, lines, max_turns, k)

            return await call.run(duration, script)

        calls = await asyncio.gather(*(one(k) for k in range(n)))
    stop_event.set()
    await mon
    server.monitor.sample()
    result.cpu = server.monitor.cpu_percent(t0 + 3, time.monotonic() - 1)
    result.others = server.monitor.others_percent(t0 + 3, time.monotonic() - 1)
    for c in calls:
        if c.error or c.closed_by_server:
            result.failed += 1
        for t in c.turns:
            if t.ended_at is None:
                continue
            if c.ended_at and t.ended_at > c.ended_at - 3.0 and t.response_at is None:
                continue  # asked just before the hang-up: no time to answer
            result.turns.append(t)
            result.unanswered += t.response_at is None
    return result


def _row(r: TurnRound) -> list[str]:
    lat = [v * 1000 for v in r.latencies()]
    p50, p95, p99 = pcts(lat)
    return [
        str(r.n),
        str(len(r.turns)),
        fmt(p50, 0),
        fmt(p95, 0),
        fmt(max(lat) if lat else None, 0),
        str(r.unanswered),
        str(r.failed),
        f"{fmt(r.cpu, 0)}/{fmt(r.others, 0)}",
        r.load,
    ]


def server_stages(senv) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per-stage values from `turn_timing` CallEvents, if the server records them: for the
    single-call phase (the second call; the first is the warm-up) and for the ramp."""
    raw = senv.tool("calls", "--events").strip().splitlines()[-1]
    single: dict[str, list[float]] = {}
    ramp: dict[str, list[float]] = {}
    for index, call in enumerate(json.loads(raw)):
        stages = single if index == 1 else ramp if index > 1 else {}
        for event in call.get("events", []):
            if event["kind"] != "turn_timing":
                continue
            for key, value in event["data"].items():
                if isinstance(value, bool):  # e.g. speculative_stt: shown as a share
                    stages.setdefault(f"{key} %", []).append(100.0 * value)
                elif isinstance(value, int | float):
                    stages.setdefault(key, []).append(float(value))
    return single, ramp


def _stage_rows(stages: dict[str, list[float]]) -> list[list[str]]:
    rows = []
    for key, values in sorted(stages.items()):
        if key.endswith(" %"):
            rows.append([key, str(len(values)), fmt(sum(values) / len(values), 0), "(share)"])
        else:
            rows.append([key, str(len(values)), *(fmt(x, 0) for x in pcts(values, (50, 95)))])
    return rows


async def _brain_once(snapshot: dict, text: str) -> None:
    from agents.engine import CallContext, Conversation

    async for _event in Conversation(snapshot, CallContext()).turn(text):
        pass


def offline_stages(snapshot: dict, lines: dict[str, Speech]) -> list[list[str]]:
    """Each stage measured here, on the server's core, with the server's models and config."""
    import numpy as np

    from agents.engine import CallContext, Conversation, Speak
    from agents.speech.endpointer import (
        CALL_ENDPOINTING,
        Endpointer,
        SpeechPaused,
        UtteranceEnded,
    )
    from agents.speech.registry import get_stt, get_tts, get_vad

    pin_self(SERVER_CORE)
    stt, tts = get_stt(), get_tts()
    conv0 = Conversation(snapshot, CallContext())
    make_prompt = getattr(conv0, "vocabulary_prompt", None)
    prompt = make_prompt() if callable(make_prompt) else None
    asyncio.run(_brain_once(snapshot, "hello"))  # imports and caches: not part of a turn
    rows = []
    for speech in lines.values():
        pcm = np.concatenate([np.asarray(speech.pcm, dtype=np.int16), np.zeros(8000, np.int16)])
        ep = Endpointer(get_vad().new_stream(), CALL_ENDPOINTING)
        voiced_end_ms = (speech.last_voiced + 1) * 20
        paused_ms = ended_ms = None
        audio = None
        for i in range(0, len(pcm) - 159, 160):
            for event in ep.feed(pcm[i : i + 160], i // 8):
                if isinstance(event, SpeechPaused):
                    paused_ms = (i // 8 + 20) - voiced_end_ms  # after the last pause
                elif isinstance(event, UtteranceEnded) and ended_ms is None:
                    ended_ms = (i // 8 + 20) - voiced_end_ms
                    audio = event.audio
            if ended_ms is not None:
                break
        if audio is None:
            continue
        stt_times, text = [], ""
        for _ in range(3):
            started = time.perf_counter()
            text = stt.transcribe(audio, 8000, prompt)
            stt_times.append(time.perf_counter() - started)
        stt_ms = min(stt_times) * 1000  # best of 3: the model's cost, not the neighbours'

        async def brain(text=text):
            conv = Conversation(snapshot, CallContext())
            started = time.perf_counter()
            async for event in conv.turn(text):
                if isinstance(event, Speak):
                    return (time.perf_counter() - started) * 1000, event.text
            return (time.perf_counter() - started) * 1000, ""

        brain_ms, answer = asyncio.run(brain())
        tts_times = []
        for _ in range(3):
            started = time.perf_counter()
            next(iter(tts.synthesize_stream(answer or "Sorry?")), None)
            tts_times.append(time.perf_counter() - started)
        tts_ms = min(tts_times) * 1000
        # calls/runtime/session.py: speculative STT starts at SpeechPaused, the turn at UtteranceEnded.
        stt_wait = max(0.0, (paused_ms or 0) + stt_ms - ended_ms)
        cold = ended_ms + stt_wait + brain_ms + tts_ms
        warm = ended_ms + stt_wait + brain_ms
        rows.append(
            [
                f"“{speech.text}” → “{text}”",
                fmt(ended_ms, 0),
                fmt(paused_ms, 0),
                fmt(stt_ms, 0),
                fmt(stt_wait, 0),
                fmt(brain_ms, 2),
                fmt(tts_ms, 0),
                fmt(warm, 0),
                fmt(cold, 0),
            ]
        )
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks turns",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_args(p)
    p.add_argument("--turns", type=int, default=8, help="turns of the single-call phase")
    p.add_argument("--ns", default="1,2,4,6,8,10,12", help="talking callers per capacity round")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per capacity round")
    p.add_argument("--no-offline", action="store_true", help="skip the offline stage timing")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    return p


async def _phases(args, server: Server, lines: list[Speech], ns: list[int]):
    await run_turn_round(server, 1, duration=8.0, lines=lines, max_turns=1)  # warm-up
    await server.settle()
    single = await run_turn_round(
        server, 1, duration=6.0 + args.turns * 9.0, lines=lines, max_turns=args.turns
    )
    print(f"  single call: {len(single.turns)} turns, load {single.load}", flush=True)
    await server.settle()
    ramp = []
    for n in ns:
        r = await run_turn_round(server, n, duration=args.duration, lines=lines)
        ramp.append(r)
        p95 = pcts(r.latencies(), (95,))[0]
        print(
            f"  N={n}: {len(r.turns)} turns, p95 {fmt(p95 * 1000, 0)} ms, load {r.load}", flush=True
        )
        if not (p95 <= P95_LIMIT) or r.unanswered > len(r.turns) // 4:
            break
        await server.settle()
    return single, ramp


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.turns, args.ns, args.duration = 3, "1,2", 14.0
    ns = [int(x) for x in str(args.ns).split(",") if x.strip()]
    banner(f"turns: {args.turns} turns on one call, then talking callers N={ns}")
    t0 = time.monotonic()
    rendered = render_caller_lines(LINES)
    lines = [rendered[t] for t in LINES]
    pin_self(CLIENT_CORE)
    with stellar_env(keep=args.keep) as senv:
        if args.keep:
            print(f"  server logs: {senv.var_dir}")
        with stellar_server(senv) as server:
            single, ramp = asyncio.run(_phases(args, server, lines, ns))
            stt_runs = server.log.read_text(errors="replace").count("Processing audio with")
        single_stages, ramp_stages = server_stages(senv)
        snapshot = json.loads(senv.tool("snapshot").strip().splitlines()[-1])
    lat = [v * 1000 for v in single.latencies()]
    p50, p95 = pcts(lat, (50, 95))
    print(
        f"\n  single call: turn latency p50 {fmt(p50, 0)} ms, p95 {fmt(p95, 0)} ms over "
        f"{len(lat)} turns ({single.unanswered} unanswered)  [target p50 < 600, p95 < 1000]"
    )
    print()
    print(
        table(
            [
                "N",
                "turns",
                "p50 ms",
                "p95 ms",
                "max ms",
                "no answer",
                "failed",
                "CPU/others%",
                "load",
            ],
            [_row(r) for r in ramp],
        )
    )
    asked = 1 + len(single.turns) + sum(len(r.turns) for r in ramp)
    print(
        f"\n  STT runs per caller turn: {(stt_runs - 1) / max(1, asked):.2f} ({stt_runs - 1} runs,"
        f" ≈{asked} turns; > 1 = speculative transcripts thrown away when the caller went on)"
    )
    held = [r.n for r in ramp if pcts(r.latencies(), (95,))[0] <= P95_LIMIT]
    print(
        f"\n  talking callers one process on one core holds with turn p95 ≤ {P95_LIMIT:g} s: "
        f"{max(held) if held else 0}"
        + ("" if len(held) < len(ramp) else " (not reached the limit: raise --ns)")
    )
    if single_stages or ramp_stages:
        for title, stages in (("single call", single_stages), ("capacity ramp", ramp_stages)):
            if stages:
                print(f"\n  per stage, {title}, from the server's turn_timing events (ms):")
                print(table(["stage", "n", "p50", "p95"], _stage_rows(stages)))
    else:
        print(
            "\n  the server records no per-stage timings (no `turn_timing` CallEvent); wanted, per"
            " caller turn:\n    CallEvent(kind='turn_timing', data={endpoint_ms, stt_ms, stt_wait_ms,"
            " speculative_hit, brain_ms, tts_first_ms, tts_cached, first_frame_ms, total_ms})"
        )
    if not args.no_offline:
        from agents.speech.endpointer import CALL_ENDPOINTING as cfg

        print(
            "\n  stages measured offline on the server's core with the same models (ms; end-pointer"
            f" as calls use it: pause {cfg.pause_ms} ms, end {cfg.end_silence_ms} ms):"
        )
        rows = offline_stages(snapshot, rendered)
        print(
            table(
                [
                    "caller line → STT",
                    "endpoint",
                    "pause",
                    "STT",
                    "STT wait",
                    "brain",
                    "TTS 1st",
                    "total cached",
                    "total uncached",
                ],
                rows,
            )
        )
        print(
            "  endpoint = last voiced frame → UtteranceEnded; pause = → SpeechPaused (speculative"
            " STT starts);\n  STT wait = what the turn still waits for the transcript after the"
            " end-point; total cached = the answer was already rendered (calls/speech_render cache);"
            " STT and TTS are best of 3."
        )
    print(f"  wall {time.monotonic() - t0:.0f} s; load average now {loadavg()}")


if __name__ == "__main__":
    main()
