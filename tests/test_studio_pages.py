"""Studio pages through Django's test client: what each role sees and may do, workspace
isolation, write-only secrets, the Twilio numbers flow against a local Twilio REST peer, and
the recording download with HTTP Range."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

import pytest
from django.contrib.auth import views as auth_views
from django.core import mail
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import include, path

from agents.models import Agent, AgentVersion, Membership, Role, Secret
from agents.tenancy.login import MAX_FAILURES, ThrottledLoginView
from calls.models import Recording
from connectors.models import PhoneConnector
from handovers.models import HandoverAction
from tests.factories import AUTH_TOKEN, SECRET_PLAINTEXT, world_make
from tests.peers import LocalHttpServer, RecordedRequest, Reply

pytestmark = pytest.mark.django_db

# The login view is routed in stellar/urls.py; this module doubles as a URLconf that routes
# the throttled one, for the login tests (pytest.mark.urls).
urlpatterns = [
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("stellar.studio_urls")),
]

STUDIO_FLOW_URL = "https://webhooks.twilio.com/v1/Accounts/AC00/Flows/FW" + "0" * 32
PLAIN_SID, FLOW_SID, OURS_SID = ("PN" + c * 32 for c in "abc")


@pytest.fixture
def world():
    cache.clear()
    return world_make()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def a_pages(w) -> list[str]:
    """Every GET page of workspace A (Twilio pages separately, they need a peer)."""
    a = w.a
    return [
        "/agents/",
        f"/agents/{a.agent.pk}/",
        f"/agents/{a.agent.pk}/actions/",
        f"/agents/{a.agent.pk}/actions/{a.action.pk}/",
        f"/agents/{a.agent.pk}/actions/new/api_call/",
        f"/agents/{a.agent.pk}/handovers/{a.handover.pk}/",
        f"/agents/{a.agent.pk}/handovers/new/phone/",
        f"/agents/{a.agent.pk}/handovers/new/studio_flow/",
        f"/agents/{a.agent.pk}/versions/",
        "/environments/",
        "/environments/?tab=variables",
        "/environments/?tab=auth",
        "/members/",
        "/connectors/",
        "/connectors/new/",
        f"/connectors/{a.connector.pk}/",
        f"/connectors/{a.connector.pk}/edit/",
        "/conversations/",
        f"/conversations/{a.call.pk}/",
    ]


# --- Roles and isolation -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "editor", "viewer"])
def test_every_page_renders_for_each_role(world, role):
    client = client_for(world.users[role])

    for url in a_pages(world):
        response = client.get(url)
        assert response.status_code == 200, url
        assert world.a.workspace.name in response.content.decode(), url


def test_viewer_sees_forms_disabled_and_no_write_buttons(world):
    client = client_for(world.users["viewer"])

    draft = client.get(f"/agents/{world.a.agent.pk}/").content.decode()
    versions = client.get(f"/agents/{world.a.agent.pk}/versions/").content.decode()

    assert "<fieldset disabled>" in draft
    assert "You have read-only access" in draft
    assert "Restore into draft" not in versions


def viewer_posts(w) -> list[tuple[str, dict]]:
    a = w.a
    env = a.environment.pk
    return [
        ("/agents/new/", {"name": "Sneaky", "language": "en-US"}),
        (f"/agents/{a.agent.pk}/", {"name": "Renamed"}),
        (f"/agents/{a.agent.pk}/delete/", {}),
        (f"/agents/{a.agent.pk}/actions/new/static_response/", {"name": "x", "response": "y"}),
        (f"/agents/{a.agent.pk}/actions/{a.action.pk}/delete/", {}),
        (
            f"/agents/{a.agent.pk}/handovers/new/phone/",
            {"name": "x", "destination": "+31201234567"},
        ),
        (f"/agents/{a.agent.pk}/handovers/{a.handover.pk}/delete/", {}),
        (f"/agents/{a.agent.pk}/versions/publish/", {"note": "sneaky"}),
        (f"/agents/{a.agent.pk}/versions/{a.version.pk}/unpublish/", {}),
        (f"/agents/{a.agent.pk}/versions/{a.version.pk}/restore/", {}),
        ("/environments/secrets/", {"secret-name": "NEW_SECRET"}),
        (f"/environments/secrets/{a.secret.pk}/value/", {"environment": env, "value": "v"}),
        (f"/environments/variables/{a.variable.pk}/value/", {"environment": env, "value": "v"}),
        (f"/environments/secret/{a.secret.pk}/delete/", {}),
        ("/members/invite/", {"email": "new@example.com", "role": "viewer"}),
        (f"/members/{w.extra_member.pk}/remove/", {}),
        ("/connectors/new/", {"agent": a.agent.pk}),
        (f"/connectors/{a.connector.pk}/edit/", {"name": "Renamed"}),
        (f"/connectors/{a.connector.pk}/delete/", {}),
        (f"/connectors/{a.connector.pk}/numbers/{PLAIN_SID}/connect/", {}),
    ]


def test_viewer_posts_are_forbidden_and_change_nothing(world):
    client = client_for(world.users["viewer"])
    before = (Agent.objects.count(), AgentVersion.objects.count(), Secret.objects.count())

    for url, data in viewer_posts(world):
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert "You can't change this" in response.content.decode()

    after = (Agent.objects.count(), AgentVersion.objects.count(), Secret.objects.count())
    assert after == before
    assert Membership.objects.filter(pk=world.extra_member.pk).exists()
    world.a.agent.refresh_from_db()
    assert world.a.agent.name == "Support"


def test_editor_builds_agents_but_cannot_manage_secrets_or_members(world):
    client = client_for(world.users["editor"])

    secret = client.post("/environments/secrets/", {"secret-name": "NEW_SECRET"})
    invite = client.post("/members/invite/", {"email": "n@example.com", "role": "viewer"})
    publish = client.post(f"/agents/{world.a.agent.pk}/versions/publish/", {"note": "ok"})

    assert (secret.status_code, invite.status_code) == (403, 403)
    assert publish.status_code == 302
    assert world.a.agent.versions.count() == 2


def test_outsider_gets_404_for_every_object_of_another_workspace(world):
    client = client_for(world.users["outsider"])
    object_pages = [url for url in a_pages(world) if re.search(r"/\d+/", url)]
    object_pages.append(f"/conversations/{world.a.call.pk}/recording.wav")

    for url in object_pages:
        assert client.get(url).status_code == 404, url
    for url, data in viewer_posts(world):
        if re.search(r"/\d+/", url):
            assert client.post(url, data).status_code == 404, url


def test_lists_show_only_the_members_workspace(world):
    client = client_for(world.users["outsider"])

    pages = "".join(
        client.get(url).content.decode()
        for url in ("/agents/", "/connectors/", "/conversations/", "/environments/", "/members/")
    )

    assert "Bolt" in pages and "Acme" not in pages
    assert world.a.call.call_sid not in pages
    assert "owner@example.com" not in pages


def test_anonymous_is_sent_to_login(world):
    response = Client().get(f"/agents/{world.a.agent.pk}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_user_without_workspace_sees_how_to_get_one(world):
    from tests.factories import user_make

    response = client_for(user_make("loner")).get("/agents/")

    assert response.status_code == 403
    assert "Ask a workspace owner or admin to invite you" in response.content.decode()


def test_workspace_switcher_changes_every_page(world):
    Membership.objects.create(
        workspace=world.b.workspace, user=world.users["owner"], role=Role.VIEWER
    )
    client = client_for(world.users["owner"])

    switched = client.post("/workspace/", {"workspace": world.b.workspace.pk})
    page = client.get("/connectors/").content.decode()
    refused = client.post("/workspace/", {"workspace": 999999})

    assert switched.status_code == 302
    assert "Bolt" in page and "read-only access" in page
    assert client.get(f"/agents/{world.a.agent.pk}/").status_code == 404
    assert refused.status_code == 302


# --- Secrets are write-only -----------------------------------------------------------------


def test_secret_values_and_tokens_are_never_rendered(world):
    client = client_for(world.users["owner"])
    pages = a_pages(world) + ["/environments/?tab=secrets"]

    html = "".join(client.get(url).content.decode() for url in pages)

    assert SECRET_PLAINTEXT not in html
    assert AUTH_TOKEN not in html
    assert "crm-t0k-plaintext-42" not in html
    assert "updated" in client.get("/environments/").content.decode()


def test_setting_a_secret_value_stores_it_encrypted_and_never_echoes_it(world):
    client = client_for(world.users["admin"])
    production = world.a.workspace.environments.get(kind="production")

    response = client.post(
        f"/environments/secrets/{world.a.secret.pk}/value/",
        {"environment": production.pk, "value": "brand-new-secret-value"},
        follow=True,
    )

    html = response.content.decode()
    assert "set for Production" in html
    assert "brand-new-secret-value" not in html
    stored = world.a.secret.values.get(environment=production)
    assert "brand-new-secret-value" not in stored.ciphertext


# --- Agents, actions, versions ------------------------------------------------------------


def test_draft_editor_saves_knowledge_and_intents_with_ivr_options(world):
    client = client_for(world.users["editor"])
    agent = world.a.agent
    data = {
        "name": "Support",
        "language": "en-GB",
        "voice": "joe",
        "greeting": "Hi there!",
        "system_prompt": "Be brief.",
        "brain": "embedded",
        "llm_model": "",
        "knowledge-TOTAL_FORMS": "2",
        "knowledge-INITIAL_FORMS": "1",
        "knowledge-0-question": "When are you open?",
        "knowledge-0-answer": "Nine to five.",
        "knowledge-0-DELETE": "on",
        "knowledge-1-question": "Where are you?",
        "knowledge-1-answer": "In Amsterdam.",
        "intents-TOTAL_FORMS": "1",
        "intents-INITIAL_FORMS": "1",
        "intents-0-name": "buy",
        "intents-0-examples": "I want to buy\n\nquote please\n",
        "intents-0-response": "",
        "intents-0-action": "transfer_to_sales",
        "intents-0-digits": "1",
        "intents-0-context_greeting": "You pressed 1 for sales.",
    }

    response = client.post(f"/agents/{agent.pk}/", data)

    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.language == "en-GB" and agent.greeting == "Hi there!"
    assert agent.knowledge == [{"question": "Where are you?", "answer": "In Amsterdam."}]
    assert agent.intents == [
        {
            "name": "buy",
            "examples": ["I want to buy", "quote please"],
            "response": "",
            "action": "transfer_to_sales",
            "digits": "1",
            "context_greeting": "You pressed 1 for sales.",
        }
    ]


def test_add_row_returns_the_next_form_and_bumps_the_total(world):
    client = client_for(world.users["editor"])

    response = client.get(
        f"/agents/{world.a.agent.pk}/rows/intents/",
        {"intents-TOTAL_FORMS": "3"},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert 'name="intents-3-name"' in html
    assert 'id="id_intents-TOTAL_FORMS" hx-swap-oob="true"' in html and 'value="4"' in html


def test_handover_with_a_national_number_is_refused_with_the_country_code_hint(world):
    client = client_for(world.users["editor"])
    url = f"/agents/{world.a.agent.pk}/handovers/new/phone/"
    form = {
        "name": "transfer_to_billing",
        "description": "Invoices",
        "destination": "0612345678",
        "ring_timeout": "25",
        "fallback": "hangup",
    }

    refused = client.post(url, form)
    accepted = client.post(url, {**form, "destination": "+31 6 1234 5678"})

    assert refused.status_code == 400
    assert "Include the country code" in refused.content.decode()
    assert accepted.status_code == 302
    handover = HandoverAction.objects.get(agent=world.a.agent, name="transfer_to_billing")
    assert (handover.destination, handover.ring_timeout) == ("+31612345678", 25)


def test_studio_flow_handover_needs_a_flow_sid(world):
    client = client_for(world.users["editor"])
    url = f"/agents/{world.a.agent.pk}/handovers/new/studio_flow/"

    refused = client.post(url, {"name": "back_to_ivr", "description": "x", "flow_sid": "nope"})
    accepted = client.post(
        url, {"name": "back_to_ivr", "description": "x", "flow_sid": "FW" + "a" * 32}
    )

    assert refused.status_code == 400
    assert accepted.status_code == 302
    assert HandoverAction.objects.get(name="back_to_ivr").kind == "studio_flow"


@pytest.mark.parametrize(
    ("kind", "fields", "config"),
    [
        ("static_response", {"response": "We open at nine."}, {"response": "We open at nine."}),
        ("end_call", {"goodbye": "Bye!"}, {"goodbye": "Bye!"}),
        (
            "send_sms",
            {"to": "{{ call.from }}", "body": "Your link"},
            {"to": "{{ call.from }}", "body": "Your link"},
        ),
        (
            "api_call",
            {
                "method": "POST",
                "url": "https://crm.example/orders",
                "headers": "X-Shop: acme",
                "body": "{}",
                "auth_connector": "CRM",
                "timeout_seconds": "4",
                "response_template": "Done",
            },
            {
                "method": "POST",
                "url": "https://crm.example/orders",
                "headers": {"X-Shop": "acme"},
                "body": "{}",
                "auth_connector": "CRM",
                "timeout_seconds": 4.0,
                "response_template": "Done",
            },
        ),
    ],
)
def test_actions_of_every_kind_are_created_from_their_form(world, kind, fields, config):
    client = client_for(world.users["editor"])

    response = client.post(
        f"/agents/{world.a.agent.pk}/actions/new/{kind}/",
        {"name": f"do_{kind}", "description": "When asked.", **fields},
    )

    assert response.status_code == 302
    action = world.a.agent.actions.get(name=f"do_{kind}")
    assert (action.kind, action.config) == (kind, config)


def test_publish_unpublish_restore_lock_and_diff(world):
    client = client_for(world.users["editor"])
    agent = world.a.agent
    base = f"/agents/{agent.pk}/versions"
    client.post(
        f"/agents/{agent.pk}/actions/{world.a.action.pk}/",
        {"name": "opening_hours", "description": "Hours.", "response": "Open 24/7 now."},
    )

    client.post(f"{base}/publish/", {"note": "Always open"})
    v2 = agent.versions.get(number=2)
    diff = client.get(f"{base}/diff/", {"a": "1", "b": "2"}, HTTP_HX_REQUEST="true")
    client.post(f"{base}/{world.a.version.pk}/unpublish/")
    client.post(f"{base}/{world.a.version.pk}/restore/")
    client.post(f"{base}/{v2.pk}/lock/")
    refused = client.post(f"{base}/{v2.pk}/unpublish/", follow=True)

    html = diff.content.decode()
    assert v2.note == "Always open" and v2.status == "published"
    assert "Action opening_hours · config.response" in html
    assert '<del><span class="visually-hidden">was </span>We are open from nine to five.' in html
    assert '<ins><span class="visually-hidden">now </span>Open 24/7 now.</ins>' in html
    assert AgentVersion.objects.get(pk=world.a.version.pk).status == "unpublished"
    assert agent.actions.get(name="opening_hours").config["response"].startswith("We are open")
    assert AgentVersion.objects.get(pk=v2.pk).locked
    assert "v2 is locked and cannot be unpublished." in refused.content.decode()


# --- Phone connectors ---------------------------------------------------------------------


def test_add_connector_in_published_mode_shows_webhook_steps_and_who_answers(world):
    client = client_for(world.users["editor"])
    data = {
        "kind": "twilio",
        "agent": world.a.agent.pk,
        "environment": world.a.environment.pk,
        "version_mode": "published",
        "twilio_account_sid": "AC" + "f" * 32,
        "twilio_auth_token": "a-brand-new-token",
    }

    response = client.post("/connectors/new/", data, follow=True)

    connector = PhoneConnector.objects.get(twilio_account_sid="AC" + "f" * 32)
    html = response.content.decode()
    assert connector.name == "Support · Development"
    assert connector.get_auth_token() == "a-brand-new-token"
    assert f'value="{connector.webhook_url}"' in html and "data-copy" in html
    assert "A call comes in" in html and "HTTP GET or POST" in html
    assert "Answering now: v1 (latest published)" in html
    assert "a-brand-new-token" not in html


def test_connector_explains_why_nothing_answers(world):
    client = client_for(world.users["editor"])
    spare = world.a.spare_agent  # never published
    connector = PhoneConnector.objects.create(
        workspace=world.a.workspace,
        name="Spare line",
        agent=spare,
        environment=world.a.environment,
        twilio_account_sid="AC" + "e" * 32,
        twilio_auth_token_ciphertext="x",
    )

    html = client.get(f"/connectors/{connector.pk}/").content.decode()

    assert "No version can answer" in html
    assert "Spare has no published version" in html


def test_pinned_mode_needs_a_version_and_the_picker_follows_the_agent(world):
    client = client_for(world.users["editor"])
    data = {
        "kind": "twilio",
        "agent": world.a.agent.pk,
        "environment": world.a.environment.pk,
        "version_mode": "pinned",
        "twilio_account_sid": "AC" + "f" * 32,
        "twilio_auth_token": "t",
    }

    refused = client.post("/connectors/new/", data)
    ours = client.get("/connectors/versions/", {"agent": world.a.agent.pk})
    theirs = client.get("/connectors/versions/", {"agent": world.b.agent.pk})
    accepted = client.post("/connectors/new/", {**data, "pinned_version": world.a.version.pk})

    assert "Pinned mode needs a version to pin." in refused.content.decode()
    assert f'value="{world.a.version.pk}"' in ours.content.decode()
    assert f'value="{world.b.version.pk}"' not in theirs.content.decode()
    assert accepted.status_code == 302


def test_editing_a_connector_keeps_the_token_unless_a_new_one_is_given(world):
    client = client_for(world.users["editor"])
    connector = world.a.connector
    data = {
        "name": "Renamed line",
        "kind": "twilio",
        "agent": connector.agent_id,
        "environment": world.a.workspace.environments.get(kind="staging").pk,
        "version_mode": "draft",
        "twilio_account_sid": connector.twilio_account_sid,
        "twilio_auth_token": "",
        "enabled": "on",
    }

    kept = client.post(f"/connectors/{connector.pk}/edit/", data)
    connector.refresh_from_db()
    token_after_first_save = connector.get_auth_token()
    client.post(f"/connectors/{connector.pk}/edit/", {**data, "twilio_auth_token": "rotated"})
    connector.refresh_from_db()

    assert kept.status_code == 302
    assert token_after_first_save == AUTH_TOKEN
    assert (connector.name, connector.version_mode) == ("Renamed line", "draft")
    assert connector.environment.kind == "staging"
    assert connector.get_auth_token() == "rotated"


def test_the_connector_form_lets_only_admins_put_the_draft_on_production(world):
    # Given the connector form asking for the draft to answer Production calls
    connector = world.a.connector
    data = {
        "name": connector.name,
        "kind": "twilio",
        "agent": connector.agent_id,
        "environment": world.a.workspace.environments.get(kind="production").pk,
        "version_mode": "draft",
        "twilio_account_sid": connector.twilio_account_sid,
        "twilio_auth_token": "",
        "enabled": "on",
    }
    # When an editor submits it, then an admin
    refused = client_for(world.users["editor"]).post(f"/connectors/{connector.pk}/edit/", data)
    connector.refresh_from_db()
    unchanged = (connector.environment.kind, connector.version_mode)
    accepted = client_for(world.users["admin"]).post(f"/connectors/{connector.pk}/edit/", data)
    connector.refresh_from_db()
    # Then the editor sees the form again with the reason, and only the admin's save applies
    assert refused.status_code == 200 and "admin" in refused.content.decode().lower()
    assert unchanged != ("production", "draft")
    assert accepted.status_code == 302
    assert (connector.environment.kind, connector.version_mode) == ("production", "draft")


@dataclass
class TwilioNumber:
    sid: str
    phone_number: str
    voice_url: str = ""
    voice_method: str = "POST"
    voice_application_sid: str = ""
    trunk_sid: str | None = None

    def json(self, account: str) -> dict:
        return {
            "sid": self.sid,
            "account_sid": account,
            "phone_number": self.phone_number,
            "friendly_name": self.phone_number,
            "voice_url": self.voice_url,
            "voice_method": self.voice_method,
            "voice_application_sid": self.voice_application_sid,
            "trunk_sid": self.trunk_sid,
            "status": "in-use",
            "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
        }


@dataclass
class TwilioRestPeer(LocalHttpServer):
    """Twilio's IncomingPhoneNumbers API for one account, stateful, or failing with `fail`."""

    numbers: dict[str, TwilioNumber] = field(default_factory=dict)
    fail: int = 0

    def __post_init__(self) -> None:
        super().__init__()

    def handle(self, request: RecordedRequest, handler: BaseHTTPRequestHandler) -> Reply:
        if self.fail:
            return Reply(self.fail, {"code": 20003, "message": "Authenticate", "status": 401})
        match = re.match(
            r"^/2010-04-01/Accounts/(AC\w+)/IncomingPhoneNumbers(?:/(PN\w+))?\.json$",
            request.path,
        )
        if match is None:
            return Reply(404, {"code": 20404, "message": "Not found", "status": 404})
        account, sid = match.groups()
        if sid is None:
            items = [n.json(account) for n in self.numbers.values()]
            return Reply(body={"incoming_phone_numbers": items, "next_page_uri": None})
        number = self.numbers[sid]
        if request.method == "POST":
            form = {k: v[0] for k, v in parse_qs(request.body.decode(), True).items()}
            number.voice_url = form.get("VoiceUrl", number.voice_url)
            number.voice_method = form.get("VoiceMethod", number.voice_method)
            number.voice_application_sid = form.get(
                "VoiceApplicationSid", number.voice_application_sid
            )
        return Reply(body=number.json(account))

    def updates(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]


