"""The outcome of running one action."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ActionResult:
    ok: bool
    say: str = ""  # what the agent should say about it ("" = nothing)
    data: Any = None  # e.g. the API response JSON, usable in the answer
    inputs: dict[str, Any] = field(default_factory=dict)  # redacted: safe to store and log
    outcome: str = ""  # short human-readable outcome for the call timeline
    duration_ms: int = 0
    end_call: bool = False


MAX_SAY_CHARS = 1_000  # about a minute of speech: a large API response is never read out whole


def spoken_length(text: str) -> tuple[str, int]:
    """`text` cut to MAX_SAY_CHARS at a sentence or word end, and its length before (0: kept)."""
    if len(text) <= MAX_SAY_CHARS:
        return text, 0
    cut = text[:MAX_SAY_CHARS]
    end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
    if end < MAX_SAY_CHARS // 2:
        end = cut.rfind(" ")
    return (cut[: end + 1] if end > 0 else cut).strip(), len(text)
