"""Reads of environments and what differs per environment, always scoped to a workspace."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from agents.config.models import (
    AuthConnector,
    AuthConnectorCredential,
    Environment,
    Secret,
    SecretValue,
    Variable,
    VariableValue,
)
from agents.tenancy.models import Workspace
from stellar.kernel import crypto


def environment_values(*, environment: Environment) -> dict[str, dict[str, Any]]:
    """Secrets (decrypted) with the hosts each may go to, variables and auth credentials of
    one environment, for templates."""
    secret_values = list(
        SecretValue.objects.select_related("secret").filter(environment=environment)
    )
    secrets = {v.secret.name: crypto.decrypt(v.ciphertext) for v in secret_values}
    secret_hosts = {v.secret.name: list(v.secret.allowed_hosts or []) for v in secret_values}
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
    return {
        "secrets": secrets,
        "secret_hosts": secret_hosts,
        "variables": variables,
        "auth": auth,
    }


def environment_list(*, workspace: Workspace) -> QuerySet[Environment]:
    return Environment.objects.filter(workspace=workspace)


def secret_list(*, workspace: Workspace) -> QuerySet[Secret]:
    """Secrets with which environments hold a value; never the values themselves."""
    values = SecretValue.objects.select_related("environment").only(
        "id", "secret_id", "environment__id", "environment__kind", "updated_at"
    )
    return Secret.objects.filter(workspace=workspace).prefetch_related(
        Prefetch("values", queryset=values)
    )


def variable_list(*, workspace: Workspace) -> QuerySet[Variable]:
    return Variable.objects.filter(workspace=workspace).prefetch_related("values__environment")


def auth_connector_list(*, workspace: Workspace) -> QuerySet[AuthConnector]:
    """Auth connectors with which environments hold credentials; never the credentials."""
    credentials = AuthConnectorCredential.objects.select_related("environment").only(
        "id", "auth_connector_id", "environment__id", "environment__kind", "updated_at"
    )
    return AuthConnector.objects.filter(workspace=workspace).prefetch_related(
        Prefetch("credentials", queryset=credentials)
    )
