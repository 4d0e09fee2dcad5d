"""The draft ↔ version lifecycle: snapshot, publish, unpublish, lock, restore."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from agents.definitions.models import ImmutableVersionError
from agents.models import Agent, AgentAction, AgentVersion, VersionStatus
from handovers.models import SNAPSHOT_FIELDS as HANDOVER_SNAPSHOT_FIELDS

DRAFT_FIELDS = (
    "name",
    "language",
    "voice",
    "greeting",
    "system_prompt",
    "brain",
    "llm_model",
    "silence_timeout_seconds",
    "silence_reprompts",
    "knowledge",
    "intents",
)
ACTION_FIELDS = ("name", "description", "kind", "config")
HANDOVER_FIELDS = HANDOVER_SNAPSHOT_FIELDS


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


# Editing the draft and its actions (the API and admin call these; publishing snapshots them).

ACTION_CONFIG_KEYS = {
    "static_response": ("response",),
    "end_call": (),
    "api_call": ("url",),
    "send_sms": ("body",),
}


def _draft_json_errors(agent: Agent) -> dict[str, list[str]]:
    """Knowledge and intents are JSON the engine reads; reject shapes it cannot use."""

    def texts(value) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)

    errors: dict[str, list[str]] = {}
    knowledge = agent.knowledge
    if not isinstance(knowledge, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("question"), str)
        and isinstance(item.get("answer"), str)
        for item in knowledge
    ):
        errors["knowledge"] = ['Knowledge is a list of {"question": text, "answer": text}.']
    intents = agent.intents
    if not isinstance(intents, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("name"), str)
        and texts(item.get("examples"))
        and isinstance(item.get("response", ""), str)
        and isinstance(item.get("action", ""), str)
        for item in intents
    ):
        errors["intents"] = [
            'Intents are a list of {"name": text, "examples": [text], '
            '"response": text, "action": text}.'
        ]
    return errors


def agent_draft_check(*, agent: Agent) -> None:
    """full_clean() plus the JSON shape of knowledge and intents (admin forms call it too)."""
    errors: dict = {}
    try:
        agent.full_clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    for field, messages in _draft_json_errors(agent).items():
        errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def agent_create(*, workspace, name: str, **draft: Any) -> Agent:
    unknown = set(draft) - set(DRAFT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown draft fields: {', '.join(sorted(unknown))}.")
    agent = Agent(workspace=workspace, name=name, **draft)
    agent_draft_check(agent=agent)
    agent.save()
    return agent


def agent_update_draft(*, agent: Agent, **changes: Any) -> Agent:
    unknown = set(changes) - set(DRAFT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown draft fields: {', '.join(sorted(unknown))}.")
    for field, value in changes.items():
        setattr(agent, field, value)
    agent_draft_check(agent=agent)
    agent.save()
    return agent


def agent_delete(*, agent: Agent) -> None:
    names = list(agent.phone_connectors.values_list("name", flat=True))
    if names:
        raise ValidationError(
            f"{agent.name} answers calls on {', '.join(names)}; "
            "point those phone connectors at another agent first."
        )
    agent.delete()


def action_full_clean(*, action) -> None:
    """full_clean() plus the rule that an agent's actions and handover actions share names."""
    from agents.definitions.selectors import action_name_in_use
    from handovers.models import HandoverAction

    errors: dict = {}
    try:  # uniqueness of the name is checked below, across both kinds of action
        action.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if isinstance(action, AgentAction) and action.kind in ACTION_CONFIG_KEYS:
        config = action.config
        if not isinstance(config, dict):
            errors.setdefault("config", []).append("The configuration is a JSON object.")
        else:
            missing = [k for k in ACTION_CONFIG_KEYS[action.kind] if not config.get(k)]
            if missing:
                errors.setdefault("config", []).append(
                    f"{action.get_kind_display()} actions need: {', '.join(missing)}."
                )
    is_handover = isinstance(action, HandoverAction)
    if (
        action.name
        and action.agent_id
        and "name" not in errors
        and action_name_in_use(
            agent=action.agent,
            name=action.name,
            exclude_action_id=None if is_handover else action.pk,
            exclude_handover_id=action.pk if is_handover else None,
        )
    ):
        errors["name"] = [f"This agent already has an action called {action.name}."]
    if errors:
        raise ValidationError(errors)


def agent_action_create(
    *, agent: Agent, name: str, description: str, kind: str, config: dict | None = None
) -> AgentAction:
    action = AgentAction(
        agent=agent, name=name, description=description, kind=kind, config=config or {}
    )
    action_full_clean(action=action)
    action.save()
    return action


def agent_action_update(*, action: AgentAction, **changes: Any) -> AgentAction:
    for field, value in changes.items():
        if field not in ACTION_FIELDS:
            raise ValidationError(f"{field} cannot be changed.")
        setattr(action, field, value)
    action_full_clean(action=action)
    action.save()
    return action


def agent_action_delete(*, action: AgentAction) -> None:
    action.delete()
