"""Issue 21, items 1, 2, 4, 5 and 6, in a real browser against a real Daphne: shell-safe
connector identifiers, the default human handover in the draft editor, the LLM brain that
cannot be published (or diagnosed as able to answer) without its settings, the API docs served
without any request off this machine, and the Admin link for staff only."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, Request, expect

from agents.config.services import (
    secret_create,
    secret_set_value,
    variable_create,
    variable_set_value,
    workspace_create,
)
from agents.definitions.versions import agent_create, agent_publish, agent_update_draft
from agents.models import Agent, Membership, Role, Workspace
from calls.management.commands.simulate_call import Command as SimulateCall
from calls.models import Call, CallEvent
from calls.simulator import Say, WaitForAgent
from connectors.models import PhoneConnector, VersionMode
from connectors.services import connector_update
from tests.e2e import place_call
from tests.factories import connector_make, environment_of, handover_make
from tests.twilio_call import OWNER_PASSWORD, Line, build_line

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "items-21a-browser-42"
IDENTIFIER = re.compile(r"^[a-z0-9]{24}$")


@pytest.fixture
def workspace(live_daphne) -> Workspace:
    """Acme, owned by olivia (not staff, like the demo owner), with a front-desk agent."""
    owner = get_user_model().objects.create_user("olivia", "olivia@example.com", PASSWORD)
    workspace = workspace_create(name="Acme", owner=owner)
    agent_create(workspace=workspace, name="Front desk")
    return workspace


def front_desk(workspace: Workspace) -> Agent:
    return Agent.objects.get(workspace=workspace, name="Front desk")


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/agents/")


# --- Item 1: connector identifiers --------------------------------------------------------


def test_a_new_connectors_setup_page_shows_a_webhook_url_without_hyphens(
    page, live_daphne, workspace
):
    agent = front_desk(workspace)
    handover_make(agent=agent)
    agent_publish(agent=agent)
    connector = connector_make(agent=agent, name="Acme main line")
    log_in(page, live_daphne.url, "olivia")

    page.goto(f"{live_daphne.url}/connectors/{connector.pk}/")

    url = page.get_by_role("textbox", name="Webhook URL").input_value()
    identifier = url.split("/v1/agents/")[1].split("/")[0]
    assert IDENTIFIER.match(identifier), identifier
    assert url.endswith(f"/v1/agents/{identifier}/twilio-config")  # no "-" to break at
    assert identifier == connector.identifier
    # and the simulator takes it as the value of --connector, as the Setup page suggests
    options = SimulateCall().create_parser("manage.py", "simulate_call")
    assert options.parse_args(["--connector", identifier]).connector == identifier


def test_simulate_call_parses_a_new_identifier_and_an_old_one_written_with_equals() -> None:
    parser = SimulateCall().create_parser("manage.py", "simulate_call")
    new = PhoneConnector().identifier  # the model's default: a fresh identifier
    assert IDENTIFIER.match(new)
    assert parser.parse_args(["--connector", new]).connector == new
    # An identifier of an older connector may start with "-" (kept: Twilio points at it);
    # the docs say to write it with "=".
    assert parser.parse_args(["--connector=-EG5Aab_cd"]).connector == "-EG5Aab_cd"


# --- Item 2: the default human handover ---------------------------------------------------


def test_the_draft_editor_sets_the_default_human_handover(page, live_daphne, workspace):
    agent = front_desk(workspace)
    handover_make(agent=agent, name="emergency", destination="+31207654321")
    handover_make(agent=agent, name="transfer_to_sales")
    log_in(page, live_daphne.url, "olivia")

    page.goto(f"{live_daphne.url}/agents/{agent.pk}/")
    choice = page.get_by_label("Default human handover")
    expect(choice).to_have_value("")  # none chosen: the agent asks the caller
    expect(choice.locator("option")).to_have_text(
        ["— ask the caller (or the only handover) —", "emergency", "transfer_to_sales"]
    )
    choice.select_option("transfer_to_sales")
    page.get_by_role("button", name="Save draft").click()

    expect(page.get_by_text("Draft saved.")).to_be_visible()
    expect(page.get_by_label("Default human handover")).to_have_value("transfer_to_sales")
    agent.refresh_from_db()
    assert agent.default_handover == "transfer_to_sales"
    page.get_by_role("link", name="Versions").click()
    page.get_by_role("button", name="Publish v1").click()
    expect(page.get_by_text("Published v1.")).to_be_visible()
    assert agent.versions.get(number=1).snapshot["default_handover"] == "transfer_to_sales"


# --- Item 4: the LLM brain needs its settings ----------------------------------------------


def test_studio_refuses_to_publish_an_llm_agent_whose_environments_lack_settings(
    page, live_daphne, workspace
):
    agent = front_desk(workspace)
    log_in(page, live_daphne.url, "olivia")
    page.goto(f"{live_daphne.url}/agents/{agent.pk}/")
    page.get_by_label("Brain").select_option("llm")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()

    page.get_by_role("link", name="Versions").click()
    page.get_by_role("button", name="Publish v1").click()

    expect(
        page.get_by_text("uses the LLM brain, but no environment has its settings")
    ).to_be_visible()
    expect(page.get_by_text("the variable LLM_BASE_URL").first).to_be_visible()
    expect(page.get_by_text("Published v1.")).to_have_count(0)
    assert agent.versions.count() == 0


def test_diagnostics_fail_an_llm_version_whose_environment_lacks_settings(
    page, live_daphne, workspace
):
    agent = front_desk(workspace)
    agent_update_draft(agent=agent, brain="llm", llm_model="local-model")
    development = environment_of(workspace)
    base_url = variable_create(workspace=workspace, name="LLM_BASE_URL")
    variable_set_value(variable=base_url, environment=development, value="http://127.0.0.1:9/v1")
    key = secret_create(workspace=workspace, name="LLM_API_KEY")
    secret_set_value(secret=key, environment=development, value="sk-test")
    agent_publish(agent=agent)
    # After publishing, the environment loses them (deleted in Settings → Environments).
    base_url.delete()
    key.delete()
    connector = connector_make(agent=agent, name="Acme main line")
    log_in(page, live_daphne.url, "olivia")

    page.goto(f"{live_daphne.url}/connectors/{connector.pk}/diagnostics/")

    check = page.locator("ul.checks > li", has_text="A version can answer")
    expect(check).to_have_class(re.compile(r"\bfail\b"))
    expect(check).to_contain_text("v1 (latest published) uses the LLM brain")
    expect(check).to_contain_text("lacks a base URL (the variable LLM_BASE_URL)")
    expect(check).to_contain_text("an API key (the secret LLM_API_KEY)")
    expect(check.get_by_text("pass", exact=True)).to_have_count(0)


# --- Item 5: the API docs work offline ----------------------------------------------------


def test_the_api_docs_render_swagger_ui_from_this_server_only(page, live_daphne, workspace):
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)
    log_in(page, live_daphne.url, "olivia")

    page.goto(f"{live_daphne.url}/api/v1/docs/")

    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/agents/").first).to_be_visible()
    hosts = {urlsplit(url).hostname for url in requested if not url.startswith("data:")}
    assert hosts == {"127.0.0.1"}, sorted(u for u in requested if "127.0.0.1" not in u)
    assert any("/static/" in url and "swagger" in url for url in requested), requested


# --- Item 6: Admin for staff only ---------------------------------------------------------


def test_the_admin_link_shows_only_for_staff_and_opens_the_admin(page, live_daphne, workspace):
    log_in(page, live_daphne.url, "olivia")
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Log out").click()

    get_user_model().objects.create_user(
        "sam", "sam@example.com", PASSWORD, is_staff=True, is_superuser=True
    )  # as `manage.py createsuperuser` makes one (README)
    Membership.objects.create(
        workspace=workspace, user=get_user_model().objects.get(username="sam"), role=Role.OWNER
    )
    log_in(page, live_daphne.url, "sam")
    page.get_by_role("link", name="Admin", exact=True).click()

    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    expect(page.get_by_role("link", name="Agents").first).to_be_visible()


# --- Items 2, 4 and 12 on real calls (the Twilio simulator), seen on the call's page ----------


def log_in_owner(page: Page, base: str, line: Line) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(line.owner.username)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/agents/")


def test_asking_for_a_person_dials_the_default_handover_and_the_timeline_says_what_was_chosen(
    live_daphne, request
):
    # transfer_to_sales is the first handover; the default is support.
    line = build_line(publish=False, default_handover="transfer_to_support")
    agent_publish(agent=line.agent)
    result = place_call(
        live_daphne,
        line,
        [
            WaitForAgent(),
            Say("What are your opening hours?"),
            WaitForAgent(),
            Say("Can I speak to a person please?"),
            WaitForAgent(),
        ],
    )
    assert [d.number for d in result.dials] == ["+31207654321"]  # support, not sales
    call = Call.objects.get(call_sid=result.call_sid)

    page = request.getfixturevalue("page")  # after the call: Playwright runs an event loop
    log_in_owner(page, live_daphne.url, line)
    page.goto(f"{live_daphne.url}/conversations/{call.pk}/")

    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("Agent chose the answer to “What are your opening hours?”")
    expect(timeline).to_contain_text("Agent chose to put the caller through to a person")
    expect(timeline).not_to_contain_text("Agent chose knowledge:0")


def test_a_call_to_an_llm_agent_without_settings_shows_the_failure_on_its_timeline(
    live_daphne, request
):
    # Draft mode answers with the draft, which needs no publishing: the call is what fails.
    line = build_line(publish=False, brain="llm", llm_model="")
    connector_update(connector=line.connector, version_mode=VersionMode.DRAFT)
    result = place_call(
        live_daphne, line, [WaitForAgent(), Say("What are your opening hours?"), WaitForAgent()]
    )
    call = Call.objects.get(call_sid=result.call_sid)
    (failure,) = CallEvent.objects.filter(call=call, kind="llm_error")
    assert failure.data == {"error": "LlmNotConfigured"}

    page = request.getfixturevalue("page")  # after the call: Playwright runs an event loop
    log_in_owner(page, live_daphne.url, line)
    page.goto(f"{live_daphne.url}/conversations/{call.pk}/")

    event = page.locator("ol.timeline li", has_text="llm_error")
    expect(event).to_contain_text(
        "The LLM brain is not configured: no base URL, model, API key in this environment."
    )
