"""Small builders for tests: workspace A with a user per role, an outsider who owns workspace B,
an agent with an action and a handover action, a published version, a phone connector, a call.

Everything is built through the services, the way the product builds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from agents.config.services import (
    auth_connector_create,
    auth_credentials_set,
    secret_create,
    secret_set_value,
    variable_create,
    variable_set_value,
    workspace_create,
)
from agents.definitions.versions import agent_action_create, agent_create, agent_publish
from agents.models import (
    Agent,
    AgentAction,
    AgentVersion,
    AuthConnector,
    Environment,
    EnvironmentKind,
    Membership,
    Role,
    Secret,
    Variable,
    Workspace,
)
from agents.tenancy.permissions import WORKSPACE_HEADER
from calls.models import Call, CallEvent, CallStatus, TranscriptSegment
from connectors.models import PhoneConnector
from connectors.services import connector_create
from handovers.models import HandoverAction
from handovers.services import handover_action_create

ROLES = ("owner", "admin", "editor", "viewer")
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-twilio-auth-token-0001"
SECRET_PLAINTEXT = "crm-api-key-plaintext-4242"

User = get_user_model()


def user_make(username: str):
    """A user without a usable password (tests authenticate with force_authenticate)."""
    return User.objects.create_user(username=username, email=f"{username}@example.com")


def member_make(*, workspace: Workspace, role: str, username: str) -> Membership:
    return Membership.objects.create(workspace=workspace, user=user_make(username), role=role)


def environment_of(workspace: Workspace, kind: str = EnvironmentKind.DEVELOPMENT) -> Environment:
    return Environment.objects.get(workspace=workspace, kind=kind)


def agent_make(*, workspace: Workspace, name: str = "Support", **draft) -> Agent:
    draft.setdefault("system_prompt", "You answer questions about our shop.")
    draft.setdefault("knowledge", [{"question": "When are you open?", "answer": "Nine to five."}])
    draft.setdefault(
        "intents",
        [{"name": "buy", "examples": ["I want to buy"], "action": "transfer_to_sales"}],
    )
    return agent_create(workspace=workspace, name=name, **draft)


def action_make(*, agent: Agent, name: str = "opening_hours") -> AgentAction:
    return agent_action_create(
        agent=agent,
        name=name,
        description="When the caller asks when we are open.",
        kind="static_response",
        config={"response": "We are open from nine to five."},
    )


def handover_make(
    *, agent: Agent, name: str = "transfer_to_sales", destination: str = "+31201234567"
) -> HandoverAction:
    return handover_action_create(
        agent=agent,
        name=name,
        description="When the caller wants to buy something.",
        destination=destination,
    )


def connector_make(*, agent: Agent, name: str = "Main line", **kwargs) -> PhoneConnector:
    kwargs.setdefault("environment", environment_of(agent.workspace))
    kwargs.setdefault("twilio_account_sid", ACCOUNT_SID)
    kwargs.setdefault("twilio_auth_token", AUTH_TOKEN)
    return connector_create(workspace=agent.workspace, name=name, agent=agent, **kwargs)


def call_make(*, connector: PhoneConnector, call_sid: str) -> Call:
    call = Call.objects.create(
        workspace=connector.workspace,
        connector=connector,
        agent=connector.agent,
        environment=connector.environment,
        call_sid=call_sid,
        from_number="+31612345678",
        to_number="+31201234567",
        status=CallStatus.COMPLETED,
        version_label="v1",
    )
    CallEvent.objects.create(call=call, kind="answered", message="Answered by v1")
    TranscriptSegment.objects.create(
        call=call, speaker="caller", start_ms=0, end_ms=900, text="When are you open?"
    )
    return call


@dataclass
class Tenant:
    """One workspace with everything the API exposes, one row of each kind."""

    workspace: Workspace
    environment: Environment
    agent: Agent
    spare_agent: Agent
    action: AgentAction
    handover: HandoverAction
    version: AgentVersion
    connector: PhoneConnector
    secret: Secret
    variable: Variable
    auth_connector: AuthConnector
    call: Call


def tenant_make(*, owner, name: str) -> Tenant:
    workspace = workspace_create(name=name, owner=owner)
    environment = environment_of(workspace)
    agent = agent_make(workspace=workspace)
    action = action_make(agent=agent)
    handover = handover_make(agent=agent)
    version = agent_publish(agent=agent, note="first", user=owner)
    connector = connector_make(agent=agent)
    secret = secret_create(workspace=workspace, name="CRM_API_KEY", description="CRM")
    secret_set_value(secret=secret, environment=environment, value=SECRET_PLAINTEXT)
    variable = variable_create(workspace=workspace, name="CRM_URL")
    variable_set_value(variable=variable, environment=environment, value="https://crm.example")
    auth_connector = auth_connector_create(workspace=workspace, name="CRM", kind="bearer")
    auth_credentials_set(
        auth_connector=auth_connector,
        environment=environment,
        credentials={"token": "crm-t0k-plaintext-42"},
    )
    return Tenant(
        workspace=workspace,
        environment=environment,
        agent=agent,
        spare_agent=agent_make(workspace=workspace, name="Spare"),
        action=action,
        handover=handover,
        version=version,
        connector=connector,
        secret=secret,
        variable=variable,
        auth_connector=auth_connector,
        call=call_make(connector=connector, call_sid=f"CA{workspace.pk:032d}"),
    )


@dataclass
class World:
    """Workspace A (a user per role, plus an extra viewer to manage) and workspace B, owned by
    the outsider."""

    a: Tenant
    b: Tenant
    users: dict
    extra_member: Membership


def world_make() -> World:
    owner = user_make("owner")
    a = tenant_make(owner=owner, name="Acme")
    users = {"owner": owner}
    for role in ("admin", "editor", "viewer"):
        users[role] = member_make(workspace=a.workspace, role=role, username=role).user
    users["outsider"] = user_make("outsider")
    b = tenant_make(owner=users["outsider"], name="Bolt")
    extra = member_make(workspace=a.workspace, role=Role.VIEWER, username="extra")
    return World(a=a, b=b, users=users, extra_member=extra)


def api_client(user=None, *, workspace: Workspace | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    if workspace is not None:
        client.credentials(**{"HTTP_" + WORKSPACE_HEADER.upper().replace("-", "_"): workspace.slug})
    return client
