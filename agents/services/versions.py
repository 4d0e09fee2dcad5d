"""The draft ↔ version lifecycle: snapshot, publish, unpublish, lock, restore."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from agents.models import Agent, AgentAction, AgentVersion, VersionStatus
from agents.models.agent import ImmutableVersionError

DRAFT_FIELDS = (
    "name",
    "language",
    "voice",
    "greeting",
    "system_prompt",
    "brain",
    "llm_model",
    "knowledge",
    "intents",
)
ACTION_FIELDS = ("name", "description", "kind", "config")
HANDOVER_FIELDS = (
    "name",
    "description",
    "kind",
    "destination",
    "extra_destinations",
    "caller_id",
    "ring_timeout",
    "fallback",
    "handover_message",
    "flow_sid",
)


def agent_snapshot(*, agent: Agent) -> dict[str, Any]:
    """Everything a call needs from the draft, as plain JSON."""
    from handovers.models import HandoverAction

    snapshot = {field: getattr(agent, field) for field in DRAFT_FIELDS}
    snapshot["agent_id"] = agent.pk
    snapshot["actions"] = [
        {f: getattr(a, f) for f in ACTION_FIELDS}
        for a in AgentAction.objects.filter(agent=agent).order_by("name")
    ]
    snapshot["handover_actions"] = [
        {f: getattr(h, f) for f in HANDOVER_FIELDS}
        for h in HandoverAction.objects.filter(agent=agent).order_by("name")
    ]
    return snapshot


@transaction.atomic
def agent_publish(*, agent: Agent, note: str = "", user=None) -> AgentVersion:
    Agent.objects.select_for_update().filter(pk=agent.pk).first()
    last = AgentVersion.objects.filter(agent=agent).aggregate(n=Max("number"))["n"] or 0
    return AgentVersion.objects.create(
        agent=agent,
        number=last + 1,
        status=VersionStatus.PUBLISHED,
        note=note[:300],
        snapshot=agent_snapshot(agent=agent),
        created_by=user if getattr(user, "is_authenticated", False) else None,
        published_at=timezone.now(),
    )


def version_unpublish(*, version: AgentVersion) -> AgentVersion:
    if version.locked:
        raise ImmutableVersionError(f"{version.label} is locked and cannot be unpublished.")
    if version.status != VersionStatus.UNPUBLISHED:
        version.status = VersionStatus.UNPUBLISHED
        version.save(update_fields=["status"])
    return version


def version_republish(*, version: AgentVersion) -> AgentVersion:
    if version.status != VersionStatus.PUBLISHED:
        if version.locked:
            raise ImmutableVersionError(f"{version.label} is locked and cannot be changed.")
        version.status = VersionStatus.PUBLISHED
        version.published_at = timezone.now()
        version.save(update_fields=["status", "published_at"])
    return version


def version_lock(*, version: AgentVersion) -> AgentVersion:
    if not version.locked:
        AgentVersion.objects.filter(pk=version.pk).update(locked=True)
        version.locked = True
    return version


@transaction.atomic
def agent_restore(*, agent: Agent, version: AgentVersion) -> Agent:
    """Copy a version back into the draft (fields, actions, handover actions)."""
    from handovers.models import HandoverAction

    if version.agent_id != agent.pk:
        raise ValidationError("That version belongs to another agent.")
    snap = version.snapshot
    for field in DRAFT_FIELDS:
        if field in snap:
            setattr(agent, field, snap[field])
    agent.save()
    AgentAction.objects.filter(agent=agent).delete()
    for item in snap.get("actions", []):
        AgentAction.objects.create(agent=agent, **{f: item[f] for f in ACTION_FIELDS if f in item})
    HandoverAction.objects.filter(agent=agent).delete()
    for item in snap.get("handover_actions", []):
        HandoverAction.objects.create(
            agent=agent, **{f: item[f] for f in HANDOVER_FIELDS if f in item}
        )
    return agent

