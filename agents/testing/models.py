"""Test cases of an agent (caller turns with the outcome each must get) and their runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from agents.definitions.models import Agent


class AgentTestCase(models.Model):
    """A short script: `turns` is [{"say": text, "expect": outcome, "target": name}], where
    outcome is one of agents.testing.outcomes.EXPECTABLE and target is what it names ("" =
    any): a knowledge entry's index, an intent, a handover or an action."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="test_cases")
    name = models.CharField(max_length=120)
    turns = models.JSONField(default=list)
    generated = models.BooleanField(
        default=False, help_text="Written by the generator from the agent's own examples."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    ERROR = "error", "Error"


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "Run by hand"
    PUBLISH = "publish", "On publish"
    COMMAND = "command", "manage.py agent_test"


class AgentTestRun(models.Model):
    """One run of the suite on the draft (`version_number` None) or a version. `results` holds
    one entry per case: {"case_id", "name", "passed", "turns": [{"heard", "expected",
    "chosen", "target", "summary", "said", "passed", "why"}]}."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="test_runs")
    version_number = models.PositiveIntegerField(null=True, blank=True)
    brain = models.CharField(max_length=10)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    passed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    results = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # On publish: the run of the same cases on the version that was live until then.
    baseline = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.agent.name} tests on {self.target_label}"

    @property
    def target_label(self) -> str:
        return "the draft" if self.version_number is None else f"v{self.version_number}"

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r.get("passed")]
