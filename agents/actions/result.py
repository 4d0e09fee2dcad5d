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
