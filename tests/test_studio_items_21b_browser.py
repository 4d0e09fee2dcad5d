"""Issue #21, items 7–10 and 12 in a real browser (headless Chromium) against Daphne on the test
database: what a user sees of the live badge, the unpublish question, diagnostics on a network
failure, the language and voice choices, and the smaller fixes."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from agents.definitions.versions import agent_publish
from agents.models import Agent, AgentVersion
from calls.models import Call, CallStatus
from connectors.models import PhoneConnector
from tests.conftest import LiveServer, _log_on_failure, daphne_server
from tests.factories import world_make
from tests.live_fixtures import live_page, sign_in  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def world(live_daphne):
    return world_make()


@pytest.fixture(scope="module")
def _offline_server(django_db_setup, tmp_path_factory) -> Iterator[LiveServer]:
    """A Daphne whose Twilio REST base URL is a port nobody listens on: Twilio is unreachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with daphne_server(
            "daphne-offline", tmp_path_factory, STELLAR_TWILIO_API_BASE_URL=closed
        ) as server:
            yield server


@pytest.fixture
def offline_daphne(_offline_server, transactional_db, request) -> Iterator[LiveServer]:
    _offline_server.process.ensure_running()
    with _log_on_failure(request, _offline_server.process):
        yield _offline_server


# --- 7 ----------------------------------------------------------------------------------------


def test_the_live_badge_goes_away_when_the_call_ends(live_daphne, world, live_page):  # noqa: F811
    page = live_page
    call = world.a.call
    Call.objects.filter(pk=call.pk).update(status=CallStatus.IN_PROGRESS)
    sign_in(page, live_daphne, world.users["viewer"])

    # given the conversations list and the call's page, open while the call is live
    page.goto(f"{live_daphne.url}/conversations/")
    row_status = page.locator(f"#call-status-{call.pk}")
    expect(row_status.locator(".badge.live")).to_be_visible()
    expect(row_status.get_by_role("link", name="Listen in")).to_be_visible()
    detail = page.context.new_page()
    detail.goto(f"{live_daphne.url}/conversations/{call.pk}/")
    expect(detail.locator(f"#call-status-{call.pk} .badge.live")).to_be_visible()

    # when the call ends
    Call.objects.filter(pk=call.pk).update(status=CallStatus.COMPLETED)

    # then both pages drop the live badge and the Listen link by themselves
    for shown in (page, detail):
        status = shown.locator(f"#call-status-{call.pk}")
        expect(status).to_have_text("completed", timeout=12_000)
        expect(status.locator(".badge.live")).to_have_count(0)
        expect(status.get_by_role("link", name="Listen in")).to_have_count(0)


# --- 8 ----------------------------------------------------------------------------------------


def test_unpublishing_the_live_version_asks_and_names_what_answers_next(
    live_daphne,
    world,
    live_page,  # noqa: F811
):
    page = live_page
    agent = world.a.agent
    v2 = agent_publish(agent=agent, note="second")
    sign_in(page, live_daphne, world.users["editor"])
    page.goto(f"{live_daphne.url}/agents/{agent.pk}/versions/")
    questions: list[str] = []

    # when the editor presses Unpublish on v2 and cancels the question
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Unpublish v2").click()

    # then it asked which version answers next, and nothing changed
    expect(page.get_by_role("button", name="Unpublish v2")).to_be_visible()
    assert questions == [
        "Unpublish v2? Connectors in Published mode will answer with v1 from the next call."
    ]
    assert AgentVersion.objects.get(pk=v2.pk).status == "published"

    # when they confirm
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Unpublish v2").click()

    # then v2 is unpublished and the page says v1 answers now
    expect(
        page.get_by_text(
            "v2 unpublished. Connectors in Published mode will answer with v1 from the next call."
        )
    ).to_be_visible()
    assert AgentVersion.objects.get(pk=v2.pk).status == "unpublished"


# --- 9 ----------------------------------------------------------------------------------------


def test_diagnostics_call_a_network_failure_a_network_failure(offline_daphne, live_page):  # noqa: F811
    page = live_page
    world = world_make()
    sign_in(page, offline_daphne, world.users["viewer"])

    page.goto(f"{offline_daphne.url}/connectors/{world.a.connector.pk}/diagnostics/")

    check = page.locator(".checks > li").filter(has_text="Reaching Twilio")
    expect(check).to_contain_text("the connection was refused")
    expect(check).to_contain_text("a network problem on this server, not the connector's keys")
    expect(page.get_by_text("Fix them in Settings")).to_have_count(0)
    expect(page.locator(".checks > li").filter(has_text="Twilio credentials")).to_have_count(0)


