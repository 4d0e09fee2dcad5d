"""An environment's webhook: where calls.postcall sends `call.ended`, and the signing secret.

The secret is generated here (never chosen by a person), stored as Fernet ciphertext and
returned in plain text only by the call that generated it, so Studio and the API can show it
once; rotating replaces it at once (receivers then verify with the new one).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone

from agents.config.models import Environment, EnvironmentWebhook
from agents.tenancy.models import Workspace
from stellar.kernel import crypto

SECRET_PREFIX = "whsec_"


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_url_check(url: str) -> str:
    """An http(s) URL without credentials in it (they would be logged with every attempt)."""
    url = (url or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({"url": ["Enter an http:// or https:// URL."]}) from None
    if urlsplit(url).username or urlsplit(url).password:
        raise ValidationError(
            {
                "url": [
                    "Leave user names and passwords out of the URL: receivers verify the "
                    "Stellar-Signature header instead."
                ]
            }
        )
    return url


def webhook_get(*, workspace: Workspace, environment: Environment) -> EnvironmentWebhook | None:
    return EnvironmentWebhook.objects.filter(
        environment=environment, environment__workspace=workspace
    ).first()


def webhook_set(
    *, workspace: Workspace, environment: Environment, url: str, enabled: bool = True
) -> tuple[EnvironmentWebhook, str]:
    """Create or change the environment's webhook. Returns it and, when it was created, its
    new secret in plain text (to show once; "" when an existing webhook was changed)."""
    if environment.workspace_id != workspace.pk:
        raise ValidationError("That environment belongs to another workspace.")
    url = webhook_url_check(url)
    webhook = webhook_get(workspace=workspace, environment=environment)
    if webhook is not None:
        webhook.url, webhook.enabled = url, enabled
        webhook.save(update_fields=["url", "enabled"])
        return webhook, ""
    secret = _new_secret()
    webhook = EnvironmentWebhook.objects.create(
        environment=environment, url=url, enabled=enabled, secret_ciphertext=crypto.encrypt(secret)
    )
    return webhook, secret


def webhook_rotate_secret(*, webhook: EnvironmentWebhook) -> str:
    """A new signing secret, effective at once; returned in plain text to show once."""
    secret = _new_secret()
    webhook.secret_ciphertext = crypto.encrypt(secret)
    webhook.secret_rotated_at = timezone.now()
    webhook.save(update_fields=["secret_ciphertext", "secret_rotated_at"])
    return secret


def webhook_delete(*, webhook: EnvironmentWebhook) -> None:
    webhook.delete()


def webhook_secret(webhook: EnvironmentWebhook) -> str:
    """The signing secret in plain text, for signing only: never rendered or logged."""
    return crypto.decrypt(webhook.secret_ciphertext)


def webhook_rows(
    *, workspace: Workspace, environments: list[Environment]
) -> list[tuple[Environment, EnvironmentWebhook | None]]:
    """[(environment, its webhook or None)] in the environments' order (no secret read)."""
    by_env = {
        w.environment_id: w
        for w in EnvironmentWebhook.objects.filter(environment__workspace=workspace).defer(
            "secret_ciphertext"
        )
    }
    return [(env, by_env.get(env.pk)) for env in environments]
