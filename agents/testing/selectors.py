"""Reads of test cases and runs, always through an agent of the caller's workspace."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from agents.definitions.models import Agent
from agents.tenancy.models import Workspace
from agents.testing.models import AgentTestCase, AgentTestRun


def case_list(*, agent: Agent) -> QuerySet[AgentTestCase]:
    return AgentTestCase.objects.filter(agent=agent)


def run_list(*, agent: Agent) -> QuerySet[AgentTestRun]:
    return AgentTestRun.objects.filter(agent=agent).select_related("baseline", "created_by")


def last_draft_run(*, agent: Agent) -> AgentTestRun | None:
    return run_list(agent=agent).filter(version_number__isnull=True).first()


def agent_by_reference(*, workspace: str, agent: str) -> Agent | None:
    """The agent named (or numbered) `agent` in the workspace with that slug, name or id;
    None when there is no such agent, or several share the name."""
    workspaces = Workspace.objects.filter(
        Q(slug=workspace)
        | Q(name=workspace)
        | Q(pk=int(workspace) if workspace.isdigit() else None)
    )
    agents = Agent.objects.filter(workspace__in=workspaces)
    found = agents.filter(Q(name=agent) | Q(pk=int(agent) if agent.isdigit() else None))
    return found.first() if found.count() == 1 else None
