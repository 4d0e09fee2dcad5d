"""Creating and changing phone connectors."""

from django.core.exceptions import ValidationError
from django.db import transaction

from agents.models import Agent, AgentVersion, Environment, EnvironmentKind, Role, Workspace
from agents.tenancy.models import ROLE_RANK
from connectors.models import PhoneConnector, VersionMode

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
    connector.full_clean(exclude=["twilio_auth_token_ciphertext"])
    _validate(connector)
    _check_draft_in_production(connector, actor_role)
    connector.save()
    return connector


def connector_check(*, connector: PhoneConnector) -> None:
    """Validate a connector without saving it, e.g. so an admin form can show the errors."""
    connector.full_clean(exclude=["twilio_auth_token_ciphertext"])
    _validate(connector)


def connector_delete(*, connector: PhoneConnector) -> None:
    connector.delete()
