"""Secrets, variables and auth-connector credentials per environment (values encrypted)."""

import json

from django.db import transaction

from agents import crypto
from agents.models import (
    AuthConnector,
    AuthConnectorCredential,
    AuthKind,
    Environment,
    Secret,
    SecretValue,
    Variable,
    VariableValue,
)
from django.core.exceptions import ValidationError

CREDENTIAL_KEYS = {
    AuthKind.BEARER: ("token",),
    AuthKind.API_KEY: ("key",),
    AuthKind.BASIC: ("username", "password"),
    AuthKind.OAUTH2_CLIENT_CREDENTIALS: ("client_id", "client_secret"),
}


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


def variable_set_value(*, variable: Variable, environment: Environment, value: str):
    _check_environment(variable.workspace_id, environment)
    obj, _ = VariableValue.objects.update_or_create(
        variable=variable, environment=environment, defaults={"value": value}
    )
    return obj


def auth_credentials_set(
    *, auth_connector: AuthConnector, environment: Environment, credentials: dict
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


def auth_credentials_get(*, credential: AuthConnectorCredential) -> dict:
    return json.loads(crypto.decrypt(credential.ciphertext))


@transaction.atomic
def encryption_keys_rotate() -> int:
    """Re-encrypt every stored secret under the first configured key; returns rows rewritten."""
    from connectors.models import PhoneConnector

    count = 0
    for model, field in (
        (SecretValue, "ciphertext"),
        (AuthConnectorCredential, "ciphertext"),
        (PhoneConnector, "twilio_auth_token_ciphertext"),
    ):
        for obj in model.objects.select_for_update().only("pk", field):
            setattr(obj, field, crypto.rotate(getattr(obj, field)))
            obj.save(update_fields=[field])
            count += 1
    return count