@pytest.fixture
def twilio(settings):
    peer = TwilioRestPeer(
        numbers={
            PLAIN_SID: TwilioNumber(PLAIN_SID, "+18005550100"),
            FLOW_SID: TwilioNumber(FLOW_SID, "+18005550101", voice_url=STUDIO_FLOW_URL),
        }
    )
    with peer:
        settings.STELLAR_TWILIO_API_BASE_URL = peer.root_url
        yield peer


def test_numbers_page_lists_the_accounts_numbers_and_who_owns_them(world, twilio):
    client = client_for(world.users["viewer"])

    html = client.get(f"/connectors/{world.a.connector.pk}/numbers/").content.decode()

    assert "+18005550100" in html and "+18005550101" in html
    assert "A Twilio Studio flow" in html
    assert "Editors can connect numbers." in html


def test_connect_points_the_number_at_the_webhook_with_post(world, twilio):
    client = client_for(world.users["editor"])
    connector = world.a.connector

    response = client.post(
        f"/connectors/{connector.pk}/numbers/{PLAIN_SID}/connect/", HTTP_HX_REQUEST="true"
    )

    html = response.content.decode()
    assert "+18005550100 now sends its calls to Main line" in html
    assert "→ this connector" in html
    assert twilio.updates()[0].form() == {
        "VoiceUrl": connector.webhook_url,
        "VoiceMethod": "POST",
    }


