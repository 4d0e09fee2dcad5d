"""Phone connectors: a Twilio account + number pointed at an agent in one environment."""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.urls import reverse

from agents.models import Agent, AgentVersion, Environment, Workspace
from connectors.rollout import rollout_describe
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


class OverflowAction(models.TextChoices):
    MESSAGE = "message", "Say a message and hang up"
    FORWARD = "forward", "Forward to a number"


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
    # Gradual rollout (docs/rollout.md): the agent answers `rollout_percent` % of callers; the
    # rest are dialled through to `existing_line`, the team's current number.
    rollout_percent = models.PositiveSmallIntegerField(
        default=100, validators=[MaxValueValidator(100)]
    )
    existing_line = models.CharField(max_length=20, blank=True, default="")
    # Canary / A-B: of the agent's share, `candidate_percent` % of callers get this version.
    candidate_version = models.ForeignKey(
        AgentVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    candidate_percent = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)]
    )
    # Capacity (docs/capacity.md): at most `max_concurrent_calls` live calls (None = no cap);
    # a caller past the cap, or past what the media processes can serve, gets the overflow rule.
    max_concurrent_calls = models.PositiveIntegerField(null=True, blank=True)
    overflow_action = models.CharField(
        max_length=10, choices=OverflowAction.choices, default=OverflowAction.MESSAGE
    )
    overflow_number = models.CharField(max_length=20, blank=True, default="")
    overflow_message = models.CharField(max_length=300, blank=True, default="")

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


class RolloutChange(models.Model):
    """One audited change of a connector's rollout settings: who, when, from -> to."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    connector = models.ForeignKey(
        PhoneConnector, on_delete=models.CASCADE, related_name="rollout_changes"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The name at the time of the change: the audit keeps "who" after the account is deleted.
    changed_by_name = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.connector_id} rollout change by {self.changed_by_name}"

    @property
    def before_text(self) -> str:
        return rollout_describe(self.before)

    @property
    def after_text(self) -> str:
        return rollout_describe(self.after)


class WorkspaceCallCap(models.Model):
    """The workspace-wide cap on live calls across all its connectors (None = no cap). Kept on
    the connectors side so capacity needs no agents migration."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="call_cap")
    max_concurrent_calls = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.workspace_id}: {self.max_concurrent_calls}"
