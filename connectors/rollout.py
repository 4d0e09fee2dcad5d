"""Gradual rollout, the pure decisions: does this caller reach the agent or the existing line,
and which arm (current or candidate version) answers. No ORM, no randomness: a caller's place
is a hash of the connector and the caller number, so the same caller always lands on the same
side and the same version (a returning caller does not bounce between the agent and a person,
or between two versions), and changing a share moves only the callers at its edge."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Twilio's From for callers who withheld their number; hashing it would put every anonymous
# caller on the same side, so those calls are placed by their CallSid instead.
ANONYMOUS_CALLERS = frozenset({"", "anonymous", "restricted", "unknown", "private", "+266696687"})


class Arm(StrEnum):
    CURRENT = "current"  # the version that would answer without a split (published / pinned)
    CANDIDATE = "candidate"


@dataclass(frozen=True)
class RolloutSettings:
    rollout_percent: int  # share of callers that reach the agent, 0–100
    existing_line: str  # E.164; where the other callers go
    candidate_percent: int  # share of the agent's callers that get the candidate, 0–100
    has_candidate: bool

    @property
    def splits(self) -> bool:
        """The agent's callers are split between the current version and a candidate."""
        return self.has_candidate and self.candidate_percent > 0

    @property
    def active(self) -> bool:
        """Some callers may go elsewhere than the one current version."""
        return self.rollout_percent < 100 or self.splits


def caller_key(*, from_number: str, call_sid: str) -> str:
    """What places a caller: the number, or the call itself when the number is withheld."""
    number = from_number.strip()
    if number.lower() in ANONYMOUS_CALLERS:
        return f"call:{call_sid}"
    return f"from:{number}"


def position(*, connector_id: int, key: str, purpose: str) -> float:
    """A uniform, stable point in [0, 100) for this caller on this connector. `purpose` makes
    the share and the arm independent, so the candidate's callers are not a biased slice."""
    digest = hashlib.sha256(f"{purpose}|{connector_id}|{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def reaches_agent(*, connector_id: int, key: str, rollout_percent: int) -> bool:
    return position(connector_id=connector_id, key=key, purpose="share") < rollout_percent


def arm_for(*, connector_id: int, key: str, candidate_percent: int) -> Arm:
    if position(connector_id=connector_id, key=key, purpose="arm") < candidate_percent:
        return Arm.CANDIDATE
    return Arm.CURRENT


@dataclass(frozen=True)
class RolloutDecision:
    to_agent: bool
    arm: Arm | None  # None when the caller goes to the existing line


def rollout_decide(*, connector_id: int, key: str, settings: RolloutSettings) -> RolloutDecision:
    """The share first, then (only for the agent's callers) the arm."""
    # A share below 100 % without a number is refused by validation; should one slip through
    # (an old row, a direct database edit), the agent answers rather than nobody.
    if (
        settings.rollout_percent < 100
        and settings.existing_line
        and not reaches_agent(
            connector_id=connector_id, key=key, rollout_percent=settings.rollout_percent
        )
    ):
        return RolloutDecision(to_agent=False, arm=None)
    if settings.splits:
        return RolloutDecision(
            to_agent=True,
            arm=arm_for(
                connector_id=connector_id, key=key, candidate_percent=settings.candidate_percent
            ),
        )
    return RolloutDecision(to_agent=True, arm=Arm.CURRENT)


def rollout_describe(snapshot: dict[str, Any]) -> str:
    """One line for an audited state (connectors.services.rollout_snapshot), e.g.
    "30 % to the agent, rest to +31201234567; candidate v4 on 10 %"."""
    if not snapshot:
        return "—"
    share = int(snapshot.get("rollout_percent", 100))
    line = snapshot.get("existing_line") or ""
    text = f"{share} % to the agent"
    if share < 100 or line:
        text += f", rest to {line or 'no number'}"
    candidate = snapshot.get("candidate_version")
    if candidate:
        text += (
            f"; candidate {candidate.get('label', '?')} on {snapshot.get('candidate_percent', 0)} %"
        )
    else:
        text += "; no candidate"
    return text