# --- 10 ---------------------------------------------------------------------------------------


def test_language_and_voice_are_chosen_from_what_is_installed(live_daphne, world, live_page):  # noqa: F811
    page = live_page
    agent = world.a.agent
    Agent.objects.filter(pk=agent.pk).update(language="nl-NL")
    sign_in(page, live_daphne, world.users["editor"])

    # given an agent whose saved language is not installed
    page.goto(f"{live_daphne.url}/agents/{agent.pk}/")
    expect(page.get_by_role("alert")).to_contain_text("Fix the agent's speech settings")
    expect(page.get_by_role("alert")).to_contain_text("“nl-NL” is not a language")
    language = page.get_by_label("Language")
    expect(language.locator("option:checked")).to_have_text("nl-NL (not available)")
    voices = page.get_by_label("Voice").locator("option")
    expect(voices).to_have_text(["joe"])

    # when they save it as it is, the error stays on the field
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".field").filter(has=page.get_by_label("Language"))).to_contain_text(
        "“nl-NL” is not a language the installed speech stack handles"
    )

    # when they choose an installed language, it saves
    page.get_by_label("Language").select_option(label="English (United Kingdom)")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    agent.refresh_from_db()
    assert agent.language == "en-GB"


# --- 12 ---------------------------------------------------------------------------------------


def test_the_smaller_fixes_a_new_user_tripped_over(live_daphne, world, live_page):  # noqa: F811
    page = live_page
    base = live_daphne.url
    Call.objects.filter(pk=world.a.call.pk).update(
        version_label="", status=CallStatus.REJECTED, outcome="Support has no published version."
    )
    sign_in(page, live_daphne, world.users["editor"])

    # "1 call matches", and a refused call shows no version rather than "?"
    page.goto(f"{base}/conversations/?status=rejected")
    expect(page.get_by_text("1 call matches these filters.")).to_be_visible()
    version_cell = page.locator("tbody tr").first.locator("td").nth(2)
    expect(version_cell).to_contain_text("—")
    expect(version_cell).not_to_contain_text("?")

    # the favicon is linked and /favicon.ico is no 404
    icon = page.locator("link[rel=icon]")
    expect(icon).to_have_attribute("href", "/static/studio/favicon.svg")
    assert page.request.get(f"{base}/favicon.ico").ok
    assert page.request.get(f"{base}/static/studio/favicon.svg").ok

    # the Playground starts in Development
    page.goto(f"{base}/agents/{world.a.agent.pk}/playground/")
    expect(page.get_by_label("Environment").locator("option:checked")).to_have_text("Development")

    # the versions diff reads field by field
    page.goto(f"{base}/agents/{world.a.agent.pk}/")
    page.get_by_label("Greeting", exact=True).fill("Hi, this is the new greeting.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    page.goto(f"{base}/agents/{world.a.agent.pk}/versions/")
    diff = page.locator(".field-diff")
    expect(diff.locator("li").filter(has_text="Greeting")).to_contain_text(
        "Hi, this is the new greeting."
    )
    expect(diff.locator("ins")).to_have_text(["now Hi, this is the new greeting."])

    # the Setup tab warns about an http:// webhook URL (this server's public URL)
    page.goto(f"{base}/connectors/{world.a.connector.pk}/")
    expect(page.get_by_role("alert")).to_contain_text("Twilio cannot use this URL")

    # a typed Auth Token survives another error in the form, without being shown again
    page.goto(f"{base}/connectors/new/")
    page.get_by_label("Agent").select_option(label="Support")
    page.get_by_label("Pinned: always answers with the version you pick").check()
    page.get_by_label("Twilio Account SID").fill("AC" + "d" * 32)
    page.get_by_label("Auth Token").fill("typed-in-the-browser")
    page.get_by_role("button", name="Save connector").click()
    expect(page.get_by_text("Pinned mode needs a version to pin.")).to_be_visible()
    token = page.get_by_label("Auth Token")
    expect(token).to_have_value("")
    expect(token).to_have_attribute("placeholder", re.compile("kept, not shown"))
    assert "typed-in-the-browser" not in page.content()
    page.get_by_label("Published: follows the latest published version").check()
    page.get_by_role("button", name="Save connector").click()
    expect(page.get_by_text("Answering now: v1 (latest published)")).to_be_visible()
    connector = PhoneConnector.objects.get(twilio_account_sid="AC" + "d" * 32)
    assert connector.get_auth_token() == "typed-in-the-browser"
