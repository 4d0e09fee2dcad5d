"""Issue 5: how often the embedded brain picks the right answer or action.

Each case of eval_cases.json is one caller turn on a fresh `Conversation` of the agent
snapshot defined there (knowledge Q/A, intents with examples and an action, handovers
transfer_to_sales / transfer_to_support, an end_call action). A case counts as right when
the turn's *outcome* is the expected one: the knowledge/intent answer is spoken, that
handover runs, the call ends, or — for requests the agent knows nothing about — it asks
again instead of guessing. Reported overall, per category and per phrasing style,
with every miss listed (what was heard, what was chosen, its score).

--speech: text → Piper TTS → 8 kHz μ-law (the phone line) → Whisper → brain, so the
recognition errors of the embedded stack count too (≈ 0.2 s per case on one core). Piper
renders a line slightly differently each time, so `--rounds N` says every case N times.
Target ≥ 95 %.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ._common import add_common_args, banner, loadavg, table

CASES_FILE = Path(__file__).with_name("eval_cases.json")


@dataclass
class Outcome:
    label: str = ""
    score: float = 0.0
    spoken: tuple[str, ...] = ()
    handover: str | None = None
    end_call: bool = False

    def describe(self) -> str:
        if self.handover:
            return f"handover {self.handover}"
        if self.end_call:
            return "end_call"
        said = " ".join(self.spoken)
        return f"says “{said[:60]}{'…' if len(said) > 60 else ''}”"


async def run_turn(snapshot: dict, text: str) -> Outcome:
    from agents.engine import CallContext, Conversation, Decision, EndCall, Handover, Speak

    conv = Conversation(snapshot, CallContext())
    out = Outcome()
    spoken = []
    async for event in conv.turn(text):
        if isinstance(event, Decision):
            out.label, out.score = event.label, event.score
        elif isinstance(event, Speak):
            spoken.append(event.text)
        elif isinstance(event, Handover):
            out.handover = event.action.get("name")
        elif isinstance(event, EndCall):
            out.end_call = True
    out.spoken = tuple(spoken)
    return out


def expected_text(snapshot: dict, expect: dict) -> str | None:
    answer = expect.get("answer")
    if isinstance(answer, int):
        return snapshot["knowledge"][answer]["answer"]
    if isinstance(answer, str):
        intent = next(i for i in snapshot["intents"] if i["name"] == answer)
        return intent.get("response") or None
    return None


def is_right(snapshot: dict, expect: dict, out: Outcome) -> bool:
    if "handover" in expect:
        return out.handover == expect["handover"]
    if expect.get("end_call"):
        return out.end_call and out.handover is None
    if expect.get("not_understood"):
        return out.label == "not_understood" and out.handover is None and not out.end_call
    text = expected_text(snapshot, expect)
    return out.handover is None and not out.end_call and text in out.spoken


def describe_expect(snapshot: dict, expect: dict) -> str:
    if "handover" in expect:
        return f"handover {expect['handover']}"
    if expect.get("end_call"):
        return "end_call"
    if expect.get("not_understood"):
        return "asks again (out of scope)"
    answer = expect.get("answer")
    if isinstance(answer, int):
        return f"knowledge:{answer} ({snapshot['knowledge'][answer]['question'].split('?')[0]}?)"
    return f"intent:{answer}"


class Recognizer:
    """The phone line and the embedded STT: Piper → 8 kHz μ-law → Whisper."""

    def __init__(self, prompt: str | None):
        from agents.speech.registry import get_stt, get_tts

        self.tts, self.stt, self.prompt = get_tts(), get_stt(), prompt
        self.seconds: list[float] = []

    def __call__(self, text: str) -> str:
        from stellar.kernel.audio import pcm16_to_ulaw, ulaw_to_pcm16

        pcm = ulaw_to_pcm16(pcm16_to_ulaw(self.tts.synthesize(text)))
        started = time.perf_counter()
        heard = self.stt.transcribe(pcm, 8000, self.prompt)
        self.seconds.append(time.perf_counter() - started)
        return heard


def _stt_prompt(snapshot: dict) -> str | None:
    """The prompt the live call uses for recognition, when the engine offers one."""
    from agents.engine import CallContext, Conversation

    conv = Conversation(snapshot, CallContext())
    make = getattr(conv, "vocabulary_prompt", None)
    return make() if callable(make) else None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_args(p)
    p.add_argument("--speech", action="store_true", help="go through TTS → μ-law → STT first")
    p.add_argument("--cases", type=Path, default=CASES_FILE, help="cases file (JSON)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --speech: say every case this many times (Piper's voice varies a little"
        " from one rendering to the next, and so does what Whisper hears)",
    )
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    data = json.loads(args.cases.read_text())
    snapshot, cases = data["agent"], data["cases"]
    if args.quick and args.speech:
        cases = cases[::4]
    if args.speech and args.rounds > 1:
        cases = cases * args.rounds
    banner(
        f"eval: {len(cases)} caller turns, embedded brain" + (" via speech" if args.speech else "")
    )
    recognize = Recognizer(_stt_prompt(snapshot)) if args.speech else None
    rows, misses = [], []
    per_cat: dict[str, list[bool]] = defaultdict(list)
    per_style: dict[str, list[bool]] = defaultdict(list)
    started = time.monotonic()
    for case in cases:
        heard = recognize(case["text"]) if recognize else case["text"]
        out = asyncio.run(run_turn(snapshot, heard))
        ok = is_right(snapshot, case["expect"], out)
        per_cat[case["category"]].append(ok)
        per_style[case.get("style", "-")].append(ok)
        rows.append(ok)
        if not ok:
            misses.append((case, heard, out))
    total = len(rows)
    right = sum(rows)
    print(f"\n  accuracy: {right}/{total} = {100 * right / max(1, total):.1f} %  (target ≥ 95 %)")
    print()
    print(
        table(
            ["category", "right", "accuracy"],
            [
                [c, f"{sum(v)}/{len(v)}", f"{100 * sum(v) / len(v):.0f} %"]
                for c, v in sorted(per_cat.items())
            ],
        )
    )
    print()
    print(
        table(
            ["phrasing", "right", "accuracy"],
            [
                [s, f"{sum(v)}/{len(v)}", f"{100 * sum(v) / len(v):.0f} %"]
                for s, v in sorted(per_style.items())
            ],
        )
    )
    if misses:
        print("\n  misses (expected → chosen label score → outcome):")
        for case, heard, out in misses:
            heard_note = f"  [heard: “{heard}”]" if heard != case["text"] else ""
            print(
                f"  - “{case['text']}”{heard_note}\n"
                f"      expected {describe_expect(snapshot, case['expect'])}"
                f" → chose {out.label or '?'} ({out.score:.2f}) → {out.describe()}"
            )
    if recognize and recognize.seconds:
        secs = sorted(recognize.seconds)
        print(
            f"\n  STT per case: median {secs[len(secs) // 2] * 1000:.0f} ms, max {secs[-1] * 1000:.0f} ms"
        )
    print(f"  wall {time.monotonic() - started:.1f} s; load average {loadavg()}")


if __name__ == "__main__":
    main()
