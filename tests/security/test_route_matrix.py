"""Who may open what in Studio: every Studio URL × every role × own or other workspace, and
anonymous; generated from the URL resolver, so a new route without an entry fails the build.

The API has its own matrix (tests/test_api_permissions.py, whose fixtures and ranks this module
reuses); `test_every_route_of_the_site_is_in_a_matrix` checks that the two together, plus the
routes that are public or signed by Twilio, cover every route the resolver knows.

Members of workspace A get `ok` from a page when their role is at least `role`, else 403. The
outsider (owner of workspace B, where their session is) gets 404 for anything that names an object
of A, and a page of their own workspace otherwise. Anonymous visitors are sent to the login page.
A refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from stellar import api_urls
from tests import test_api_permissions as api_matrix
from tests.factories import World
from tests.test_api_permissions import RANK, database_state

# The API matrix's rows, built once for the module, each test in a rolled-back transaction.
shared_world = api_matrix.shared_world
world = api_matrix.world

CALLERS = ("owner", "admin", "editor", "viewer", "outsider", "anonymous")
PN = "PN" + "a" * 32


@dataclass(frozen=True)
class Page:
    method: str
    path: str  # with {placeholders} filled from workspace A's objects
    role: str  # the least role of workspace A that may do it
    ok: frozenset[int] = frozenset({200})  # statuses when allowed
    data: dict | Callable[[World], dict] = field(default_factory=dict)
    scoped: bool = True  # names an object of A (the outsider gets 404)
    headers: dict[str, str] = field(default_factory=dict)

    def url(self, w: World) -> str:
        a = w.a
        ids = {
            "agent": a.agent.pk,
            "spare_agent": a.spare_agent.pk,
            "action": a.action.pk,
            "handover": a.handover.pk,
            "version": a.version.pk,
            "secret": a.secret.pk,
            "variable": a.variable.pk,
            "auth": a.auth_connector.pk,
            "connector": a.connector.pk,
            "environment": a.environment.pk,
            "call": a.call.pk,
            "member": w.extra_member.pk,
            "test": a.agent.test_cases.order_by("pk").values_list("pk", flat=True).first(),
            "test_run": a.agent.test_runs.order_by("pk").values_list("pk", flat=True).first(),
        }
        return self.path.format(**ids)

    def body(self, w: World) -> dict:
        return self.data(w) if callable(self.data) else self.data


def get(path: str, role: str = "viewer", *, scoped: bool = True, ok: int = 200) -> Page:
    return Page("get", path, role, frozenset({ok}), scoped=scoped)


def post(
    path: str,
    role: str = "editor",
    data: dict | Callable[[World], dict] | None = None,
    *,
    scoped: bool = True,
    ok: frozenset[int] = frozenset({200, 302, 400}),  # saved, or the form back with its errors
) -> Page:
    return Page("post", path, role, ok, data or {}, scoped)


def in_environment(**fields: str) -> Callable[[World], dict]:
    return lambda w: {"environment": w.a.environment.pk, **fields}


def connector_form(w: World) -> dict:
    return {
        "name": "Matrix line",
        "kind": "twilio",
        "agent": w.a.agent.pk,
        "environment": w.a.environment.pk,
        "version_mode": "published",
        "twilio_account_sid": w.a.connector.twilio_account_sid,
        "twilio_auth_token": "another-token",
    }


AGENT = "/agents/{agent}/"
PAGES: dict[str, list[Page]] = {
    "studio:agent-list": [get("/agents/", scoped=False)],
    "studio:agent-create": [post("/agents/new/", data={"name": "Matrix"}, scoped=False)],
    "studio:agent-draft": [get(AGENT), post(AGENT, data={"name": "Renamed"})],
    "studio:agent-draft-row": [get(AGENT + "rows/knowledge/")],
    "studio:agent-delete": [post("/agents/{spare_agent}/delete/")],
    "studio:action-list": [get(AGENT + "actions/")],
    "studio:action-create": [
        get(AGENT + "actions/new/api_call/"),
        post(AGENT + "actions/new/static_response/", data={"name": "x", "response": "y"}),
    ],
    "studio:action-edit": [
        get(AGENT + "actions/{action}/"),
        post(AGENT + "actions/{action}/", data={"description": "New"}),
    ],
    "studio:action-delete": [post(AGENT + "actions/{action}/delete/")],
    "studio:agent-tests": [get(AGENT + "tests/")],
    "studio:agent-tests-run": [post(AGENT + "tests/run/")],
    "studio:agent-tests-run-panel": [get(AGENT + "tests/runs/{test_run}/")],
    "studio:agent-tests-generate": [post(AGENT + "tests/generate/")],
    "studio:agent-test-create": [
        get(AGENT + "tests/new/"),
        post(AGENT + "tests/new/", data={"name": "x", "turns-TOTAL_FORMS": "0"}),
    ],
    "studio:agent-test-edit": [
        get(AGENT + "tests/{test}/"),
        post(AGENT + "tests/{test}/", data={"name": "Renamed"}),
    ],
    "studio:agent-test-delete": [post(AGENT + "tests/{test}/delete/")],
    "studio:version-list": [get(AGENT + "versions/")],
    "studio:version-publish": [post(AGENT + "versions/publish/", data={"note": "matrix"})],
    "studio:version-diff": [  # the htmx panel (a plain GET redirects to the version list)
        Page("get", AGENT + "versions/diff/", "viewer", headers={"HTTP_HX_REQUEST": "true"})
    ],
    "studio:version-operation": [post(AGENT + "versions/{version}/lock/")],
    "studio:handover-create": [
        get(AGENT + "handovers/new/phone/"),
        post(AGENT + "handovers/new/phone/", data={"name": "x", "destination": "+31201234567"}),
    ],
    "studio:handover-edit": [
        get(AGENT + "handovers/{handover}/"),
        post(AGENT + "handovers/{handover}/", data={"description": "New"}),
    ],
    "studio:handover-delete": [post(AGENT + "handovers/{handover}/delete/")],
    "studio:environment-list": [get("/environments/", scoped=False)],
    "studio:secret-create": [
        post("/environments/secrets/", "admin", {"secret-name": "NEW_KEY"}, scoped=False)
    ],
    "studio:secret-value": [
        post("/environments/secrets/{secret}/value/", "admin", in_environment(value="v"))
    ],
    "studio:variable-create": [
        post("/environments/variables/", "admin", {"variable-name": "NEW_VAR"}, scoped=False)
    ],
    "studio:variable-value": [
        post("/environments/variables/{variable}/value/", "admin", in_environment(value="v"))
    ],
    "studio:auth-create": [
        post("/environments/auth/", "admin", {"auth-name": "ERP"}, scoped=False)
    ],
    "studio:auth-credentials": [
        post("/environments/auth/{auth}/credentials/", "admin", in_environment(token="t"))
    ],
    "studio:environment-item-hosts": [
        post("/environments/secret/{secret}/hosts/", "admin", {"hosts": "crm.example"})
    ],
    "studio:environment-item-delete": [post("/environments/variable/{variable}/delete/", "admin")],
    "studio:member-list": [get("/members/", scoped=False)],
    "studio:member-invite": [
        post("/members/invite/", "admin", {"email": "new@example.com"}, scoped=False)
    ],
    "studio:member-role": [post("/members/{member}/role/", "admin", {"role": "editor"})],
    "studio:member-remove": [post("/members/{member}/remove/", "admin")],
    "studio:connector-list": [get("/connectors/", scoped=False)],
    "studio:connector-create": [
        get("/connectors/new/", scoped=False),
        post("/connectors/new/", data=connector_form, scoped=False),
    ],
    "studio:connector-versions": [get("/connectors/versions/", scoped=False)],
    "studio:connector-detail": [get("/connectors/{connector}/")],
    "studio:connector-edit": [
        get("/connectors/{connector}/edit/"),
        post("/connectors/{connector}/edit/", data=connector_form),
    ],
    "studio:connector-delete": [post("/connectors/{connector}/delete/")],
    "studio:connector-numbers": [get("/connectors/{connector}/numbers/")],
    "studio:number-connect": [post("/connectors/{connector}/numbers/" + PN + "/connect/")],
    "studio:number-disconnect": [post("/connectors/{connector}/numbers/" + PN + "/disconnect/")],
    "studio:connector-diagnostics": [get("/connectors/{connector}/diagnostics/")],
    "studio:call-list": [get("/conversations/", scoped=False)],
    "studio:call-live-badge": [get("/conversations/live/", scoped=False)],
    "studio:call-detail": [get("/conversations/{call}/")],
    "studio:call-status": [get("/conversations/{call}/status/")],
    # this world's call has no recording (tests/test_recordings_access.py covers one that has)
    "studio:call-recording": [get("/conversations/{call}/recording.wav", ok=404)],
    "studio:call-export": [get("/conversations/export.csv", scoped=False)],
    "studio:call-webhook-resend": [post("/conversations/{call}/webhook/resend/")],
    "studio:analytics": [get("/analytics/", scoped=False)],
    "studio:agent-data": [get(AGENT + "data/"), post(AGENT + "data/")],
    "studio:agent-data-delete": [post(AGENT + "data/reason/delete/")],
    "studio:connector-rollout": [post("/connectors/{connector}/rollout/")],
    "studio:connector-capacity": [post("/connectors/{connector}/capacity/")],
    "studio:connector-capacity-status": [get("/connectors/{connector}/capacity/status/")],
    "studio:environment-deliveries": [get("/environments/{environment}/deliveries/")],
    "studio:environment-webhook": [post("/environments/{environment}/webhook/", "admin")],
    "studio:environment-webhook-rotate": [
        post("/environments/{environment}/webhook/rotate/", "admin")
    ],
    "studio:environment-webhook-delete": [
        post("/environments/{environment}/webhook/delete/", "admin")
    ],
    "live:listen": [get("/conversations/{call}/listen/")],
    "live:playground": [get(AGENT + "playground/", "editor")],
    "live:playground-start": [
        post(
            AGENT + "playground/sessions/",
            data=lambda w: {"environment": w.a.environment.pk, "version": "draft"},
            ok=frozenset({201}),
        )
    ],
}

# Routes outside the member matrix, and why.
PUBLIC = {  # the same for everyone, signed in or not
    "studio:home": "a redirect to /agents/",
    "login": "the sign-in page (throttled: tests/security/test_throttling.py)",
    "logout": "signing out",
    "admin-login": "Django admin's sign-in (throttled: tests/security/test_throttling.py)",
    "favicon": "a redirect to a static file",
    "healthz": "liveness probe",
    "readyz": "readiness probe (details only on loopback or to staff: test_sessions.py)",
    "metrics": "Prometheus, scraped per process on its own port",
    "studio:password-reset": "password reset by email (tests/test_studio_pages.py)",
    "studio:password-reset-done": "password reset by email",
    "studio:password-reset-confirm": "password reset by email (a signed token in the URL)",
    "studio:password-reset-complete": "password reset by email",
    "studio:workspace-switch": "switches only to the user's own workspaces (tested below)",
}
TWILIO = {  # signed by Twilio with the connector's auth token, never by a session
    "voice-webhook": "tests/test_voice_webhook.py, tests/security/test_sessions.py",
    "call-status": "tests/test_voice_webhook.py, tests/security/test_sessions.py",
    "connect-ended": "tests/test_voice_webhook.py",
    "dial-status": "tests/test_handovers.py",
    "handover-whisper": "tests/test_warm_handover.py",
}


def routes(patterns: list, namespace: str | None = None) -> Iterator[str]:
    """The name of every route the resolver knows (namespaced), except the API's and admin's
    (admin: Django's own staff-only site; the API: tests/test_api_permissions.py)."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name in ("admin",) or str(pattern.pattern).startswith("api/"):
                continue
            yield from routes(pattern.url_patterns, pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            if str(pattern.pattern).startswith("api/"):
                continue
            yield f"{namespace}:{pattern.name}" if namespace else pattern.name


CASES = [(name, n) for name, pages in PAGES.items() for n in range(len(pages))]


def expected(page: Page, caller: str) -> frozenset[int]:
    if caller == "anonymous":
        return frozenset({302})
    if caller == "outsider":
        return frozenset({404}) if page.scoped else page.ok
    return page.ok if RANK[caller] >= RANK[page.role] else frozenset({403})


def client_for(world: World, caller: str) -> Client:
    client = Client()
    if caller != "anonymous":
        client.force_login(world.users[caller])
    return client


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("name", "n"), CASES, ids=[f"{name}-{n}" for name, n in CASES])
def test_studio_route_access(name: str, n: int, caller: str, world: World):
    # Given a member of workspace A in some role, the owner of workspace B, or nobody
    page = PAGES[name][n]
    assert resolve(page.url(world).split("?")[0]).view_name == name, (
        "the entry's path is another route"
    )
    client = client_for(world, caller)
    before = database_state()
    # When they open the page or send the form
    response = getattr(client, page.method)(page.url(world), page.body(world), **page.headers)
    # Then they get what their role allows, and a refusal changes nothing
    assert response.status_code in expected(page, caller), (name, caller, response.status_code)
    if caller == "anonymous":
        assert response["Location"].startswith("/login/?next=")
    if response.status_code in (403, 404) or caller == "anonymous":
        assert database_state() == before, "a refused request changed the database"


def test_every_studio_route_is_in_the_matrix():
    """A new Studio route must get an entry in PAGES (or, if it is not a member's page, in
    PUBLIC or TWILIO with the reason)."""
    known = set(routes(get_resolver().url_patterns))
    assert known - set(PAGES) - set(PUBLIC) - set(TWILIO) == set()
    assert set(PAGES) | set(PUBLIC) | set(TWILIO) <= known, "entries of routes that are gone"


def test_every_route_of_the_site_is_in_a_matrix():
    """Studio routes here, API routes in tests/test_api_permissions.py: none falls between."""
    api_routes = {p.name for p in api_urls.urlpatterns if p.name and p.name != "api-root"}
    assert api_matrix.ENDPOINTS and api_routes, "the API matrix is empty"
    assert set(routes(get_resolver().url_patterns)) <= set(PAGES) | set(PUBLIC) | set(TWILIO)


def test_a_member_cannot_switch_into_someone_elses_workspace(world: World):
    # Given the owner of workspace B
    client = client_for(world, "outsider")
    # When they ask to switch to workspace A
    response = client.post("/workspace/", {"workspace": world.a.workspace.pk})
    # Then they stay in their own workspace
    assert response.status_code == 302
    agents = client.get("/agents/").content.decode()
    assert world.b.workspace.name in agents and world.a.workspace.name not in agents


@pytest.mark.parametrize("path", ["/login/", "/password-reset/", "/healthz"])
@pytest.mark.parametrize("caller", CALLERS)
def test_public_pages_answer_everyone_alike(path: str, caller: str, world: World):
    # Given anyone at all, When they open a public page, Then it answers the same
    assert client_for(world, caller).get(path).status_code == 200
