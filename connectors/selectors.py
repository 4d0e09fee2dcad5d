"""Reads of the connectors app: lookups and which version answers a call right now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from agents.definitions.selectors import latest_published_version
from agents.definitions.versions import agent_snapshot
from agents.models import AgentVersion, VersionStatus, Workspace
from connectors.models import PhoneConnector, VersionMode


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
        PhoneConnector.objects.select_related("agent", "environment", "workspace")
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


def connector_list(*, workspace: Workspace) -> QuerySet[PhoneConnector]:
    return PhoneConnector.objects.filter(workspace=workspace).select_related(
        "agent", "environment", "pinned_version"
    )
