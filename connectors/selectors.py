"""Reads of the connectors app: lookups and which version answers a call right now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from agents.definitions.selectors import latest_published_version
from agents.definitions.versions import agent_snapshot
from agents.models import AgentVersion, VersionStatus, Workspace
from connectors.models import PhoneConnector, RolloutChange, VersionMode
from connectors.rollout import Arm, RolloutSettings, caller_key, rollout_decide


@dataclass(frozen=True)
class Resolution:
    """What answers a call: a snapshot + its label, or a reason why nothing can."""

    snapshot: dict[str, Any] | None
    version: AgentVersion | None
    label: str
    reason: str

    @property
    def ok(self) -> bool:
        return self.snapshot is not None


def connector_by_identifier(identifier: str) -> PhoneConnector | None:
    return (
        PhoneConnector.objects.select_related(
            "agent", "environment", "workspace", "candidate_version"
        )
        .filter(identifier=identifier)
        .first()
    )


def connector_resolve_version(*, connector: PhoneConnector) -> Resolution:
    if not connector.enabled:
        return Resolution(None, None, "", "The connector is disabled.")
    mode = connector.version_mode
    if mode == VersionMode.DRAFT:
        return Resolution(agent_snapshot(agent=connector.agent), None, "draft", "Draft mode")
    if mode == VersionMode.PINNED:
        version = connector.pinned_version
        if version is None:
            return Resolution(None, None, "", "Pinned mode but no version is pinned.")
        if version.status != VersionStatus.PUBLISHED:
            return Resolution(None, None, "", f"The pinned version {version.label} is unpublished.")
        return Resolution(version.snapshot, version, version.label, f"Pinned to {version.label}")
    version = latest_published_version(agent=connector.agent)
    if version is None:
        return Resolution(
            None, None, "", f"Published mode, but {connector.agent.name} has no published version."
        )
    return Resolution(
        version.snapshot, version, version.label, f"Latest published version {version.label}"
    )


@dataclass(frozen=True)
class Route:
    """Where one call goes: the agent (with the version of its arm) or the existing line."""

    resolution: Resolution  # what answers; not ok (and no existing line): refuse the call
    existing_line: str  # set when the call goes straight to the team's current number
    arm: Arm | None
    rollout_percent: int

    @property
    def to_existing_line(self) -> bool:
        return bool(self.existing_line)

    @property
    def message(self) -> str:
        """The line the call's timeline shows for this decision."""
        if self.to_existing_line:
            return f"Sent to the existing line (rollout {self.rollout_percent} %)"
        share = "" if self.rollout_percent == 100 else f" (rollout {self.rollout_percent} %)"
        arm = f", {self.arm} version" if self.arm == Arm.CANDIDATE else ""
        return f"Sent to the agent{share}: {self.resolution.label or 'no version'}{arm}"


def rollout_settings(connector: PhoneConnector) -> RolloutSettings:
    return RolloutSettings(
        rollout_percent=connector.rollout_percent,
        existing_line=connector.existing_line,
        candidate_percent=connector.candidate_percent,
        has_candidate=connector.candidate_version_id is not None,
    )


def connector_route(*, connector: PhoneConnector, from_number: str, call_sid: str) -> Route:
    """The rollout decision for one incoming call (docs/rollout.md). A disabled connector
    answers nobody, not even through the existing line: disabling is the off switch."""
    share = connector.rollout_percent
    if not connector.enabled:
        return Route(connector_resolve_version(connector=connector), "", None, share)
    key = caller_key(from_number=from_number, call_sid=call_sid)
    decision = rollout_decide(
        connector_id=connector.pk, key=key, settings=rollout_settings(connector)
    )
    if not decision.to_agent:  # no version answers this call: none is looked up
        reason = f"Sent to the existing line (rollout {share} %)"
        return Route(Resolution(None, None, "", reason), connector.existing_line, None, share)
    if decision.arm == Arm.CANDIDATE:
        candidate = _candidate_resolution(connector)
        if candidate is not None:
            return Route(candidate, "", Arm.CANDIDATE, share)
    current = connector_resolve_version(connector=connector)
    return Route(current, "", decision.arm if current.ok else None, share)


def _candidate_resolution(connector: PhoneConnector) -> Resolution | None:
    """The candidate, while it is still a published version of the connector's agent; an
    unpublished candidate is withdrawn, so its callers get the current version instead."""
    version = connector.candidate_version
    if (
        version is None
        or version.agent_id != connector.agent_id
        or version.status != VersionStatus.PUBLISHED
    ):
        return None
    return Resolution(
        version.snapshot, version, version.label, f"Candidate version {version.label}"
    )


def rollout_change_list(*, connector: PhoneConnector) -> QuerySet[RolloutChange]:
    return RolloutChange.objects.filter(
        workspace_id=connector.workspace_id, connector=connector
    ).select_related("changed_by")


def connector_list(*, workspace: Workspace) -> QuerySet[PhoneConnector]:
    return PhoneConnector.objects.filter(workspace=workspace).select_related(
        "agent", "environment", "pinned_version"
    )