def test_a_studio_flow_number_is_only_taken_over_after_confirmation(world, twilio):
    client = client_for(world.users["editor"])
    url = f"/connectors/{world.a.connector.pk}/numbers/{FLOW_SID}/connect/"

    refused = client.post(url, HTTP_HX_REQUEST="true")
    updates_after_refusal = len(twilio.updates())
    confirmed = client.post(url, {"confirm": "yes"}, HTTP_HX_REQUEST="true")

    assert "is answered by a Twilio Studio flow" in refused.content.decode()
    assert updates_after_refusal == 0
    assert "now sends its calls" in confirmed.content.decode()
    assert twilio.numbers[FLOW_SID].voice_url == world.a.connector.webhook_url


def test_disconnect_clears_only_this_connectors_webhook(world, twilio):
    client = client_for(world.users["editor"])
    connector = world.a.connector
    twilio.numbers[OURS_SID] = TwilioNumber(
        OURS_SID, "+18005550102", voice_url=connector.webhook_url
    )
    base = f"/connectors/{connector.pk}/numbers"

    ours = client.post(f"{base}/{OURS_SID}/disconnect/", HTTP_HX_REQUEST="true")
    theirs = client.post(f"{base}/{FLOW_SID}/disconnect/", HTTP_HX_REQUEST="true")

    assert "no longer calls this connector" in ours.content.decode()
    assert twilio.numbers[OURS_SID].voice_url == ""
    assert "does not point at this connector" in theirs.content.decode()
    assert twilio.numbers[FLOW_SID].voice_url == STUDIO_FLOW_URL


