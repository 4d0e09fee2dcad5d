"""Issue #21, items 7–12 as Studio and the API show them (Django's test client): the live badge
that stops when the call ends, the unpublish question, diagnostics that tell a network problem
from rejected keys, installed languages and voices only, and the smaller fixes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from agents.definitions.speech_options import language_choices, voice_choices
from agents.definitions.version_diff import snapshot_diff
from agents.definitions.versions import agent_publish
from agents.models import Agent
from calls.models import Call, CallStatus
from connectors.models import PhoneConnector
from tests.factories import AUTH_TOKEN, api_client, world_make
from tests.test_studio_pages import (
    client_for,
    twilio,  # noqa: F401 (a fixture: the local Twilio REST peer)
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    cache.clear()
    return world_make()


def live_call(world) -> Call:
    call = world.a.call
    call.status = CallStatus.IN_PROGRESS
    call.save(update_fields=["status"])
    return call


# --- 7. The live badge goes away when the call ends -----------------------------------------


def test_a_live_calls_status_polls_itself_until_the_call_has_ended(world):
    client = client_for(world.users["viewer"])
    call = live_call(world)
    status_url = f"/conversations/{call.pk}/status/"

    listed = client.get("/conversations/").content.decode()
    detail = client.get(f"/conversations/{call.pk}/").content.decode()
    while_live = client.get(status_url).content.decode()
    Call.objects.filter(pk=call.pk).update(status=CallStatus.COMPLETED)
    after = client.get(status_url).content.decode()

    for html in (listed, detail, while_live):
        assert f'hx-get="{status_url}"' in html and "call-ended from:body" in html
        assert 'class="badge live">live<' in html and "Listen in" in html
    assert "hx-get" not in after and "badge live" not in after and "Listen in" not in after
    assert "completed" in after


def test_the_listen_page_badge_refreshes_without_a_listen_link(world):
    client = client_for(world.users["viewer"])
    call = live_call(world)

    page = client.get(f"/conversations/{call.pk}/listen/").content.decode()
    fragment = client.get(f"/conversations/{call.pk}/status/?listen=0").content.decode()

    assert f'hx-get="/conversations/{call.pk}/status/?listen=0"' in page
    assert "badge live" in fragment and "Listen in" not in fragment


def test_another_workspaces_call_status_is_not_found(world):
    client = client_for(world.users["viewer"])

    response = client.get(f"/conversations/{world.b.call.pk}/status/")

    assert response.status_code == 404


# --- 8. Unpublishing asks, and says what answers next ----------------------------------------


def test_unpublishing_the_live_version_names_the_version_that_answers_next(world):
    client = client_for(world.users["editor"])
    agent = world.a.agent
    v2 = agent_publish(agent=agent, note="second")

    html = client.get(f"/agents/{agent.pk}/versions/").content.decode()
    done = client.post(f"/agents/{agent.pk}/versions/{v2.pk}/unpublish/", follow=True)

    assert (
        'data-confirm="Unpublish v2? Connectors in Published mode will answer with v1 from the '
        'next call."' in html
    )
    assert 'data-confirm="Unpublish v1? v2 stays live for connectors in Published mode.' in html
    assert "v2 unpublished. Connectors in Published mode will answer with v1" in (
        done.content.decode()
    )


def test_unpublishing_the_only_published_version_warns_that_nothing_will_answer(world):
    client = client_for(world.users["editor"])
    agent = world.a.agent

    html = client.get(f"/agents/{agent.pk}/versions/").content.decode()

    assert "Unpublish v1? No published version is left: connectors in Published mode will " in (
        html
    )


# --- 9. Diagnostics tell a network problem from rejected keys --------------------------------


def test_diagnostics_blame_the_network_not_the_keys_when_twilio_cannot_be_reached(world, settings):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        settings.STELLAR_TWILIO_API_BASE_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
        client = client_for(world.users["viewer"])

        html = client.get(f"/connectors/{world.a.connector.pk}/diagnostics/").content.decode()

    assert "Reaching Twilio" in html and "the connection was refused" in html
    assert "a network problem on this server, not the connector" in html
    assert "Twilio credentials" not in html and "Fix them in Settings" not in html


def test_diagnostics_point_at_the_keys_when_twilio_rejects_them(world, twilio):  # noqa: F811
    twilio.fail = 401
    client = client_for(world.users["viewer"])

    html = client.get(f"/connectors/{world.a.connector.pk}/diagnostics/").content.decode()

    assert "Twilio credentials" in html and "HTTP 401, Twilio error 20003" in html
    assert "Account SID and Auth Token from the Twilio console" in html
    assert "Reaching Twilio" not in html


# --- 10. Installed languages and voices only --------------------------------------------------


def draft_data(agent: Agent, **changes) -> dict:
    data = {
        "name": agent.name,
        "language": "en-US",
        "voice": "joe",
        "brain": "embedded",
        "knowledge-TOTAL_FORMS": "0",
        "knowledge-INITIAL_FORMS": "0",
        "intents-TOTAL_FORMS": "0",
        "intents-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


def test_the_choices_are_what_the_speech_stack_has_installed():
    languages = [tag for tag, _ in language_choices()]

    assert "en-US" in languages and "en-GB" in languages
    assert "nl-NL" not in languages  # the bundled Whisper model is English-only
    assert voice_choices() == [("joe", "joe")]


def test_studio_refuses_a_language_or_voice_that_is_not_installed(world):
    client = client_for(world.users["editor"])
    agent = world.a.agent

    page = client.get(f"/agents/{agent.pk}/").content.decode()
    refused = client.post(
        f"/agents/{agent.pk}/", draft_data(agent, language="klingon", voice="nobody")
    )

    assert '<select name="language"' in page and '<option value="en-GB">' in page
    assert '<select name="voice"' in page and '<option value="joe" selected>' in page
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "“klingon” is not a language the installed speech stack handles" in html
    assert "“nobody” is not an installed voice: choose one from the list." in html
    agent.refresh_from_db()
    assert (agent.language, agent.voice) == ("en-US", "joe")


def test_a_saved_language_that_is_no_longer_installed_is_an_error_to_fix(world):
    client = client_for(world.users["editor"])
    agent = world.a.agent
    Agent.objects.filter(pk=agent.pk).update(language="nl-NL", voice="old-voice")

    page = client.get(f"/agents/{agent.pk}/")
    kept = client.post(f"/agents/{agent.pk}/", draft_data(agent, language="nl-NL"))
    fixed = client.post(f"/agents/{agent.pk}/", draft_data(agent, language="en-GB"))

    html = page.content.decode()
    assert page.status_code == 200
    assert "Fix the agent's speech settings" in html
    assert "“nl-NL” is not a language the installed speech stack handles" in html
    assert "“old-voice” is not an installed voice. Choose one of: joe." in html
    assert '<option value="nl-NL" selected>nl-NL (not available)</option>' in html
    assert kept.status_code == 400
    assert "“nl-NL” is not a language the installed speech stack handles" in kept.content.decode()
    assert fixed.status_code == 302
    agent.refresh_from_db()
    assert (agent.language, agent.voice) == ("en-GB", "joe")


def test_the_api_refuses_a_language_or_voice_that_is_not_installed_with_a_clear_400(world):
    client = api_client(world.users["editor"], workspace=world.a.workspace)
    url = f"/api/v1/agents/{world.a.agent.pk}/draft/"

    refused = client.patch(url, {"language": "klingon", "voice": "nobody"}, format="json")
    accepted = client.patch(url, {"language": "en-GB", "voice": "joe"}, format="json")

    assert refused.status_code == 400
    body = refused.json()
    text = str(body)
    assert "“klingon” is not a language the installed speech stack handles" in text
    assert "“nobody” is not an installed voice. Choose one of: joe." in text
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["language"] == "en-GB"


# --- 12. The smaller things ------------------------------------------------------------------


def test_the_filter_count_agrees_in_number(world):
    client = client_for(world.users["viewer"])

    one = client.get("/conversations/", {"status": "completed"}).content.decode()

    assert "1 call matches these filters." in one


def test_a_refused_call_shows_no_version_instead_of_a_question_mark(world):
    client = client_for(world.users["viewer"])
    Call.objects.filter(pk=world.a.call.pk).update(
        version_label="", status=CallStatus.REJECTED, outcome="Support has no published version."
    )

    listed = client.get("/conversations/").content.decode()
    detail = client.get(f"/conversations/{world.a.call.pk}/").content.decode()

    assert 'title="No version answered: Support has no published version.">—<' in listed
    assert ">?<" not in listed
    assert "<dd>none: Support has no published version.</dd>" in detail


def test_the_playground_starts_in_development(world):
    client = client_for(world.users["editor"])

    html = client.get(f"/agents/{world.a.agent.pk}/playground/").content.decode()

    development = world.a.workspace.environments.get(kind="development")
    assert "---------" not in html
    assert re.search(rf'<option value="{development.pk}" selected>Development</option>', html)


def test_the_versions_diff_is_field_by_field():
    old = {
        "agent_id": 1,
        "greeting": "Hello.",
        "actions": [
            {"name": "opening_hours", "kind": "template", "config": {"response": "9 to 5"}},
            {"name": "old_action", "kind": "end_call", "config": {}},
        ],
        "knowledge": [],
    }
    new = {
        "agent_id": 1,
        "greeting": "Hi there.",
        "actions": [
            {"name": "opening_hours", "kind": "template", "config": {"response": "24/7"}},
            {"name": "book_table", "kind": "api_call", "config": {}},
        ],
        "knowledge": [{"question": "Parking?", "answer": "Yes."}],
    }

    changes = [(c.kind, c.field, c.old, c.new) for c in snapshot_diff(old, new)]

    assert changes == [  # the draft's fields in Studio's order, then the actions
        ("changed", "Greeting", "Hello.", "Hi there."),
        ("added", "Knowledge entry Parking?", "", ""),
        ("removed", "Action old_action", "", ""),
        ("changed", "Action opening_hours · config.response", "9 to 5", "24/7"),
        ("added", "Action book_table", "", ""),
    ]
    assert snapshot_diff(old, old) == []


def test_the_diff_shows_only_what_a_reader_could_see_change():
    unset = {"intents": [{"name": "buy", "response": None}], "knowledge": [{"question": "a"}]}
    blank = {"intents": [{"name": "buy", "response": ""}], "knowledge": [{"question": "a"}]}
    first = {"knowledge": [{"question": "Parking?"}, {"question": "Hours?"}]}
    swapped = {"knowledge": [{"question": "Hours?"}, {"question": "Parking?"}]}

    assert snapshot_diff(unset, blank) == []
    assert [(c.field, c.old, c.new) for c in snapshot_diff(first, swapped)] == [
        ("Knowledge order", "Parking?, Hours?", "Hours?, Parking?")
    ]


def test_the_setup_tab_warns_about_a_webhook_url_twilio_cannot_use(world, settings):
    client = client_for(world.users["viewer"])
    url = f"/connectors/{world.a.connector.pk}/"

    settings.STELLAR_PUBLIC_URL = "http://stellar.example.com"
    plain_http = client.get(url).content.decode()
    settings.STELLAR_PUBLIC_URL = "https://stellar.example.com"
    https = client.get(url).content.decode()

    assert "Twilio cannot use this URL" in plain_http and "is not HTTPS" in plain_http
    assert "Twilio cannot use this URL" not in https


def connector_post(world, **changes) -> dict:
    data = {
        "kind": "twilio",
        "agent": world.a.agent.pk,
        "environment": world.a.environment.pk,
        "version_mode": "pinned",  # without a pinned version: the form has another error
        "twilio_account_sid": "AC" + "f" * 32,
        "twilio_auth_token": "typed-secret-token",
    }
    return {**data, **changes}


def test_a_typed_auth_token_survives_another_form_error_without_being_shown(world):
    client = client_for(world.users["editor"])

    refused = client.post("/connectors/new/", connector_post(world))
    html = refused.content.decode()
    kept = re.search(r'name="kept_token" value="([^"]+)"', html)
    fixed = client.post(
        "/connectors/new/",
        connector_post(
            world,
            twilio_auth_token="",
            kept_token=kept.group(1) if kept else "",
            version_mode="published",
        ),
    )

    assert refused.status_code == 200 and "Pinned mode needs a version to pin." in html
    assert "typed-secret-token" not in html
    assert "The token you typed is kept (encrypted, not shown)" in html
    assert kept is not None and "typed-secret-token" not in kept.group(1)
    assert fixed.status_code == 302
    connector = PhoneConnector.objects.get(twilio_account_sid="AC" + "f" * 32)
    assert connector.get_auth_token() == "typed-secret-token"


def test_a_kept_token_from_another_workspace_or_tampered_with_is_refused(world):
    editor = client_for(world.users["editor"])
    outsider = client_for(world.users["outsider"])
    html = editor.post("/connectors/new/", connector_post(world)).content.decode()
    kept = re.search(r'name="kept_token" value="([^"]+)"', html)
    assert kept is not None

    elsewhere = outsider.post(
        "/connectors/new/",
        {
            **connector_post(world, twilio_auth_token="", kept_token=kept.group(1)),
            "agent": world.b.agent.pk,
            "environment": world.b.environment.pk,
            "version_mode": "published",
        },
    )
    tampered = editor.post(
        "/connectors/new/",
        connector_post(
            world, twilio_auth_token="", kept_token=kept.group(1)[:-2], version_mode="published"
        ),
    )

    for response in (elsewhere, tampered):
        assert response.status_code == 200
        assert "The token you typed earlier expired: type it again." in response.content.decode()
    assert not PhoneConnector.objects.filter(twilio_account_sid="AC" + "f" * 32).exists()


def test_editing_without_a_token_still_keeps_the_stored_one(world):
    client = client_for(world.users["editor"])
    connector = world.a.connector

    client.post(
        f"/connectors/{connector.pk}/edit/",
        {
            "name": "Renamed",
            "kind": "twilio",
            "agent": connector.agent_id,
            "environment": connector.environment_id,
            "version_mode": "published",
            "twilio_account_sid": connector.twilio_account_sid,
            "twilio_auth_token": "",
            "enabled": "on",
        },
    )

    connector.refresh_from_db()
    assert connector.name == "Renamed" and connector.get_auth_token() == AUTH_TOKEN


def test_every_page_links_the_favicon_and_favicon_ico_finds_it(world):
    client = client_for(world.users["viewer"])

    page = client.get("/agents/").content.decode()
    ico = client.get("/favicon.ico")

    assert '<link rel="icon" href="/static/studio/favicon.svg" type="image/svg+xml">' in page
    assert ico.status_code == 301 and ico["Location"] == "/static/studio/favicon.svg"
    assert (
        (django_settings.BASE_DIR / "static" / "studio" / "favicon.svg")
        .read_text()
        .startswith("<svg")
    )


def test_the_in_process_task_broker_prints_no_kombu_warning():
    # The embedded defaults (no REDIS_URL), as `make run` has them; this test's own settings
    # use the harness's Redis, so a fresh interpreter runs what an eager task's delay() does.
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")}
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from stellar.celery import app\n"
        "print(settings.CELERY_BROKER_URL)\n"
        "with app.producer_or_acquire(None):\n"
        "    pass\n"
    )

    ran = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DJANGO_SETTINGS_MODULE": "stellar.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=django_settings.BASE_DIR,
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "memory://localhost/"
    assert "No hostname" not in ran.stderr and "WARNING" not in ran.stderr, ran.stderr


def test_the_versions_page_of_a_version_shows_no_raw_json(world):
    client = client_for(world.users["editor"])
    agent = world.a.agent
    client.post(
        f"/agents/{agent.pk}/actions/{world.a.action.pk}/",
        {"name": "opening_hours", "description": "Hours.", "response": "Open 24/7 now."},
    )
    agent_publish(agent=agent, note="second")

    html = client.get(f"/agents/{agent.pk}/versions/", {"a": "1", "b": "2"}).content.decode()

    assert '<ul class="field-diff"' in html
    assert "Action opening_hours · config.response" in html
    assert "&quot;config&quot;" not in html and "@@" not in html
