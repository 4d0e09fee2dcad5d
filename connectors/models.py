"""Phone connectors: a Twilio account + number pointed at an agent in one environment."""

import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse

from agents.models import Agent, AgentVersion, Environment, Workspace
from stellar.kernel import crypto

IDENTIFIER_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
IDENTIFIER_LENGTH = 24  # ≈ 124 bits


def new_identifier() -> str:
    """Unguessable public id used in the webhook URL: lowercase letters and digits only, so it
    is URL-safe and shell-safe (never starts with '-') and never wraps at a hyphen."""
    return "".join(secrets.choice(IDENTIFIER_ALPHABET) for _ in range(IDENTIFIER_LENGTH))


class ConnectorKind(models.TextChoices):
    TWILIO = "twilio", "Twilio"


class VersionMode(models.TextChoices):
    PUBLISHED = "published", "Published"
    DRAFT = "draft", "Draft"
    PINNED = "pinned", "Pinned"


class PhoneConnector(models.Model):
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="phone_connectors"
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=ConnectorKind.choices, default="twilio")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="phone_connectors")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT)
    version_mode = models.CharField(
        max_length=10, choices=VersionMode.choices, default=VersionMode.PUBLISHED
    )
    pinned_version = models.ForeignKey(
        AgentVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    identifier = models.CharField(max_length=40, unique=True, default=new_identifier)
    twilio_account_sid = models.CharField(
        max_length=34,
        validators=[
            RegexValidator(r"^AC[0-9a-fA-F]{32}$", "An Account SID looks like AC + 32 hex.")
        ],
    )
    twilio_auth_token_ciphertext = models.TextField()
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_auth_token(self, token: str) -> None:
        self.twilio_auth_token_ciphertext = crypto.encrypt(token)

    def get_auth_token(self) -> str:
        return crypto.decrypt(self.twilio_auth_token_ciphertext)

    @property
    def webhook_path(self) -> str:
        return reverse("voice-webhook", args=[self.identifier])

    @property
    def webhook_url(self) -> str:
        return f"{settings.STELLAR_PUBLIC_URL}{self.webhook_path}"  # (a str setting)