def test_wrong_credentials_are_explained(world, twilio):
    twilio.fail = 401
    client = client_for(world.users["viewer"])

    html = client.get(f"/connectors/{world.a.connector.pk}/numbers/").content.decode()

    assert "Twilio rejected this connector&#x27;s credentials" in html
    assert "HTTP 401, Twilio error 20003" in html


def test_unreachable_twilio_is_explained(world, settings):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        settings.STELLAR_TWILIO_API_BASE_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
        client = client_for(world.users["viewer"])

        html = client.get(f"/connectors/{world.a.connector.pk}/numbers/").content.decode()

    assert "Could not reach Twilio" in html


def test_diagnostics_show_each_check_with_its_fix(world, twilio, settings):
    settings.STELLAR_PUBLIC_URL = "http://127.0.0.1:8000"
    client = client_for(world.users["viewer"])

    html = client.get(f"/connectors/{world.a.connector.pk}/diagnostics/").content.decode()

    assert "Twilio cannot reach from the internet" in html  # public URL is localhost
    assert "A version can answer" in html and "v1 (latest published)" in html
    assert "+18005550100: webhook URL" in html and "not this connector" in html
    assert "could not check" in html  # the peer has no Monitor API
    assert "Every destination is a valid E.164 number." in html
    assert "Geo permissions" in html and "NL (+31)" in html


