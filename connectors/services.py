"""Creating and changing phone connectors."""

import logging
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from agents.models import (
    Agent,
    AgentVersion,
    Environment,
    EnvironmentKind,
    Role,
    VersionStatus,
    Workspace,
)
from agents.tenancy.models import ROLE_RANK
from connectors.models import PhoneConnector, RolloutChange, VersionMode
from stellar.kernel.phone import check_destination

logger = logging.getLogger(__name__)

ROLLOUT_FIELDS = ("rollout_percent", "existing_line", "candidate_version", "candidate_percent")
EDITABLE_FIELDS = ("name", "agent", "environment", "version_mode", "pinned_version", "enabled")
DRAFT_IN_PRODUCTION = (
    "Only admins can let the draft answer real calls in Production: it runs with the "
    "Production secrets and has not been published."
)


def _check_draft_in_production(connector: PhoneConnector, actor_role: str | None) -> None:
    """Draft mode on a Production connector is the admins' (None: the system itself)."""
    if actor_role is None or ROLE_RANK[Role(actor_role)] >= ROLE_RANK[Role.ADMIN]:
        return
    if connector.version_mode != VersionMode.DRAFT:
        return
    kind = (
        Environment.objects.filter(pk=connector.environment_id)
        .values_list("kind", flat=True)
        .first()
    )
    if kind == EnvironmentKind.PRODUCTION:
        raise ValidationError({"version_mode": [DRAFT_IN_PRODUCTION]})


def _validate(connector: PhoneConnector) -> None:
    errors: dict[str, list[str]] = {}
    ws = connector.workspace_id
    if (
        connector.agent_id
        and Agent.objects.filter(pk=connector.agent_id)
        .values_list("workspace_id", flat=True)
        .first()
        != ws
    ):
        errors["agent"] = ["Choose an agent of this workspace."]
    if (
        connector.environment_id
        and Environment.objects.filter(pk=connector.environment_id)
        .values_list("workspace_id", flat=True)
        .first()
        != ws
    ):
        errors["environment"] = ["Choose an environment of this workspace."]
    if connector.version_mode == VersionMode.PINNED:
        if connector.pinned_version_id is None:
            errors["pinned_version"] = ["Pinned mode needs a version to pin."]
        elif (
            AgentVersion.objects.filter(pk=connector.pinned_version_id)
            .values_list("agent_id", flat=True)
            .first()
            != connector.agent_id
        ):
            errors["pinned_version"] = ["That version belongs to another agent."]
    else:
        connector.pinned_version = None
    if connector.candidate_version_id is not None and (
        AgentVersion.objects.filter(pk=connector.candidate_version_id)
        .values_list("agent_id", flat=True)
        .first()
        != connector.agent_id
    ):
        errors.setdefault("agent", []).append(
            "This connector splits its calls with a candidate version of another agent: "
            "remove the candidate in Rollout before changing the agent."
        )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def connector_create(
    *,
    workspace: Workspace,
    name: str,
    agent: Agent,
    environment: Environment,
    twilio_account_sid: str,
    twilio_auth_token: str,
    version_mode: str = VersionMode.PUBLISHED,
    pinned_version: AgentVersion | None = None,
    enabled: bool = True,
    actor_role: str | None = None,
) -> PhoneConnector:
    """`actor_role`: the role of the member doing it (None: the system, e.g. admin or the demo)."""
    if not twilio_auth_token:
        raise ValidationError({"twilio_auth_token": ["Enter the Twilio Auth Token."]})
    connector = PhoneConnector(
        workspace=workspace,
        name=name,
        agent=agent,
        environment=environment,
        version_mode=version_mode,
        pinned_version=pinned_version,
        twilio_account_sid=twilio_account_sid,
        enabled=enabled,
    )
    connector.set_auth_token(twilio_auth_token)
    connector.full_clean(exclude=["twilio_auth_token_ciphertext"])
    _validate(connector)
    _check_draft_in_production(connector, actor_role)
    connector.save()
    return connector


