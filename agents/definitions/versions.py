"""The draft ↔ version lifecycle: snapshot, publish, unpublish, lock, restore."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone

from agents.config.llm import llm_missing
from agents.config.selectors import environment_list
from agents.definitions.action_models import AgentAction
from agents.definitions.extraction_fields import (
    extraction_field_problems,
    extraction_fields_clean,
)
from agents.definitions.models import (
    Agent,
    AgentVersion,
    Brain,
    ImmutableVersionError,
    VersionStatus,
)
from agents.definitions.parts import DefinitionPart, definition_parts
from agents.definitions.selectors import action_name_in_use, handover_names
from agents.tenancy.models import Workspace

DRAFT_FIELDS = (
    "name",
    "language",
    "voice",
    "greeting",
    "system_prompt",
    "brain",
    "llm_model",
    "default_handover",
    "turn_detection",
    "silence_timeout_seconds",
    "silence_reprompts",
    "knowledge",
    "intents",
    "extraction_fields",
)
ACTION_FIELDS = ("name", "description", "kind", "config")
# The agent's own actions as a part of its definition (AgentsConfig.ready() registers it first,
# so "actions" comes before the parts other apps register, e.g. "handover_actions").
AGENT_ACTIONS = DefinitionPart(key="actions", model=AgentAction, fields=ACTION_FIELDS)


@dataclass(frozen=True)
class PublishCheck:
    """Work another package does on every publish (agents.testing runs the agent's tests):
    `run` right after the version is created, `report` one line for whoever published."""

    run: Callable[[AgentVersion, Any], None]
    report: Callable[[AgentVersion], str]


_PUBLISH_CHECKS: list[PublishCheck] = []


def publish_check_register(check: PublishCheck) -> None:
    """Called from an AppConfig.ready(), so definitions import nothing above them."""
    if check not in _PUBLISH_CHECKS:
        _PUBLISH_CHECKS.append(check)


def publish_reports(*, version: AgentVersion) -> list[str]:
    """What the publish checks have to say about `version` (empty lines left out)."""
    return [line for check in _PUBLISH_CHECKS if (line := check.report(version))]


def agent_snapshot(*, agent: Agent) -> dict[str, Any]:
    """Everything a call needs from the draft, as plain JSON."""
    snapshot = {field: getattr(agent, field) for field in DRAFT_FIELDS}
    snapshot["agent_id"] = agent.pk
    for part in definition_parts():
        snapshot[part.key] = part.dump(agent)
    return snapshot


def llm_publish_problem(*, agent: Agent) -> str:
    """Why an LLM agent cannot answer in any environment yet ("" when one has everything)."""
    if agent.brain != Brain.LLM:
        return ""
    gaps = {
        environment: llm_missing(environment=environment, llm_model=agent.llm_model)
        for environment in environment_list(workspace=agent.workspace)
    }
    if not gaps or any(not missing for missing in gaps.values()):
        return "" if gaps else "This workspace has no environment to run the LLM brain in."
    details = "; ".join(f"{env} lacks {', '.join(missing)}" for env, missing in gaps.items())
    return (
        "This agent uses the LLM brain, but no environment has its settings, so every call "
        f"would only hear an apology: {details}. Set them in Settings → Environments (or "
        "choose the Embedded brain), then publish."
    )


@transaction.atomic
def agent_publish(*, agent: Agent, note: str = "", user: Any = None) -> AgentVersion:
    """Snapshot the draft as the newest published version; an LLM agent needs an environment
    with its base URL, model and API key first."""
    problem = llm_publish_problem(agent=agent)
    if problem:
        raise ValidationError(problem)
    Agent.objects.select_for_update().filter(pk=agent.pk).first()
    last = AgentVersion.objects.filter(agent=agent).aggregate(n=Max("number"))["n"] or 0
    version = AgentVersion.objects.create(
        agent=agent,
        number=last + 1,
        status=VersionStatus.PUBLISHED,
        note=note[:300],
        snapshot=agent_snapshot(agent=agent),
        created_by=user if getattr(user, "is_authenticated", False) else None,
        published_at=timezone.now(),
    )
    for check in _PUBLISH_CHECKS:
        check.run(version, user)
    return version


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
    """Copy a version back into the draft (fields and every part, e.g. actions, handovers)."""
    if version.agent_id != agent.pk:
        raise ValidationError("That version belongs to another agent.")
    snap = version.snapshot
    for field in DRAFT_FIELDS:
        if field in snap:
            setattr(agent, field, snap[field])
    if "extraction_fields" not in snap:  # published before agents had any: none
        agent.extraction_fields = []
    agent.save()
    for part in definition_parts():
        part.restore(agent, snap.get(part.key, []))
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

    def texts(value: Any) -> bool:
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
    problem = _default_handover_problem(agent)
    if problem:
        errors["default_handover"] = [problem]
    field_problems = extraction_field_problems(agent.extraction_fields)
    if field_problems:
        errors["extraction_fields"] = field_problems
    else:
        agent.extraction_fields = extraction_fields_clean(agent.extraction_fields)
    return errors


def _default_handover_problem(agent: Agent) -> str:
    """The default human handover must name one of the agent's own handover actions."""
    if not agent.default_handover:
        return ""
    names = handover_names(agent=agent.pk) if agent.pk else []
    if agent.default_handover in names:
        return ""
    choose = f"choose one of {', '.join(names)}" if names else "add a handover action first"
    return f"{agent.default_handover} is not a handover action of this agent; {choose}."


def agent_draft_check(*, agent: Agent) -> None:
    """full_clean() plus the JSON shape of knowledge and intents (admin forms call it too)."""
    errors: dict[str, list[ValidationError]] = {}
    try:
        agent.full_clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    for field, messages in _draft_json_errors(agent).items():
        errors.setdefault(field, []).extend(ValidationError(m) for m in messages)
    if errors:
        raise ValidationError(errors)


def agent_create(*, workspace: Workspace, name: str, **draft: Any) -> Agent:
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


def action_full_clean(*, action: models.Model) -> None:
    """full_clean() plus the rule that all kinds of action of an agent share one namespace of
    names (agent actions, handover actions: every registered definition part)."""
    errors: dict[str, list[ValidationError]] = {}
    try:  # uniqueness of the name is checked below, across every kind of action
        action.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if isinstance(action, AgentAction) and action.kind in ACTION_CONFIG_KEYS:
        config = action.config
        if not isinstance(config, dict):
            errors.setdefault("config", []).append(
                ValidationError("The configuration is a JSON object.")
            )
        else:
            missing = [k for k in ACTION_CONFIG_KEYS[action.kind] if not config.get(k)]
            if missing:
                errors.setdefault("config", []).append(
                    ValidationError(
                        f"{action.get_kind_display()} actions need: {', '.join(missing)}."
                    )
                )
    name: str = getattr(action, "name", "")
    agent_id: int | None = getattr(action, "agent_id", None)
    if (
        name
        and agent_id
        and "name" not in errors
        and action_name_in_use(agent=agent_id, name=name, exclude=action)
    ):
        errors["name"] = [ValidationError(f"This agent already has an action called {name}.")]
    if errors:
        raise ValidationError(errors)


# Create, change and delete any kind of action: the agent's own (below) and handover actions
# (handovers.services) go through these, and so do the REST API and the Studio pages.

Action = TypeVar("Action", bound=models.Model)


def action_save(*, action: Action) -> Action:
    """Validate a new or changed action (action_full_clean) and save it."""
    action_full_clean(action=action)
    action.save()
    return action


def action_change(*, action: Action, fields: tuple[str, ...], changes: dict[str, Any]) -> Action:
    """Set `changes` (only `fields` may change), validate and save."""
    for field, value in changes.items():
        if field not in fields:
            raise ValidationError(f"{field} cannot be changed.")
        setattr(action, field, value)
    return action_save(action=action)


def action_delete(*, action: models.Model) -> None:
    action.delete()


def agent_action_create(
    *, agent: Agent, name: str, description: str, kind: str, config: dict[str, Any] | None = None
) -> AgentAction:
    action = AgentAction(
        agent=agent, name=name, description=description, kind=kind, config=config or {}
    )
    return action_save(action=action)


def agent_action_update(*, action: AgentAction, **changes: Any) -> AgentAction:
    return action_change(action=action, fields=ACTION_FIELDS, changes=changes)


def agent_action_delete(*, action: AgentAction) -> None:
    action_delete(action=action)
