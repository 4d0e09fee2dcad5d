"""An agent: one editable draft (the fields on Agent) and immutable numbered versions."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from agents.tenancy.models import Workspace


class Brain(models.TextChoices):
    EMBEDDED = "embedded", "Embedded (offline)"
    LLM = "llm", "LLM (OpenAI-compatible)"


class TurnDetection(models.TextChoices):
    SMART = "smart", "Smart: ends a finished sentence quickly, waits through pauses"
    SILENCE = "silence", "Fixed silence (500 ms)"


class Agent(models.Model):
    """The draft lives directly on the agent; publishing snapshots it into an AgentVersion."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=120)
    language = models.CharField(max_length=16, default="en-US")
    voice = models.CharField(max_length=40, default="joe")
    greeting = models.TextField(
        default="Hello, thank you for calling. How can I help you today?", blank=True
    )
    system_prompt = models.TextField(
        blank=True, help_text="Personality and instructions for the agent."
    )
    brain = models.CharField(max_length=10, choices=Brain.choices, default=Brain.EMBEDDED)
    llm_model = models.CharField(max_length=100, blank=True)
    default_handover = models.CharField(
        max_length=63,
        blank=True,
        help_text="The handover used when a caller asks for a person without saying whom.",
    )
    turn_detection = models.CharField(
        max_length=10,
        choices=TurnDetection.choices,
        default=TurnDetection.SMART,
        help_text="How the agent decides that the caller has finished speaking.",
    )
    silence_timeout_seconds = models.PositiveIntegerField(
        default=8, help_text="Re-prompt the caller after this much silence."
    )
    silence_reprompts = models.PositiveIntegerField(
        default=2, help_text="Re-prompts before ending the call politely."
    )
    # [{"question": str, "answer": str}]
    knowledge = models.JSONField(default=list, blank=True)
    # [{"name": str, "examples": [str], "response": str, "action": str}]
    intents = models.JSONField(default=list, blank=True)
    # What to fill in after each call (calls.postcall.extraction):
    # [{"name": slug, "type": text|number|date|phone|yes_no|choice, "description": str,
    #   "options": [str] (choice only)}]
    extraction_fields = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class VersionStatus(models.TextChoices):
    PUBLISHED = "published", "Published"
    UNPUBLISHED = "unpublished", "Unpublished"


class ImmutableVersionError(ValidationError):
    """Raised on any attempt to change a version's content, or a locked version at all."""


class AgentVersion(models.Model):
    """An immutable snapshot of the draft. Only status, note-free lock changes are allowed."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=12, choices=VersionStatus.choices, default=VersionStatus.PUBLISHED
    )
    locked = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True)
    snapshot = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    IMMUTABLE_FIELDS = ("agent_id", "number", "snapshot", "note", "created_by_id")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "number"], name="unique_version_number")
        ]
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"{self.agent.name} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values(*self.IMMUTABLE_FIELDS, "locked")
            stored = stored.first()
            if stored is not None:
                changed = [f for f in self.IMMUTABLE_FIELDS if stored[f] != getattr(self, f)]
                if changed:
                    raise ImmutableVersionError(
                        f"{self.label} is immutable: its content cannot be changed "
                        f"({', '.join(changed)}). Restore it into the draft and publish a new version."
                    )
                if stored["locked"]:
                    raise ImmutableVersionError(f"{self.label} is locked and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self.locked or self.status == VersionStatus.PUBLISHED:
            raise ImmutableVersionError(
                f"{self.label} is {self.display_status}; unpublish an unlocked version first."
            )
        return super().delete(*args, **kwargs)

    @property
    def label(self) -> str:
        return f"v{self.number}"

    @property
    def display_status(self) -> str:
        return f"{self.status}, locked" if self.locked else self.status
