"""Who may do what through /api/v1/: every endpoint × every role × own or other workspace.

Viewers read, editors write agents and connectors, admins also write secrets, variables, auth
connectors and members. An outsider (owner of workspace B) gets 404 for each object of
workspace A and never sees A's rows in a list. Refused requests change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.management import call_command

from agents.models import (
    Agent,
    AgentAction,
    AgentVersion,
    AuthConnector,
    AuthConnectorCredential,
    Membership,
    Secret,
    SecretValue,
    Variable,
    VariableValue,
)
from agents.testing.models import AgentTestCase, AgentTestRun
from agents.testing.services import case_create
from connectors.models import PhoneConnector
from handovers.models import HandoverAction
from tests.factories import ACCOUNT_SID, World, api_client, user_make, world_make

pytestmark = pytest.mark.django_db

RANK = {"viewer": 0, "editor": 1, "admin": 2, "owner": 3}
CALLERS = ("owner", "admin", "editor", "viewer", "outsider", "anonymous")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # under /api/v1/, with {placeholders} filled from workspace A's objects
    role: str  # the least role that may call it
    ok: int  # status when allowed (405 for methods a resource does not offer)
    body: dict | Callable[[World], dict] | None = None
    collection: bool = False  # a workspace-wide list/create URL (no object of A in the path)
    outsider_ok: int | None = None  # status for the outsider on a collection write
    rows: str | None = None  # Workspace relation whose ids a list must show (A's, never B's)

    def url(self, w: World) -> str:
        ids = {
            "agent": w.a.agent.pk,
            "spare_agent": w.a.spare_agent.pk,
            "version": w.a.version.number,
            "action": w.a.action.pk,
            "handover": w.a.handover.pk,
            "environment": w.a.environment.pk,
            "secret": w.a.secret.pk,
            "variable": w.a.variable.pk,
            "auth": w.a.auth_connector.pk,
            "connector": w.a.connector.pk,
            "call": w.a.call.pk,
            "member": w.extra_member.pk,
            "test": w.a.agent.test_cases.order_by("pk").values_list("pk", flat=True).first(),
            "test_run": w.a.agent.test_runs.order_by("pk").values_list("pk", flat=True).first(),
        }
        return "/api/v1/" + self.path.format(**ids)

    def data(self, w: World) -> dict | None:
        return self.body(w) if callable(self.body) else self.body


def rows(related: str) -> Callable[[World], tuple[set, set]]:
    """The ids of workspace A's and workspace B's rows of one kind."""

    def both(w: World) -> tuple[set, set]:
        a, b = (
            set(getattr(ws, related).values_list("pk", flat=True))
            for ws in (w.a.workspace, w.b.workspace)
        )
        return a, b

    return both


def in_environment(**fields) -> Callable[[World], dict]:
    return lambda w: {"environment": w.a.environment.pk, **fields}


def connector_body(w: World) -> dict:
    return {
        "name": "Second line",
        "agent": w.a.agent.pk,
        "environment": w.a.environment.pk,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": "another-token",
    }


# The rollout (tests/test_rollout.py covers what it does): half the callers to the agent.
ROLLOUT = {"rollout_percent": 50, "existing_line": "+31201112233"}


ACTION = {"name": "opening_hours", "description": "Hours", "kind": "end_call"}
HANDOVER = {"name": "transfer_to_sales", "description": "Buy", "destination": "+31201234567"}
NEW_HANDOVER = {**HANDOVER, "name": "transfer_to_support", "destination": "+442079460958"}
VERSION = "agents/{agent}/versions/{version}/"
TEST = "agents/{agent}/tests/{test}/"
TEST_CASE = {"name": "weather", "turns": [{"say": "Will it rain?", "expect": "out_of_scope"}]}
E = Endpoint
ENDPOINTS = {
    # agents and the draft
    "agents-list": E("get", "agents/", "viewer", 200, collection=True, rows="agents"),
    "agents-create": E("post", "agents/", "editor", 201, {"name": "Billing"}, True, 201),
    "agent-get": E("get", "agents/{agent}/", "viewer", 200),
    "agent-put": E("put", "agents/{agent}/", "editor", 200, {"name": "Sales"}),
    "agent-patch": E("patch", "agents/{agent}/", "editor", 200, {"greeting": "Hi"}),
    "agent-delete": E("delete", "agents/{spare_agent}/", "editor", 204),
    "draft-get": E("get", "agents/{agent}/draft/", "viewer", 200),
    "draft-put": E("put", "agents/{agent}/draft/", "editor", 200, {"name": "S", "voice": "joe"}),
    "draft-patch": E(
        "patch",
        "agents/{agent}/draft/",
        "editor",
        200,
        {"intents": [{"name": "hi", "examples": ["hello"]}]},
    ),
    "publish": E("post", "agents/{agent}/publish/", "editor", 201, {"note": "second"}),
    # versions
    "versions-list": E("get", "agents/{agent}/versions/", "viewer", 200),
    "version-get": E("get", VERSION, "viewer", 200),
    "version-unpublish": E("post", VERSION + "unpublish/", "editor", 200),
    "version-republish": E("post", VERSION + "republish/", "editor", 200),
    "version-lock": E("post", VERSION + "lock/", "editor", 200),
    "version-restore": E("post", VERSION + "restore/", "editor", 200),
    "version-put": E("put", VERSION, "editor", 405, {"note": "x"}),
    "version-patch": E("patch", VERSION, "editor", 405, {"note": "x"}),
    "version-delete": E("delete", VERSION, "editor", 405),
    # agent tests
    "tests-list": E("get", "agents/{agent}/tests/", "viewer", 200),
    "tests-create": E("post", "agents/{agent}/tests/", "editor", 201, TEST_CASE),
    "tests-generate": E("post", "agents/{agent}/tests/generate/", "editor", 201),
    "test-get": E("get", TEST, "viewer", 200),
    "test-put": E("put", TEST, "editor", 200, TEST_CASE),
    "test-patch": E("patch", TEST, "editor", 405, TEST_CASE),
    "test-delete": E("delete", TEST, "editor", 204),
    "test-runs-list": E("get", "agents/{agent}/test-runs/", "viewer", 200),
    "test-runs-create": E("post", "agents/{agent}/test-runs/", "editor", 201, {}),
    "test-run-get": E("get", "agents/{agent}/test-runs/{test_run}/", "viewer", 200),
    # agent actions
    "actions-list": E("get", "agents/{agent}/actions/", "viewer", 200),
    "actions-create": E(
        "post", "agents/{agent}/actions/", "editor", 201, {**ACTION, "name": "bye"}
    ),
    "action-get": E("get", "agents/{agent}/actions/{action}/", "viewer", 200),
    "action-put": E("put", "agents/{agent}/actions/{action}/", "editor", 200, ACTION),
    "action-patch": E(
        "patch", "agents/{agent}/actions/{action}/", "editor", 200, {"kind": "end_call"}
    ),
    "action-delete": E("delete", "agents/{agent}/actions/{action}/", "editor", 204),
    # handover actions
    "handovers-list": E("get", "agents/{agent}/handover-actions/", "viewer", 200),
    "handovers-create": E("post", "agents/{agent}/handover-actions/", "editor", 201, NEW_HANDOVER),
    "handover-get": E("get", "agents/{agent}/handover-actions/{handover}/", "viewer", 200),
    "handover-put": E(
        "put", "agents/{agent}/handover-actions/{handover}/", "editor", 200, HANDOVER
    ),
    "handover-patch": E(
        "patch", "agents/{agent}/handover-actions/{handover}/", "editor", 200, {"ring_timeout": 30}
    ),
    "handover-delete": E("delete", "agents/{agent}/handover-actions/{handover}/", "editor", 204),
    # environments
    "environments-list": E(
        "get", "environments/", "viewer", 200, collection=True, rows="environments"
    ),
    "environment-get": E("get", "environments/{environment}/", "viewer", 200),
    # secrets
    "secrets-list": E("get", "secrets/", "viewer", 200, collection=True, rows="secrets"),
    "secrets-create": E("post", "secrets/", "admin", 201, {"name": "SMS_KEY"}, True, 201),
    "secret-get": E("get", "secrets/{secret}/", "viewer", 200),
    "secret-put": E("put", "secrets/{secret}/", "admin", 200, {"description": "New"}),
    "secret-patch": E("patch", "secrets/{secret}/", "admin", 200, {"description": "New"}),
    "secret-delete": E("delete", "secrets/{secret}/", "admin", 204),
    "secret-value": E("post", "secrets/{secret}/values/", "admin", 200, in_environment(value="v")),
    # variables
    "variables-list": E("get", "variables/", "viewer", 200, collection=True, rows="variables"),
    "variables-create": E("post", "variables/", "admin", 201, {"name": "SHOP"}, True, 201),
    "variable-get": E("get", "variables/{variable}/", "viewer", 200),
    "variable-put": E("put", "variables/{variable}/", "admin", 200, {"description": "New"}),
    "variable-patch": E("patch", "variables/{variable}/", "admin", 200, {"description": "New"}),
    "variable-delete": E("delete", "variables/{variable}/", "admin", 204),
    "variable-value": E(
        "post", "variables/{variable}/values/", "admin", 200, in_environment(value="x")
    ),
    # auth connectors
    "auth-list": E(
        "get", "auth-connectors/", "viewer", 200, collection=True, rows="auth_connectors"
    ),
    "auth-create": E(
        "post", "auth-connectors/", "admin", 201, {"name": "ERP", "kind": "bearer"}, True, 201
    ),
    "auth-get": E("get", "auth-connectors/{auth}/", "viewer", 200),
    "auth-put": E("put", "auth-connectors/{auth}/", "admin", 200, {"scope": "read"}),
    "auth-patch": E("patch", "auth-connectors/{auth}/", "admin", 200, {"scope": "read"}),
    "auth-delete": E("delete", "auth-connectors/{auth}/", "admin", 204),
    "auth-credentials": E(
        "post",
        "auth-connectors/{auth}/credentials/",
        "admin",
        200,
        in_environment(credentials={"token": "new"}),
    ),
    # phone connectors
    "connectors-list": E(
        "get", "phone-connectors/", "viewer", 200, collection=True, rows="phone_connectors"
    ),
    "connectors-create": E("post", "phone-connectors/", "editor", 201, connector_body, True, 400),
    "connector-get": E("get", "phone-connectors/{connector}/", "viewer", 200),
    "connector-put": E("put", "phone-connectors/{connector}/", "editor", 200, connector_body),
    "connector-patch": E(
        "patch", "phone-connectors/{connector}/", "editor", 200, {"enabled": False}
    ),
    "connector-delete": E("delete", "phone-connectors/{connector}/", "editor", 204),
    "connector-rollout": E("get", "phone-connectors/{connector}/rollout/", "viewer", 200),
    "connector-rollout-put": E(
        "put", "phone-connectors/{connector}/rollout/", "editor", 200, ROLLOUT
    ),
    "connector-rollout-patch": E(
        "patch", "phone-connectors/{connector}/rollout/", "editor", 200, ROLLOUT
    ),
    # calls (read-only)
    "calls-list": E("get", "calls/", "viewer", 200, collection=True, rows="calls"),
    "calls-create": E("post", "calls/", "editor", 405, {"call_sid": "CA1"}, True, 405),
    "call-get": E("get", "calls/{call}/", "viewer", 200),
    "call-delete": E("delete", "calls/{call}/", "editor", 405),
    # this world's call has no recording: 404 for everyone (tests/test_recordings_access.py
    # covers a recorded call for members and outsiders)
    "call-recording": E("get", "calls/{call}/recording/", "viewer", 404),
    # this world's environment has no webhook: an editor is told so (400)
    "call-resend-webhook": E("post", "calls/{call}/resend-webhook/", "editor", 400),
    # analytics (tests/test_analytics.py covers the numbers): each member's own workspace
    "analytics-get": E("get", "analytics/", "viewer", 200, collection=True),
    "analytics-post": E("post", "analytics/", "editor", 405, {}, True, 405),
    # members
    "members-list": E("get", "members/", "viewer", 200, collection=True, rows="memberships"),
    "members-create": E("post", "members/", "admin", 201, {"email": "new@example.com"}, True, 201),
    "member-get": E("get", "members/{member}/", "viewer", 200),
    "member-put": E("put", "members/{member}/", "admin", 200, {"role": "editor"}),
    "member-patch": E("patch", "members/{member}/", "admin", 200, {"role": "editor"}),
    "member-delete": E("delete", "members/{member}/", "admin", 204),
}


def expected_status(endpoint: Endpoint, caller: str) -> int | set[int]:
    if caller == "anonymous":
        return {401, 403}
    if caller == "outsider":
        if endpoint.ok == 405:
            return 405  # not offered at all, for anyone
        return (endpoint.outsider_ok or endpoint.ok) if endpoint.collection else 404
    return endpoint.ok if RANK[caller] >= RANK[endpoint.role] else 403


def database_state() -> tuple:
    """What any write could change, to prove refused requests changed nothing."""

    def table(model, *fields):
        return list(model.objects.order_by("pk").values_list("pk", *fields))

    return (
        table(Agent, "name", "greeting", "system_prompt", "intents", "workspace_id"),
        table(AgentVersion, "status", "locked"),
        table(AgentAction, "name", "description", "config"),
        table(HandoverAction, "name", "description", "destination", "ring_timeout"),
        table(Secret, "name", "description", "workspace_id"),
        table(SecretValue, "ciphertext"),
        table(Variable, "name", "description", "workspace_id"),
        table(VariableValue, "value"),
        table(AuthConnector, "name", "scope", "workspace_id"),
        table(AuthConnectorCredential, "ciphertext"),
        table(PhoneConnector, "name", "enabled", "twilio_auth_token_ciphertext", "workspace_id"),
        table(Membership, "role", "workspace_id"),
        table(AgentTestCase, "name", "turns"),
        table(AgentTestRun, "status"),
    )


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker):
    """One set of rows for the whole module (building them for each of the ~430 cases would
    take a minute): every test runs in a transaction that is rolled back, so each starts
    from exactly these rows. Flushed when the module is done."""
    with django_db_blocker.unblock():
        built = world_make()
        for tenant in (built.a, built.b):  # a test case and a finished run of each agent
            case_create(agent=tenant.agent, name="hours", turns=[TEST_CASE["turns"][0]])
            AgentTestRun.objects.create(
                agent=tenant.agent, brain="embedded", trigger="manual", status="done"
            )
    yield built
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def world(shared_world, db) -> World:
    return shared_world


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_endpoint_access(name: str, caller: str, world: World):
    endpoint = ENDPOINTS[name]
    client = api_client(None if caller == "anonymous" else world.users[caller])
    before = database_state()

    response = getattr(client, endpoint.method)(
        endpoint.url(world), endpoint.data(world), format="json"
    )

    expected = expected_status(endpoint, caller)
    allowed = expected if isinstance(expected, set) else {expected}
    assert response.status_code in allowed, (name, caller, response.status_code, response.data)
    if response.status_code in (401, 403, 404, 405) or (
        caller == "outsider" and response.status_code == 400
    ):
        assert database_state() == before, "a refused request changed the database"
    if endpoint.rows and response.status_code == 200:
        listed = {row["id"] for row in response.data["results"]}
        a_ids, b_ids = rows(endpoint.rows)(world)
        if caller == "outsider":
            assert listed == b_ids and not listed & a_ids
        else:
            assert listed == a_ids and not listed & b_ids
    if caller == "outsider" and response.status_code == 201:
        assert "workspace" not in response.data
        assert world.a.workspace.pk not in _workspaces_holding(name, response.data["id"])


def _workspaces_holding(name: str, pk: int) -> set[int]:
    model = {
        "agents-create": Agent,
        "secrets-create": Secret,
        "variables-create": Variable,
        "auth-create": AuthConnector,
        "members-create": Membership,
    }[name]
    return set(model.objects.filter(pk=pk).values_list("workspace_id", flat=True))


def test_every_route_is_in_the_matrix(world: World):
    """A new API route must be added to ENDPOINTS, and so to the permission matrix."""
    from django.urls import resolve

    from stellar import api_urls

    covered = {resolve(e.url(world)).url_name for e in ENDPOINTS.values()}
    routes = {p.name for p in api_urls.urlpatterns if p.name and p.name != "api-root"}

    assert routes - covered == set()


def test_workspace_header_picks_one_of_your_workspaces(world: World):
    editor = world.users["editor"]
    Membership.objects.create(workspace=world.b.workspace, user=editor, role="viewer")

    default = api_client(editor).get("/api/v1/agents/")
    chosen = api_client(editor, workspace=world.b.workspace).get("/api/v1/agents/")
    write_in_b = api_client(editor, workspace=world.b.workspace).post(
        "/api/v1/agents/", {"name": "Nope"}, format="json"
    )

    assert {a["id"] for a in default.data["results"]} == {world.a.agent.pk, world.a.spare_agent.pk}
    assert {a["id"] for a in chosen.data["results"]} == {world.b.agent.pk, world.b.spare_agent.pk}
    assert write_in_b.status_code == 403  # a viewer there, whatever the role in A


def test_workspace_header_of_someone_elses_workspace_is_404(world: World):
    client = api_client(world.users["outsider"], workspace=world.a.workspace)

    assert client.get("/api/v1/agents/").status_code == 404
    assert client.get(f"/api/v1/agents/{world.a.agent.pk}/").status_code == 404


def test_user_without_workspace_is_403(world: World):
    response = api_client(user_make("loner")).get("/api/v1/agents/")

    assert response.status_code == 403


def test_token_authentication_works(world: World):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=world.users["viewer"])
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert client.get("/api/v1/agents/").status_code == 200
    assert client.post("/api/v1/agents/", {"name": "X"}, format="json").status_code == 403


def test_admin_cannot_make_or_remove_owners(world: World):
    admin = api_client(world.users["admin"])
    owner_membership = world.a.workspace.memberships.get(role="owner")

    promote = admin.patch(f"/api/v1/members/{world.extra_member.pk}/", {"role": "owner"})
    demote = admin.patch(f"/api/v1/members/{owner_membership.pk}/", {"role": "viewer"})
    remove = admin.delete(f"/api/v1/members/{owner_membership.pk}/")

    assert (promote.status_code, demote.status_code, remove.status_code) == (403, 403, 403)
    assert world.a.workspace.memberships.filter(role="owner").count() == 1


def test_new_member_defaults_to_viewer(world: World):

    response = api_client(world.users["admin"]).post(
        "/api/v1/members/", {"email": "Newbie@Example.com"}, format="json"
    )

    assert response.status_code == 201
    assert response.data["role"] == "viewer"
    assert response.data["email"] == "newbie@example.com"
