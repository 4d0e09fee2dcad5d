"""Reads of agent definitions, always scoped to a workspace."""

from __future__ import annotations

from django.db import models
from django.db.models import OuterRef, QuerySet, Subquery

from agents.definitions.models import Agent, AgentVersion, VersionStatus
from agents.definitions.parts import HANDOVER_PART_KEY, definition_parts
from agents.tenancy.models import Workspace


def agent_list(*, workspace: Workspace) -> QuerySet[Agent]:
    return Agent.objects.filter(workspace=workspace)


def latest_published_version(*, agent: Agent) -> AgentVersion | None:
    return (
        AgentVersion.objects.filter(agent=agent, status=VersionStatus.PUBLISHED)
        .order_by("-number")
        .first()
    )


def agent_list_with_latest_version(*, workspace: Workspace) -> QuerySet[Agent]:
    """Agents annotated with their highest-numbered version (any status) and latest published."""
    versions = AgentVersion.objects.filter(agent=OuterRef("pk")).order_by("-number")
    published = versions.filter(status=VersionStatus.PUBLISHED)
    return agent_list(workspace=workspace).annotate(
        latest_version_number=Subquery(versions.values("number")[:1]),
        latest_version_status=Subquery(versions.values("status")[:1]),
        latest_version_locked=Subquery(versions.values("locked")[:1]),
        latest_published_number=Subquery(published.values("number")[:1]),
    )


def agent_version_list(*, agent: Agent) -> QuerySet[AgentVersion]:
    return AgentVersion.objects.filter(agent=agent).select_related("created_by")


def action_names(*, agent: Agent) -> list[str]:
    """The names of all the agent's actions, of every kind (agent actions, handovers, …)."""
    return sorted(name for part in definition_parts() for name in part.names(agent))


def handover_names(*, agent: Agent | int) -> list[str]:
    """The names of the agent's handover actions (empty when no app registered handovers)."""
    parts = [p for p in definition_parts() if p.key == HANDOVER_PART_KEY]
    return sorted(name for part in parts for name in part.names(agent))


def action_name_in_use(
    *, agent: Agent | int, name: str, exclude: models.Model | None = None
) -> bool:
    """Every kind of action shares one namespace per agent: the brain picks by name. `exclude`
    is the action being edited (or None)."""
    return any(part.name_taken(agent, name, exclude) for part in definition_parts())
