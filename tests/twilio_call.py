"""Test builders for the call path: a published agent behind a Twilio connector, signed requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from twilio.request_validator import RequestValidator

from agents.config.services import workspace_create
from agents.definitions.versions import agent_publish
from agents.models import Agent, AgentAction, Environment
from connectors.models import PhoneConnector
from connectors.services import connector_create
from handovers.models import HandoverAction

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "test-auth-token-0123456789"
OWNER_PASSWORD = "owner-pass-4821"


@dataclass
class Line:
    connector: PhoneConnector
    agent: Agent
    owner: object = None  # the workspace owner (password OWNER_PASSWORD)

    @property
    def validator(self) -> RequestValidator:
        return RequestValidator(AUTH_TOKEN)


def new_call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def build_line(*, publish: bool = True, slug: str | None = None, **agent_fields) -> Line:
    user = get_user_model().objects.create_user(
        f"owner-{uuid.uuid4().hex[:8]}", password=OWNER_PASSWORD
    )
    workspace = workspace_create(name=slug or f"ws-{uuid.uuid4().hex[:6]}", owner=user)
    agent = Agent.objects.create(
        workspace=workspace,
        name="Support",
        greeting=agent_fields.pop("greeting", "Hello, thank you for calling Stellar."),
        knowledge=agent_fields.pop(
            "knowledge",
            [
                {
                    "question": "What are your opening hours?",
                    "answer": "We are open Monday to Friday from nine to six.",
                }
            ],
        ),
        **agent_fields,
    )
    HandoverAction.objects.create(
        agent=agent,
        name="transfer_to_sales",
        description="The caller wants to buy something or talk to sales.",
        destination="+31201234567",
        caller_id="+31209999999",
        ring_timeout=25,
        handover_message="Let me put you through to sales.",
    )
    HandoverAction.objects.create(
        agent=agent,
        name="transfer_to_support",
        description="The caller has a technical problem and needs support.",
        destination="+31207654321",
        fallback="reconnect_agent",
        handover_message="Connecting you to support.",
    )
    AgentAction.objects.create(
        agent=agent,
        name="end_call",
        description="The caller says goodbye.",
        kind="end_call",
        config={"goodbye": "Thank you for calling. Goodbye!"},
    )
    if publish:
        agent_publish(agent=agent, user=user)
    connector = connector_create(
        workspace=workspace,
        name="Main line",
        agent=agent,
        environment=Environment.objects.get(workspace=workspace, kind="production"),
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
    )
    return Line(connector=connector, agent=agent, owner=user)


def voice_params(call_sid: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "CallSid": call_sid or new_call_sid(),
        "AccountSid": ACCOUNT_SID,
        "From": "+15551230001",
        "To": "+15557650002",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }
