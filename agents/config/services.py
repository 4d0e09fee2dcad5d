"""Workspaces with their environments; secrets, variables and auth-connector credentials per
environment (values encrypted), and re-encrypting every stored secret under a new key."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.text import slugify

from agents.config.allowed_hosts import parse_allowed_hosts
from agents.config.models import (
    AuthConnector,
    AuthConnectorCredential,
    AuthKind,
    Environment,
    EnvironmentKind,
    EnvironmentWebhook,
    Secret,
    SecretValue,
    Variable,
    VariableValue,
)
from agents.tenancy.models import Membership, Role, Workspace
from stellar.kernel import crypto

CREDENTIAL_KEYS = {
    AuthKind.BEARER: ("token",),
    AuthKind.API_KEY: ("key",),
    AuthKind.BASIC: ("username", "password"),
    AuthKind.OAUTH2_CLIENT_CREDENTIALS: ("client_id", "client_secret"),
}


@transaction.atomic
def workspace_create(*, name: str, owner: Any) -> Workspace:
    """A workspace with its three environments, and `owner` as its first member."""
    base = slugify(name)[:50] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    workspace = Workspace.objects.create(name=name, slug=slug)
    for kind in EnvironmentKind.values:
        Environment.objects.create(workspace=workspace, kind=kind)
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def _check_environment(workspace_id: int, environment: Environment) -> None:
    if environment.workspace_id != workspace_id:
        raise ValidationError("That environment belongs to another workspace.")


def secret_set_value(*, secret: Secret, environment: Environment, value: str) -> SecretValue:
    _check_environment(secret.workspace_id, environment)
    if not value:
        raise ValidationError({"value": ["A secret value cannot be empty."]})
    obj, _ = SecretValue.objects.update_or_create(
        secret=secret, environment=environment, defaults={"ciphertext": crypto.encrypt(value)}
    )
    return obj


def variable_set_value(
    *, variable: Variable, environment: Environment, value: str
) -> VariableValue:
    _check_environment(variable.workspace_id, environment)
    obj, _ = VariableValue.objects.update_or_create(
        variable=variable, environment=environment, defaults={"value": value}
    )
    return obj


def auth_credentials_set(
    *, auth_connector: AuthConnector, environment: Environment, credentials: dict[str, Any]
) -> AuthConnectorCredential:
    _check_environment(auth_connector.workspace_id, environment)
    needed = CREDENTIAL_KEYS[AuthKind(auth_connector.kind)]
    missing = [k for k in needed if not credentials.get(k)]
    if missing:
        raise ValidationError({"credentials": [f"Missing: {', '.join(missing)}."]})
    payload = json.dumps({k: str(credentials[k]) for k in needed})
    obj, _ = AuthConnectorCredential.objects.update_or_create(
        auth_connector=auth_connector,
        environment=environment,
        defaults={"ciphertext": crypto.encrypt(payload)},
    )
    return obj


def auth_credentials_get(*, credential: AuthConnectorCredential) -> dict[str, str]:
    credentials: dict[str, str] = json.loads(crypto.decrypt(credential.ciphertext))
    return credentials


# The columns that hold Fernet ciphertext. Apps above agents that store secrets of their own
# add their columns in their AppConfig.ready() (connectors: the Twilio auth tokens), so key
# rotation covers them without agents importing those apps.
ENCRYPTED_COLUMNS: list[tuple[type[models.Model], str]] = [
    (SecretValue, "ciphertext"),
    (AuthConnectorCredential, "ciphertext"),
    (EnvironmentWebhook, "secret_ciphertext"),
]


def encrypted_column_register(model: type[models.Model], field: str) -> None:
    """Have encryption_keys_rotate() re-encrypt `model.field` too (idempotent)."""
    if (model, field) not in ENCRYPTED_COLUMNS:
        ENCRYPTED_COLUMNS.append((model, field))


@transaction.atomic
def encryption_keys_rotate() -> int:
    """Re-encrypt every stored secret under the first configured key; returns rows rewritten."""
    count = 0
    for model, field in ENCRYPTED_COLUMNS:
        for obj in model._default_manager.select_for_update().only("pk", field):
            setattr(obj, field, crypto.rotate(getattr(obj, field)))
            obj.save(update_fields=[field])
            count += 1
    return count


Named = TypeVar("Named", Secret, Variable, AuthConnector)


def _saved(obj: Named) -> Named:
    """full_clean() with a clear message when the workspace already uses the name."""
    taken = (
        type(obj)
        .objects.filter(workspace_id=obj.workspace_id, name=obj.name)
        .exclude(pk=obj.pk)
        .exists()
    )
    errors: dict[str, list[ValidationError]] = {}
    try:
        obj.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if taken and "name" not in errors:
        errors["name"] = [
            ValidationError(
                f"This workspace already has a {obj._meta.verbose_name} called {obj.name}."
            )
        ]
    if errors:
        raise ValidationError(errors)
    obj.save()
    return obj


def secret_create(
    *,
    workspace: Workspace,
    name: str,
    description: str = "",
    allowed_hosts: str | Iterable[str] = (),
) -> Secret:
    """A new secret; sent nowhere until an admin lists the hosts it may go to."""
    hosts = _hosts(allowed_hosts)
    return _saved(
        Secret(workspace=workspace, name=name, description=description, allowed_hosts=hosts)
    )


def secret_update(
    *, secret: Secret, description: str, allowed_hosts: str | Iterable[str] | None = None
) -> Secret:
    """Description and allowed hosts change; the name does not (templates refer to it)."""
    secret.description = description
    if allowed_hosts is not None:
        secret.allowed_hosts = _hosts(allowed_hosts)
    return _saved(secret)


def _hosts(value: str | Iterable[str]) -> list[str]:
    try:
        return parse_allowed_hosts(value)
    except ValidationError as exc:
        raise ValidationError({"allowed_hosts": exc.messages}) from None


def secret_delete(*, secret: Secret) -> None:
    secret.delete()


def variable_create(*, workspace: Workspace, name: str, description: str = "") -> Variable:
    return _saved(Variable(workspace=workspace, name=name, description=description))


def variable_update(*, variable: Variable, description: str) -> Variable:
    variable.description = description
    return _saved(variable)


def variable_delete(*, variable: Variable) -> None:
    variable.delete()


def auth_connector_create(
    *,
    workspace: Workspace,
    name: str,
    kind: str,
    header_name: str = "",
    token_url: str = "",
    scope: str = "",
    allowed_hosts: str | Iterable[str] = (),
) -> AuthConnector:
    """A new auth connector; its credentials go nowhere until an admin lists allowed hosts."""
    connector = AuthConnector(
        workspace=workspace,
        name=name,
        kind=kind,
        header_name=header_name,
        token_url=token_url,
        scope=scope,
        allowed_hosts=_hosts(allowed_hosts),
    )
    _auth_connector_check(connector)
    return _saved(connector)


def auth_connector_update(
    *, auth_connector: AuthConnector, **changes: str | Iterable[str]
) -> AuthConnector:
    """Name and kind are fixed: actions refer to the name, stored credentials fit the kind."""
    for field, value in changes.items():
        if field == "allowed_hosts":
            auth_connector.allowed_hosts = _hosts(value)
            continue
        if field not in ("header_name", "token_url", "scope"):
            raise ValidationError(f"{field} cannot be changed.")
        setattr(auth_connector, field, value)
    _auth_connector_check(auth_connector)
    return _saved(auth_connector)


def auth_connector_delete(*, auth_connector: AuthConnector) -> None:
    auth_connector.delete()


def _auth_connector_check(connector: AuthConnector) -> None:
    if connector.kind == AuthKind.OAUTH2_CLIENT_CREDENTIALS and not connector.token_url:
        raise ValidationError({"token_url": ["OAuth2 client credentials need the token URL."]})
