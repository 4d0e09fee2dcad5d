"""Handover actions: hand the caller to a human phone number (or back to a Twilio Studio flow)."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from agents.definitions.action_models import action_name_validator
from agents.definitions.models import Agent
from stellar.kernel.phone import check_destination, normalize_e164, validate_e164


class HandoverKind(models.TextChoices):
    PHONE = "phone", "Phone"
    STUDIO_FLOW = "studio_flow", "Return to Twilio Studio flow"


class Fallback(models.TextChoices):
    HANGUP = "hangup", "Apologise and hang up"
    NEXT_DESTINATION = "next_destination", "Try the next destination"
    RECONNECT_AGENT = "reconnect_agent", "Reconnect the caller to the agent"


# What a version snapshot, the API and the admin carry of a handover action.
SNAPSHOT_FIELDS = (
    "name",
    "description",
    "kind",
    "destination",
    "extra_destinations",
    "caller_id",
    "ring_timeout",
    "fallback",
    "handover_message",
    "flow_sid",
    "whisper",
)


class HandoverAction(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="handover_actions")
    name = models.CharField(max_length=63, validators=[action_name_validator])
    description = models.TextField(help_text="When the agent should hand the caller over.")
    kind = models.CharField(max_length=12, choices=HandoverKind.choices, default=HandoverKind.PHONE)
    destination = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_e164],
        help_text="E.164 with country code, e.g. +31201234567.",
    )
    extra_destinations = models.JSONField(
        default=list,
        blank=True,
        help_text="Tried in order when the fallback is 'next destination'.",
    )
    caller_id = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_e164],
        help_text="Caller ID shown to the destination; empty uses the number that was called.",
    )
    ring_timeout = models.PositiveIntegerField(
        default=20, validators=[MinValueValidator(5), MaxValueValidator(600)]
    )
    fallback = models.CharField(max_length=20, choices=Fallback.choices, default=Fallback.HANGUP)
    handover_message = models.CharField(
        max_length=300, default="Please hold while I transfer your call.", blank=True
    )
    flow_sid = models.CharField(
        max_length=34,
        blank=True,
        validators=[RegexValidator(r"^FW[0-9a-fA-F]{32}$", "A Flow SID looks like FW + 32 hex.")],
    )
    whisper = models.BooleanField(
        default=False,
        help_text=(
            "Before connecting, tell the person who answers who is calling and why "
            "(only they hear it)."
        ),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "name"], name="unique_handover_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.kind == HandoverKind.PHONE:
            try:
                # Numbers we dial: an allowed country, never premium-rate (toll fraud).
                self.destination = check_destination(self.destination)
            except ValidationError as exc:
                errors["destination"] = exc.messages
            try:
                self.extra_destinations = [check_destination(d) for d in self.extra_destinations]
            except ValidationError as exc:
                errors["extra_destinations"] = exc.messages
        elif not self.flow_sid:
            errors["flow_sid"] = ["Enter the Twilio Studio Flow SID (FW…) to return to."]
        if self.caller_id:
            try:
                self.caller_id = normalize_e164(self.caller_id)
            except ValidationError as exc:
                errors["caller_id"] = exc.messages
        if errors:
            raise ValidationError(errors)
