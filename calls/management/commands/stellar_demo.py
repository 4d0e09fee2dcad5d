"""Load an idempotent demo workspace: a user, a published agent with handovers, a connector."""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from agents.config.services import workspace_create
from agents.definitions.versions import agent_publish
from agents.models import Agent, AgentAction, Environment, EnvironmentKind, Workspace
from connectors.models import PhoneConnector
from connectors.services import connector_create
from handovers.models import HandoverAction
from stellar.kernel.urls import url_is_loopback

DEMO_USER, DEMO_PASSWORD = "demo", "demo-stellar-2026"
DEMO_ACCOUNT_SID = "AC" + "d" * 32
DEMO_AUTH_TOKEN = "demo-auth-token-not-a-real-secret"
DEMO_CONNECTOR_IDENTIFIER = "demo-support-line"

KNOWLEDGE = [
    {
        "question": "What are your opening hours? When are you open?",
        "answer": "We are open Monday to Friday from nine in the morning to six in the evening.",
    },
    {
        "question": "Where is your office? What is your address?",
        "answer": "Our office is at Keizersgracht one hundred in Amsterdam.",
    },
    {
        "question": "How much does delivery cost? shipping price",
        "answer": "Delivery is free for orders above fifty euros, otherwise it costs five euros.",
    },
]
INTENTS = [
    {
        "name": "buy",
        "examples": ["I want to buy something", "I'd like a quote", "talk to sales", "pricing"],
        "action": "transfer_to_sales",
        "digits": "1",
        "context_greeting": "Hello, you have reached Stellar sales. What can I do for you?",
    },
    {
        "name": "broken",
        "examples": ["my product is broken", "I need technical help", "it does not work"],
        "action": "transfer_to_support",
        "digits": "2",
    },
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo workspace used by `make run`."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if not url_is_loopback(settings.STELLAR_PUBLIC_URL):
            raise CommandError(
                f"stellar_demo creates the user {DEMO_USER!r} with a published password and a "
                f"connector with a published identifier; STELLAR_PUBLIC_URL is "
                f"{settings.STELLAR_PUBLIC_URL}, reachable by others. Run the demo only with a "
                "loopback STELLAR_PUBLIC_URL (e.g. http://127.0.0.1:8000)."
            )
        user_model = get_user_model()
        user = user_model.objects.filter(username=DEMO_USER).first()
        if user is None:
            user = user_model.objects.create_user(DEMO_USER, "demo@example.com", DEMO_PASSWORD)
        workspace = Workspace.objects.filter(slug="demo").first()
        if workspace is None:
            workspace = workspace_create(name="Demo", owner=user)
        agent, created = Agent.objects.get_or_create(
            workspace=workspace,
            name="Support agent",
            defaults={
                "greeting": "Hello, thank you for calling Stellar. How can I help you today?",
                "system_prompt": "You are a friendly, concise customer-service agent.",
                "knowledge": KNOWLEDGE,
                "intents": INTENTS,
            },
        )
        if created:
            HandoverAction.objects.create(
                agent=agent,
                name="transfer_to_sales",
                description="The caller wants to buy, asks for prices or a quote, or asks for sales.",
                destination="+31201234567",
                handover_message="Let me put you through to our sales team.",
            )
            HandoverAction.objects.create(
                agent=agent,
                name="transfer_to_support",
                description="The caller has a technical problem or something is broken.",
                destination="+31207654321",
                fallback="reconnect_agent",
                handover_message="I'll connect you with technical support.",
            )
            AgentAction.objects.create(
                agent=agent,
                name="end_call",
                description="The caller says goodbye or has nothing else.",
                kind="end_call",
                config={"goodbye": "Thank you for calling. Goodbye!"},
            )
            agent_publish(agent=agent, note="Demo version", user=user)
        if not PhoneConnector.objects.filter(identifier=DEMO_CONNECTOR_IDENTIFIER).exists():
            connector = connector_create(
                workspace=workspace,
                name="Demo support line",
                agent=agent,
                environment=Environment.objects.get(
                    workspace=workspace, kind=EnvironmentKind.DEVELOPMENT
                ),
                twilio_account_sid=DEMO_ACCOUNT_SID,
                twilio_auth_token=DEMO_AUTH_TOKEN,
            )
            PhoneConnector.objects.filter(pk=connector.pk).update(
                identifier=DEMO_CONNECTOR_IDENTIFIER
            )
        self.stdout.write(
            self.style.SUCCESS("Demo workspace ready.")
            + f"\n  Log in at /login/ as  user: {DEMO_USER}  password: {DEMO_PASSWORD}"
            + f"\n  Demo connector webhook: /v1/agents/{DEMO_CONNECTOR_IDENTIFIER}/twilio-config"
        )
