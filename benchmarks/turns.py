"""Issue 5 and 16: turn latency on the embedded and the LLM brain, side by side for each
end-of-turn detector, and how many talking callers one core holds.

Turn latency = the caller's last voiced frame sent → the agent's first audio frame received
(loopback, so ≈ what the server adds). The demo agent (stellar_demo) answers knowledge questions
and, for this bench, one intent with a spoken answer; caller lines are rendered once with Piper.
Every phase runs against the same server in the same run, once per end-of-turn detector
(`--endpointers`: the agent's turn_detection, "silence" = the fixed 500 ms end-pointer the
project had, "smart" = the turn detector), republishing the demo agent between phases:

1. Latency: one call, K turns (the caller asks, waits for the answer to play, asks again).
2. Capacity: N calls whose callers ask every ~6 s, lines with natural mid-sentence pauses
   (300-450 ms, below the fixed end-pointer's 500 ms so both detectors face the same turns),
   N = 1, 2, 4, … until turn latency p95 passes 800 ms.
3. LLM brain: one call, K turns against a local OpenAI-protocol peer (tests/peers) answering
   after 350 ms to the first token at 50 tokens/s.
4. Stages (end of turn, STT, brain, first audio) from the server's `turn_timing` events; and,
   with --offline, measured offline on the server's core with the same models.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from dataclasses import dataclass, field

import httpx

from ._client import SILENCE_B64, CallerTurn, LeanCall
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
    "How do I return a product?",  # the intent answer added below
]
# (first part, pause ms, rest): said as one turn with a hesitation in it.
PAUSED_LINES = [
    ("What are your", 350, "opening hours?"),
    ("Where is", 300, "your office, please?"),
    ("How much does", 450, "delivery cost?"),
    ("I would like to know", 400, "how I return a product."),
]
RETURNS_INTENT = {
    "name": "returns",
    "examples": ["How do I return a product?", "I want to send something back", "return policy"],
    "response": "You can return any product within thirty days for a full refund.",
}
LLM_REPLY = "Sure. We are open Monday to Friday from nine to six, and on Saturdays until noon."
LLM_TTFT = 0.35
LLM_TOKENS_PER_SECOND = 50.0
LLM_KEY = "sk-bench-local-peer"
STAGE_KEYS = ("endpoint_ms", "stt_wait_ms", "brain_ms", "tts_first_ms", "total_ms")
P95_LIMIT = 0.8
ASK_EVERY = 6.0

# Republish the demo agent with the phase's detector and brain (Django in a subprocess).
CONFIGURE = """
from agents.definitions.versions import agent_publish
from agents.models import Agent
agent = Agent.objects.get(workspace__slug="demo", name="Support agent")
agent.turn_detection, agent.brain, agent.llm_model = {detection!r}, {brain!r}, "bench-model"
agent.intents = [i for i in agent.intents if i.get("name") != "returns"] + [{intent!r}]
agent.save()
agent_publish(agent=agent, note="bench: {detection} / {brain}")
"""


@dataclass
class TurnRound:
    n: int
    turns: list[CallerTurn] = field(default_factory=list)
    sids: list[str] = field(default_factory=list)
    unanswered: int = 0
    failed: int = 0
    cpu: float = math.nan
    others: float = math.nan
    load: str = ""

    def latencies(self) -> list[float]:
        return [t.latency for t in self.turns if t.latency is not None]


@dataclass
class Phase:
    """One detector × brain: its single-call round, its capacity ramp (embedded only)."""

    detection: str
    brain: str
    single: TurnRound | None = None
    ramp: list[TurnRound] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.brain} / {self.detection}"


def with_pause(first: Speech, pause_ms: int, rest: Speech) -> Speech:
    """`first` up to its last voiced frame, `pause_ms` of line silence, then `rest`."""
    head = first.frames[: first.last_voiced + 1]
    gap = (SILENCE_B64,) * (pause_ms // 20)
    return Speech(
        text=f"{first.text} … {rest.text}",
        frames=head + gap + rest.frames,
        last_voiced=len(head) + len(gap) + rest.last_voiced,
        pcm=None,
    )


async def _talker(
    call: LeanCall, lines: list[Speech], max_turns: int, offset: int, every: float
) -> None:
    """Ask, wait for the answer to play out, ask again `every` s after the last question
    (0: at once)."""
    if not await call.wait_agent_quiet(quiet=0.3, timeout=20):
        return
    for i in range(max_turns):
        asked = time.monotonic()
        turn = call.say(lines[(i + offset) % len(lines)])
        await call.wait_sent(turn)
        await call.wait_response(turn, timeout=10)
        await call.wait_agent_quiet(quiet=0.3, timeout=30)
        await asyncio.sleep(max(0.0, asked + every - time.monotonic()))


async def run_turn_round(
    server: Server,
    n: int,
    *,
    duration: float,
    lines: list[Speech],
    max_turns: int = 1000,
    every: float = 0.0,
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
            await asyncio.sleep(k * (every / max(n, 1) if every else 0.37))
            call = LeanCall(server.url, http)

            async def script(c: LeanCall) -> None:
                await _talker(c, lines, max_turns, k, every)

            return await call.run(duration, script)

        calls = await asyncio.gather(*(one(k) for k in range(n)))
    stop_event.set()
    await mon
    server.monitor.sample()
    result.cpu = server.monitor.cpu_percent(t0 + 3, time.monotonic() - 1)
    result.others = server.monitor.others_percent(t0 + 3, time.monotonic() - 1)
    for c in calls:
        result.sids.append(c.call_sid)
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


def server_events(senv) -> dict[str, list[dict]]:
    """Each call's `turn_timing` event data, by call SID."""
    raw = senv.tool("calls", "--events").strip().splitlines()[-1]
    return {
        call["sid"]: [e["data"] for e in call.get("events", []) if e["kind"] == "turn_timing"]
        for call in json.loads(raw)
    }


def stages_of(timings: dict[str, list[dict]], sids: list[str]) -> dict[str, list[float]]:
    """Per-stage values of these calls' turns (a bool, e.g. speculative_reply, as a share)."""
    stages: dict[str, list[float]] = {}
    for sid in sids:
        for data in timings.get(sid, []):
            for key, value in data.items():
                if isinstance(value, bool):
                    stages.setdefault(f"{key} %", []).append(100.0 * value)
                elif isinstance(value, int | float):
                    stages.setdefault(key, []).append(float(value))
    return stages


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
    p.add_argument("--turns", type=int, default=8, help="turns of each single-call round")
    p.add_argument(
        "--endpointers",
        default="silence,smart",
        help="the agent's turn_detection per phase, side by side (silence = the fixed baseline)",
    )
    p.add_argument("--ns", default="1,2,4,6,8,10,12,14", help="talking callers per ramp round")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per capacity round")
    p.add_argument("--no-ramp", action="store_true", help="skip the capacity ramp")
    p.add_argument("--no-llm", action="store_true", help="skip the LLM-brain rounds")
    p.add_argument("--offline", action="store_true", help="also time the stages offline")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    return p


def _llm_peer():
    """The OpenAI-protocol test peer, slowed to a realistic hosted model."""
    from tests.peers.openai_server import OpenAIPeer, Rule

    class SlowModel(OpenAIPeer):
        def _stream(self, handler, body, rule) -> None:
            if self.wait(LLM_TTFT):  # time to the first token
                super()._stream(handler, body, rule)

    return SlowModel([Rule(text=LLM_REPLY)], api_key=LLM_KEY, token_delay=1 / LLM_TOKENS_PER_SECOND)


def configure(senv, *, detection: str, brain: str) -> None:
    code = CONFIGURE.format(detection=detection, brain=brain, intent=RETURNS_INTENT)
    senv.manage("shell", "-c", code)


async def _single(args, server: Server, lines: list[Speech]) -> TurnRound:
    await run_turn_round(server, 1, duration=8.0, lines=lines, max_turns=1)  # warm-up
    await server.settle()
    return await run_turn_round(
        server, 1, duration=6.0 + args.turns * 9.0, lines=lines, max_turns=args.turns
    )


async def _ramp(args, server: Server, lines: list[Speech], ns: list[int]) -> list[TurnRound]:
    ramp = []
    for n in ns:
        await server.settle()
        r = await run_turn_round(server, n, duration=args.duration, lines=lines, every=ASK_EVERY)
        ramp.append(r)
        p95 = pcts(r.latencies(), (95,))[0]
        print(
            f"    N={n}: {len(r.turns)} turns, p95 {fmt(p95 * 1000, 0)} ms, load {r.load}",
            flush=True,
        )
        if not (p95 <= P95_LIMIT) or r.unanswered > len(r.turns) // 4:
            break
    return ramp