# --- Conversations and recordings ---------------------------------------------------------


def test_call_list_filters_by_transcript_text_version_and_status(world):
    client = client_for(world.users["viewer"])
    sid = world.a.call.call_sid

    found = client.get("/conversations/", {"q": "open"}).content.decode()
    not_found = client.get("/conversations/", {"q": "refund"}).content.decode()
    by_version = client.get("/conversations/", {"version": "v9"}).content.decode()
    live = client.get("/conversations/", {"status": "live"}).content.decode()

    assert f"/conversations/{world.a.call.pk}/" in found
    assert "No calls match these filters." in not_found
    assert "No calls match these filters." in by_version
    assert "No calls match these filters." in live
    assert sid not in not_found


def test_call_detail_shows_transcript_timeline_and_player(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    call = world.a.call
    recording = Recording(call=call, duration_ms=1000, size_bytes=4, sha256="0" * 64)
    recording.file.save("r.wav", ContentFile(b"RIFF"), save=False)
    recording.save()

    html = client_for(world.users["viewer"]).get(f"/conversations/{call.pk}/").content.decode()

    assert f'src="/conversations/{call.pk}/recording.wav"' in html
    assert 'data-seek="0"' in html and "When are you open?" in html
    assert "Answered by v1" in html


@pytest.fixture
def recording(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    data = bytes(range(256)) * 40  # 10240 bytes
    recording = Recording(call=world.a.call, duration_ms=1000, size_bytes=len(data), sha256="0")
    recording.file.save("r.wav", ContentFile(data), save=False)
    recording.save()
    return data


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_recording_range_request_returns_206_with_the_right_bytes(world, recording):
    client = client_for(world.users["viewer"])
    url = f"/conversations/{world.a.call.pk}/recording.wav"
    size = len(recording)

    whole = client.get(url)
    middle = client.get(url, HTTP_RANGE="bytes=100-199")
    open_ended = client.get(url, HTTP_RANGE="bytes=10000-")
    suffix = client.get(url, HTTP_RANGE="bytes=-16")
    past_end = client.get(url, HTTP_RANGE="bytes=10200-99999")
    unsatisfiable = client.get(url, HTTP_RANGE=f"bytes={size}-")

    assert whole.status_code == 200 and body(whole) == recording
    assert whole["Accept-Ranges"] == "bytes" and whole["Content-Type"] == "audio/wav"
    assert middle.status_code == 206 and body(middle) == recording[100:200]
    assert middle["Content-Range"] == f"bytes 100-199/{size}"
    assert middle["Content-Length"] == "100"
    assert body(open_ended) == recording[10000:]
    assert open_ended["Content-Range"] == f"bytes 10000-{size - 1}/{size}"
    assert body(suffix) == recording[-16:]
    assert body(past_end) == recording[10200:]
    assert unsatisfiable.status_code == 416
    assert unsatisfiable["Content-Range"] == f"bytes */{size}"


def test_recording_is_only_for_members_of_the_calls_workspace(world, recording):
    url = f"/conversations/{world.a.call.pk}/recording.wav"

    assert client_for(world.users["outsider"]).get(url).status_code == 404
    assert Client().get(url).status_code == 302


# --- Members, invitations, password reset, login throttling ---------------------------------


def test_invite_sends_a_link_to_choose_a_password(world, settings):
    settings.STELLAR_PUBLIC_URL = "https://studio.example.com"
    client = client_for(world.users["admin"])

    response = client.post("/members/invite/", {"email": "Nina@Example.com", "role": "editor"})

    assert response.status_code == 302
    membership = Membership.objects.get(workspace=world.a.workspace, user__email="nina@example.com")
    assert membership.role == Role.EDITOR
    (email,) = mail.outbox
    assert email.to == ["nina@example.com"] and "Acme" in email.subject
    link = re.search(r"https://studio\.example\.com(/password-reset/\S+/)", email.body).group(1)
    guest = Client()
    form = guest.get(link, follow=True)
    assert "Choose a password" in form.content.decode()
    done = guest.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-long-new-password-42", "new_password2": "a-long-new-password-42"},
    )
    assert done.status_code == 302
    membership.user.refresh_from_db()
    assert membership.user.check_password("a-long-new-password-42")


def test_admin_changes_roles_but_only_an_owner_makes_owners(world):
    admin = client_for(world.users["admin"])
    member = world.extra_member

    admin.post(f"/members/{member.pk}/role/", {"role": "editor"})
    refused = admin.post(f"/members/{member.pk}/role/", {"role": "owner"}, follow=True)
    admin.post(f"/members/{member.pk}/remove/")

    assert "Only an owner" in refused.content.decode()
    assert not Membership.objects.filter(pk=member.pk).exists()


def test_password_reset_email_uses_the_public_url(world, settings):
    settings.STELLAR_PUBLIC_URL = "https://studio.example.com"
    owner = world.users["owner"]
    owner.set_password("a-password-to-forget-1")
    owner.save()

    response = Client().post("/password-reset/", {"email": owner.email})

    assert response.status_code == 302
    assert "https://studio.example.com/password-reset/" in mail.outbox[0].body


@pytest.mark.urls(__name__)
def test_login_is_paused_after_five_failures_for_that_username_and_address(world):
    owner = world.users["owner"]
    owner.set_password("right-password-123")
    owner.save()
    client = Client()

    failures = [
        client.post("/login/", {"username": "owner", "password": "wrong"}).status_code
        for _ in range(MAX_FAILURES)
    ]
    locked = client.post("/login/", {"username": "owner", "password": "right-password-123"})
    other_user = client.post("/login/", {"username": "admin", "password": "wrong"})
    cache.clear()  # the pause is over
    allowed = client.post("/login/", {"username": "owner", "password": "right-password-123"})

    assert failures == [200] * (MAX_FAILURES - 1) + [429]
    assert locked.status_code == 429
    assert "sign-in is paused for 5 minutes" in locked.content.decode()
    assert other_user.status_code == 200
    assert allowed.status_code == 302
