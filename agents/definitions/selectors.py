"""Reads of the agents app, always scoped to a workspace."""

from __future__ import annotations

from agents.models import (
    Agent,
    AgentVersion,
    AuthConnectorCredential,
    Environment,
    Membership,
    SecretValue,
    VariableValue,
    VersionStatus,
    Workspace,
)
from stellar.kernel import crypto


def membership_for(*, user, workspace: Workspace | None = None) -> Membership | None:
    """The user's membership in `workspace`, or their first workspace when none is given."""
    if not getattr(user, "is_authenticated", False):
        return None
    qs = Membership.objects.select_related("workspace").filter(user=user)
    if workspace is not None:
        qs = qs.filter(workspace=workspace)
    return qs.order_by("id").first()


def agent_list(*, workspace: Workspace):
    return Agent.objects.filter(workspace=workspace)


def latest_published_version(*, agent: Agent) -> AgentVersion | None:
    return (
        AgentVersion.objects.filter(agent=agent, status=VersionStatus.PUBLISHED)
        .order_by("-number")
        .first()
    )


def environment_values(*, environment: Environment) -> dict:
    """Secrets (decrypted), variables and auth credentials of one environment, for templates."""
    secrets = {
        v.secret.name: crypto.decrypt(v.ciphertext)
        for v in SecretValue.objects.select_related("secret").filter(environment=environment)
    }
    variables = {
        v.variable.name: v.value
        for v in VariableValue.objects.select_related("variable").filter(environment=environment)
    }
    auth = {
        c.auth_connector.name: c
        for c in AuthConnectorCredential.objects.select_related("auth_connector").filter(
            environment=environment
        )
    }
    return {"secrets": secrets, "variables": variables, "auth": auth}


def agent_list_with_latest_version(*, workspace: Workspace):
    """Agents annotated with their highest-numbered version (any status) and latest published."""
    from django.db.models import OuterRef, Subquery

    versions = AgentVersion.objects.filter(agent=OuterRef("pk")).order_by("-number")
    published = versions.filter(status=VersionStatus.PUBLISHED)
    return agent_list(workspace=workspace).annotate(
        latest_version_number=Subquery(versions.values("number")[:1]),
        latest_version_status=Subquery(versions.values("status")[:1]),
        latest_version_locked=Subquery(versions.values("locked")[:1]),
        latest_published_number=Subquery(published.values("number")[:1]),
    )


def agent_version_list(*, agent: Agent):
    return AgentVersion.objects.filter(agent=agent).select_related("created_by")


def action_name_in_use(
    *, agent: Agent, name: str, exclude_action_id=None, exclude_handover_id=None
) -> bool:
    """Agent actions and handover actions share one namespace per agent: the brain picks by name."""
    from agents.models import AgentAction
    from handovers.models import HandoverAction

    actions = AgentAction.objects.filter(agent=agent, name=name).exclude(pk=exclude_action_id)
    handovers = HandoverAction.objects.filter(agent=agent, name=name).exclude(
        pk=exclude_handover_id
    )
    return actions.exists() or handovers.exists()


def environment_list(*, workspace: Workspace):
    return Environment.objects.filter(workspace=workspace)


def secret_list(*, workspace: Workspace):
    """Secrets with which environments hold a value; never the values themselves."""
    from django.db.models import Prefetch

    from agents.models import Secret

    values = SecretValue.objects.select_related("environment").only(
        "id", "secret_id", "environment__id", "environment__kind", "updated_at"
    )
    return Secret.objects.filter(workspace=workspace).prefetch_related(
        Prefetch("values", queryset=values)
    )


def variable_list(*, workspace: Workspace):
    from agents.models import Variable

    return Variable.objects.filter(workspace=workspace).prefetch_related("values__environment")


def auth_connector_list(*, workspace: Workspace):
    """Auth connectors with which environments hold credentials; never the credentials."""
    from django.db.models import Prefetch

    from agents.models import AuthConnector

    credentials = AuthConnectorCredential.objects.select_related("environment").only(
        "id", "auth_connector_id", "environment__id", "environment__kind", "updated_at"
    )
    return AuthConnector.objects.filter(workspace=workspace).prefetch_related(
        Prefetch("credentials", queryset=credentials)
    )


def membership_list(*, workspace: Workspace):
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by("id")
