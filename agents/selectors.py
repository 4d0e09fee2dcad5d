"""Reads of the agents app, always scoped to a workspace."""

from __future__ import annotations

from agents import crypto
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
