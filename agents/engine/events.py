"""What a conversation turn produces, in order, for the call session to carry out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Speak:
    """Say this text (one sentence or a whole fixed line); `cacheable` lines are pre-rendered."""

    text: str
    cacheable: bool = False


@dataclass(frozen=True)
class ActionRan:
    """An action was executed (recorded as a CallEvent; inputs already redacted)."""

    name: str
    kind: str
    ok: bool
    duration_ms: int
    inputs: dict[str, Any] = field(default_factory=dict)
    outcome: str = ""


@dataclass(frozen=True)
class Handover:
    """Hand the caller to a human: the session waits until the last words played, then transfers."""

    action: dict[str, Any]
    reason: str = ""


@dataclass(frozen=True)
class EndCall:
    """Hang up after the last words played."""

    reason: str = ""


OUTCOMES = (
    "answer",
    "handover",
    "action",
    "goodbye",
    "clarify",
    "out_of_scope",
    "unclear",
    "invite",
)


@dataclass(frozen=True)
class Decision:
    """Which answer/action the brain chose and how sure it was (for the timeline and evals);
    `summary` says it in words ("the answer to “What are your opening hours?”").

    `outcome` is what the turn does, one of OUTCOMES; `target` names what it does it with: the
    knowledge entry's index, the answering intent's name, the handover's or action's name
    ("" when nothing is named). Test suites compare these, not labels."""

    label: str
    score: float = 0.0
    brain: str = "embedded"
    summary: str = ""
    outcome: str = ""
    target: str = ""


@dataclass(frozen=True)
class Problem:
    """Something failed that the caller only heard as an apology: recorded on the timeline
    (`error` is the failure's class, e.g. ConnectError; the message carries no secret)."""

    kind: str
    message: str
    error: str = ""


TurnEvent = Speak | ActionRan | Handover | EndCall | Decision | Problem
