"""Agent actions other than handovers (those live in the handovers app)."""

from django.core.validators import RegexValidator
from django.db import models

from agents.definitions.models import Agent

action_name_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,62}$",
    "Use lowercase letters, digits and underscores, like transfer_to_sales.",
)


class ActionKind(models.TextChoices):
    STATIC_RESPONSE = "static_response", "Static response"
    API_CALL = "api_call", "API call"
    END_CALL = "end_call", "End call"
    SEND_SMS = "send_sms", "Send text message"


class AgentAction(models.Model):
    """Config keys per kind:

    static_response: {"response"}; end_call: {"goodbye"};
    api_call: {"method", "url", "headers": {}, "body": str, "auth_connector": name,
               "timeout_seconds", "response_template"};
    send_sms: {"to": template (default "{{ call.from }}"), "body": template}.
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="actions")
    name = models.CharField(max_length=63, validators=[action_name_validator])
    description = models.TextField(help_text="When the agent should use this action.")
    kind = models.CharField(max_length=20, choices=ActionKind.choices)
    config = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "name"], name="unique_agent_action_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