@transaction.atomic
def connector_update(
    *,
    connector: PhoneConnector,
    twilio_auth_token: str | None = None,
    actor_role: str | None = None,
    **changes: object,
) -> PhoneConnector:
    for field, value in changes.items():
        if field not in EDITABLE_FIELDS + ("twilio_account_sid",):
            raise ValidationError(f"{field} cannot be changed.")
        setattr(connector, field, value)
    if twilio_auth_token:
        connector.set_auth_token(twilio_auth_token)
    # The rollout changes only through connector_rollout_set (audited): validate against the
    # stored one and never write back a stale copy of it.
    connector.refresh_from_db(fields=list(ROLLOUT_FIELDS))
    connector.full_clean(exclude=["twilio_auth_token_ciphertext"])
    _validate(connector)
    _check_draft_in_production(connector, actor_role)
    connector.save(update_fields=_fields_except_rollout(connector))
    return connector


def _fields_except_rollout(connector: PhoneConnector) -> list[str]:
    return [
        f.name
        for f in connector._meta.concrete_fields
        if not f.primary_key and f.name not in ROLLOUT_FIELDS
    ]


def connector_check(*, connector: PhoneConnector) -> None:
    """Validate a connector without saving it, e.g. so an admin form can show the errors."""
    connector.full_clean(exclude=["twilio_auth_token_ciphertext"])
    _validate(connector)


def rollout_snapshot(connector: PhoneConnector) -> dict[str, Any]:
    """The rollout settings as the audit stores them (a version by id and label)."""
    version = connector.candidate_version
    return {
        "rollout_percent": connector.rollout_percent,
        "existing_line": connector.existing_line,
        "candidate_version": None
        if version is None
        else {"id": version.pk, "label": version.label},
        "candidate_percent": connector.candidate_percent,
    }


def _validate_rollout(connector: PhoneConnector) -> None:
    errors: dict[str, list[str]] = {}
    for field in ("rollout_percent", "candidate_percent"):
        value = getattr(connector, field)
        if not isinstance(value, int) or not 0 <= value <= 100:
            errors[field] = ["Enter a share between 0 and 100 %."]
    if connector.existing_line:
        try:
            connector.existing_line = check_destination(connector.existing_line)
        except ValidationError as exc:
            errors["existing_line"] = exc.messages
    elif isinstance(connector.rollout_percent, int) and connector.rollout_percent < 100:
        errors["existing_line"] = [
            "Enter the existing line: the callers the agent does not take are sent there."
        ]
    version = connector.candidate_version
    if version is not None:
        if version.agent_id != connector.agent_id:
            errors["candidate_version"] = ["Choose a version of this connector's agent."]
        elif version.status != VersionStatus.PUBLISHED:
            errors["candidate_version"] = [
                f"{version.label} is unpublished: publish it to let it answer calls."
            ]
        elif connector.version_mode == VersionMode.PINNED and (
            version.pk == connector.pinned_version_id
        ):
            errors["candidate_version"] = [f"{version.label} already answers: it is pinned."]
    elif connector.candidate_percent:
        errors["candidate_version"] = ["Choose the candidate version that gets this share."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def connector_rollout_set(
    *,
    connector: PhoneConnector,
    changed_by: User | None,
    rollout_percent: int,
    existing_line: str = "",
    candidate_version: AgentVersion | None = None,
    candidate_percent: int = 0,
) -> PhoneConnector:
    """Change who reaches the agent and which version answers, audited: who, when, from → to.
    Works on a fresh, locked copy of the row, so two editors saving at once leave two truthful
    audit entries, and a refused change leaves the caller's instance as it was."""
    connector = PhoneConnector.objects.select_for_update().get(pk=connector.pk)
    before = rollout_snapshot(connector)
    connector.rollout_percent = rollout_percent
    connector.existing_line = (existing_line or "").strip()
    connector.candidate_version = candidate_version
    connector.candidate_percent = candidate_percent
    _validate_rollout(connector)
    after = rollout_snapshot(connector)
    if after == before:
        return connector
    connector.save(update_fields=list(ROLLOUT_FIELDS))
    RolloutChange.objects.create(
        workspace_id=connector.workspace_id,
        connector=connector,
        changed_by=changed_by,
        changed_by_name=changed_by.get_username() if changed_by is not None else "system",
        before=before,
        after=after,
    )
    logger.info(
        "connector %s rollout changed: %s %% to the agent, candidate %s at %s %%",
        connector.pk,
        connector.rollout_percent,
        connector.candidate_version_id,
        connector.candidate_percent,
    )
    return connector


def connector_delete(*, connector: PhoneConnector) -> None:
    connector.delete()
