"""The call page's latency strip: each answered turn's `turn_timing` event as the stages its
time went to (calls.runtime.timing.STAGES), in proportion, for one small bar per turn."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from calls.models import CallEvent
from calls.runtime.timing import STAGES

STAGE_NAMES = {
    "endpoint_ms": "End of turn",
    "stt_wait_ms": "Speech to text",
    "brain_ms": "Brain",
    "tts_first_ms": "First audio",
}


@dataclass(frozen=True)
class Stage:
    key: str  # the event data's key without "_ms": a CSS class
    name: str
    ms: int
    percent: float  # of the strip's full width (the slowest turn of the call)


@dataclass(frozen=True)
class TurnStrip:
    number: int
    total_ms: int
    stages: list[Stage]
    ahead: bool  # the reply was prepared during the caller's pause
    detector: str

    @property
    def title(self) -> str:
        parts = ", ".join(f"{s.name} {s.ms} ms" for s in self.stages)
        return f"Turn {self.number}: {self.total_ms} ms ({parts})"


def turn_latency_strips(events: Iterable[CallEvent]) -> list[TurnStrip]:
    """One strip per timed turn, in call order, scaled to the call's slowest turn."""
    timed = [e.data for e in events if e.kind == "turn_timing" and isinstance(e.data, dict)]
    rows = []
    for data in timed:
        stages = {k: _ms(data.get(k)) for k in STAGES}
        rows.append((data, stages, max(_ms(data.get("total_ms")), sum(stages.values()))))
    widest = max((total for _, _, total in rows), default=0) or 1
    return [
        TurnStrip(
            number=number,
            total_ms=total,
            stages=[
                Stage(k.removesuffix("_ms"), STAGE_NAMES[k], ms, round(100 * ms / widest, 1))
                for k, ms in stages.items()
                if ms
            ],
            ahead=bool(data.get("speculative_reply")),
            detector=str(data.get("detector") or "silence"),
        )
        for number, (data, stages, total) in enumerate(rows, start=1)
    ]


def _ms(value: object) -> int:
    """A stage's milliseconds from stored event data; anything else (old rows, a bad value)
    counts as 0 rather than breaking the page."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))