def _run_phases(args, senv, server: Server, plain, paused, ns) -> list[Phase]:
    phases = [Phase(d, "embedded") for d in args.endpointers.split(",") if d.strip()]
    if not args.no_llm:
        phases += [Phase(d, "llm") for d in args.endpointers.split(",") if d.strip()]
    for phase in phases:
        configure(senv, detection=phase.detection.strip(), brain=phase.brain)
        print(f"  {phase.name}:", flush=True)
        lines = plain if phase.brain == "embedded" else plain[:1]
        phase.single = asyncio.run(_single(args, server, lines))
        single = phase.single
        p50, p95 = pcts([v * 1000 for v in single.latencies()], (50, 95))
        print(
            f"    single call: {len(single.turns)} turns, p50 {fmt(p50, 0)} p95 {fmt(p95, 0)} ms,"
            f" load {single.load}",
            flush=True,
        )
        if phase.brain == "embedded" and not args.no_ramp:
            phase.ramp = asyncio.run(_ramp(args, server, paused, ns))
    return phases


def _report(phases: list[Phase], timings: dict[str, list[dict]]) -> None:
    rows = []
    for phase in phases:
        assert phase.single is not None
        lat = [v * 1000 for v in phase.single.latencies()]
        p50, p95 = pcts(lat, (50, 95))
        target = "p50 < 250, p95 < 450" if phase.brain == "embedded" else "p50 < 700"
        rows.append(
            [
                phase.name,
                str(len(lat)),
                fmt(p50, 0),
                fmt(p95, 0),
                str(phase.single.unanswered),
                target,
                phase.single.load,
            ]
        )
    print("\n  single call, end of caller speech → first agent audio (ms):")
    print(
        table(["brain / end of turn", "turns", "p50", "p95", "no answer", "target", "load"], rows)
    )
    for phase in phases:
        if not phase.ramp:
            continue
        held = [r.n for r in phase.ramp if pcts(r.latencies(), (95,))[0] <= P95_LIMIT]
        print(
            f"\n  {phase.name}: callers asking every ~{ASK_EVERY:g} s (lines with pauses); one core"
            f" holds {max(held) if held else 0} with turn p95 ≤ {P95_LIMIT * 1000:.0f} ms"
            + ("" if len(held) < len(phase.ramp) else " (limit not reached: raise --ns)")
            + " [target ≥ 10]"
        )
        head = ["N", "turns", "p50 ms", "p95 ms", "max ms", "no answer", "failed", "CPU/others%"]
        print(table([*head, "load"], [_row(r) for r in phase.ramp]))
    for phase in phases:
        assert phase.single is not None
        for title, sids in (
            ("single call", phase.single.sids),
            ("capacity ramp", [sid for r in phase.ramp for sid in r.sids]),
        ):
            stages = stages_of(timings, sids)
            if stages:
                print(f"\n  {phase.name}, {title}: per stage from the server's turn_timing (ms):")
                print(table(["stage", "n", "p50", "p95"], _stage_rows(stages)))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.turns, args.ns, args.duration = 3, "1,2", 14.0
    ns = [int(x) for x in str(args.ns).split(",") if x.strip()]
    banner(
        f"turns: {args.turns} turns on one call, then callers asking every {ASK_EVERY:g} s"
        f" N={ns}; end of turn: {args.endpointers}; LLM brain: {not args.no_llm}"
    )
    t0 = time.monotonic()
    parts = [p for first, _ms, rest in PAUSED_LINES for p in (first, rest)]
    rendered = render_caller_lines(LINES + parts)
    plain = [rendered[t] for t in LINES]
    paused = [with_pause(rendered[a], ms, rendered[b]) for a, ms, b in PAUSED_LINES]
    pin_self(CLIENT_CORE)
    with _llm_peer() as llm:
        extra = {
            "STELLAR_LLM_BASE_URL": llm.base_url,
            "STELLAR_LLM_API_KEY": LLM_KEY,
            "STELLAR_EGRESS_ALLOW": "127.0.0.1",
        }
        with stellar_env(extra, keep=args.keep) as senv:
            if args.keep:
                print(f"  server logs: {senv.var_dir}")
            with stellar_server(senv) as server:
                phases = _run_phases(args, senv, server, plain, paused, ns)
            timings = server_events(senv)
            snapshot = json.loads(senv.tool("snapshot").strip().splitlines()[-1])
    _report(phases, timings)
    if args.offline:
        _print_offline(snapshot, {t: rendered[t] for t in LINES})
    print(f"\n  wall {time.monotonic() - t0:.0f} s; load average now {loadavg()}")


def _print_offline(snapshot: dict, lines: dict[str, Speech]) -> None:
    from agents.speech.endpointer import CALL_ENDPOINTING as cfg

    print(
        "\n  stages measured offline on the server's core with the same models (ms; end-pointer"
        f" as calls use it: pause {cfg.pause_ms} ms, end {cfg.end_silence_ms} ms):"
    )
    rows = offline_stages(snapshot, lines)
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


if __name__ == "__main__":
    main()
