"""Studio in a real browser (headless Chromium) against a real Daphne on the test database.

An owner signs in, builds an agent with two handovers (a national number is refused with the
country-code hint), publishes it, adds a phone connector in Published mode, copies its webhook
URL, and connects a Twilio number through the Prism mock of Twilio's REST API (the request
Prism received is checked through a recording proxy). A viewer can only look; a member of
another workspace sees none of it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from agents.config.services import workspace_create
from agents.definitions.versions import agent_create, agent_publish
from agents.models import Agent, Membership, Role, Workspace
from calls.models import Call
from connectors.models import PhoneConnector
from handovers.models import HandoverAction
from handovers.services import handover_action_create
from tests.factories import call_make, connector_make
from tests.harness.services import free_port, spawn, stop, wait_for_port
from tests.peers.twilio_proxy import TwilioRecordingProxy

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "studio-browser-test-42"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2  # Prism checks the SID pattern
PRISM_NUMBER = "+18089255327"  # the example number of Twilio's OpenAPI spec


@dataclass
class People:
    workspace: Workspace
    owner: object
    viewer: object
    outsider: object


@pytest.fixture
def people(live_daphne) -> People:
    users = get_user_model().objects
    owner = users.create_user("olivia", "olivia@example.com", PASSWORD)
    viewer = users.create_user("victor", "victor@example.com", PASSWORD)
    outsider = users.create_user("oscar", "oscar@example.com", PASSWORD)
    workspace = workspace_create(name="Acme", owner=owner)
    Membership.objects.create(workspace=workspace, user=viewer, role=Role.VIEWER)
    bolt = workspace_create(name="Bolt", owner=outsider)
    agent_create(workspace=bolt, name="Bolt receptionist")
    return People(workspace=workspace, owner=owner, viewer=viewer, outsider=outsider)


@pytest.fixture
def built(people) -> dict:
    """Acme with a published agent, a handover, a connector and a call (for the read tests)."""
    agent = agent_create(workspace=people.workspace, name="Front desk")
    handover_action_create(
        agent=agent, name="transfer_to_sales", description="Sales", destination="+31201234567"
    )
    agent_publish(agent=agent, note="first", user=people.owner)
    connector = connector_make(agent=agent, name="Acme main line")
    call = call_make(connector=connector, call_sid="CA" + "5" * 32)
    return {"agent": agent, "connector": connector, "call": call}


@pytest.fixture
def twilio_proxy(twilio_api_base_url) -> Iterator[TwilioRecordingProxy]:
    with TwilioRecordingProxy(twilio_api_base_url) as proxy:
        yield proxy


@pytest.fixture
def studio_url(live_daphne, twilio_proxy, tmp_path) -> Iterator[str]:
    """Another Daphne on the same test database whose Twilio REST calls go through the proxy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(live_daphne.process.env)
    env.update(
        STELLAR_PUBLIC_URL=url,
        STELLAR_TWILIO_API_BASE_URL=twilio_proxy.root_url,
        STELLAR_WARMUP="0",
    )
    log = tmp_path / "daphne.log"
    proc = spawn(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        + ["stellar.asgi:application"],
        log,
        env=env,
    )
    try:
        wait_for_port(port, proc=proc, timeout=90)
        yield url
    finally:
        stop(proc)
        print(f"--- studio daphne log ({log}):\n{log.read_text()[-4000:]}")


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/agents/")


def add_phone_handover(page: Page, name: str, destination: str) -> None:
    page.get_by_role("link", name="Handover → Phone").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Description").fill(f"When the caller asks for {name[12:]}.")
    page.get_by_label("Destination", exact=True).fill(destination)
    page.get_by_role("button", name="Add to draft").click()


def test_owner_builds_publishes_and_connects_a_number(page, studio_url, twilio_proxy, people):
    base = studio_url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    log_in(page, base, "olivia")

    # Create an agent and write its draft (one knowledge entry added with htmx).
    page.get_by_label("Name").fill("Front desk")
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", name="Front desk", level=1)).to_be_visible()
    page.get_by_label("Greeting", exact=True).fill("Hello, Acme front desk.")
    page.get_by_role("button", name="+ Add question").click()
    page.locator("textarea[name='knowledge-0-question']").fill("When are you open?")
    page.locator("textarea[name='knowledge-0-answer']").fill("Nine to five.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    agent = Agent.objects.get(workspace=people.workspace, name="Front desk")
    assert agent.knowledge == [{"question": "When are you open?", "answer": "Nine to five."}]

    # Two handovers; the national number is refused with the country-code hint.
    page.get_by_role("link", name="Actions").click()
    add_phone_handover(page, "transfer_to_sales", "0612345678")
    expect(page.get_by_text("Include the country code")).to_be_visible()
    page.get_by_label("Destination", exact=True).fill("+31 20 123 4567")
    page.get_by_role("button", name="Add to draft").click()
    expect(page.get_by_text("Handover transfer_to_sales added to the draft.")).to_be_visible()
    add_phone_handover(page, "transfer_to_support", "+44 20 7946 0958")
    expect(page.get_by_role("cell", name="Phone +442079460958")).to_be_visible()
    destinations = dict(
        HandoverAction.objects.filter(agent=agent).values_list("name", "destination")
    )
    assert destinations == {
        "transfer_to_sales": "+31201234567",
        "transfer_to_support": "+442079460958",
    }

    # Publish v1.
    page.get_by_role("link", name="Versions").click()
    page.get_by_label("Note").fill("First version")
    page.get_by_role("button", name="Publish v1").click()
    expect(page.get_by_text("Published v1.")).to_be_visible()

    # Add a connector in Published mode (the version picker follows the agent, via htmx).
    page.get_by_role("link", name="Phone connectors").click()
    page.get_by_role("link", name="Add connector").first.click()
    expect(page.get_by_label("Type")).to_have_value("twilio")
    page.get_by_label("Agent").select_option(label="Front desk")
    expect(page.locator("#id_pinned_version option", has_text="v1")).to_have_count(1)
    page.get_by_label("Environment").select_option(label="Production")
    expect(page.get_by_label("Published: follows the latest published version")).to_be_checked()
    page.get_by_label("Twilio Account SID").fill(ACCOUNT_SID)
    page.get_by_label("Auth Token").fill("prism-accepts-any-token")
    page.get_by_role("button", name="Save connector").click()
    expect(page.get_by_text("Answering now: v1 (latest published)")).to_be_visible()
    expect(page.get_by_text("A call comes in", exact=True)).to_be_visible()
    connector = PhoneConnector.objects.get(workspace=people.workspace)
    assert connector.version_mode == "published" and connector.environment.kind == "production"
    webhook_url = base + connector.webhook_path  # the server's STELLAR_PUBLIC_URL is `base`
    expect(page.get_by_role("textbox", name="Webhook URL")).to_have_value(webhook_url)

    # Copy the webhook URL.
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == webhook_url

    # The account's numbers (from Prism); connect the example number.
    page.get_by_role("navigation", name="Connector").get_by_role("link", name="Numbers").click()
    expect(page.get_by_role("heading", name=re.compile(re.escape(PRISM_NUMBER)))).to_be_visible()
    page.get_by_role("button", name=f"Connect {PRISM_NUMBER}").click()
    expect(page.get_by_text(f"{PRISM_NUMBER} now sends its calls to")).to_be_visible()
    updates = [
        (request, status)
        for request, status in twilio_proxy.answers
        if request.method == "POST" and "/IncomingPhoneNumbers/" in request.path
    ]
    assert len(updates) == 1
    request, status = updates[0]
    assert status == 200  # Prism validated the request against Twilio's spec
    assert request.path.startswith(f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/PN")
    form = parse_qs(request.body.decode())
    assert form == {"VoiceUrl": [webhook_url], "VoiceMethod": ["POST"]}


def csrf_post(page: Page, url: str, data: dict) -> int:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(url, form=data, headers={"X-CSRFToken": token}).status


def test_viewer_reads_everything_but_cannot_change_anything(page, live_daphne, people, built):
    base = live_daphne.url
    agent, connector = built["agent"], built["connector"]
    log_in(page, base, "victor")

    expect(page.get_by_role("link", name="Front desk")).to_be_visible()
    page.get_by_role("link", name="Front desk").click()
    expect(page.get_by_text("You have read-only access here.")).to_be_visible()
    expect(page.get_by_role("button", name="Save draft")).to_be_disabled()
    expect(page.get_by_label("Name", exact=True)).to_be_disabled()
    page.get_by_role("link", name="Versions").click()
    expect(page.get_by_role("button", name="Publish v2")).to_be_disabled()
    expect(page.get_by_role("button", name=re.compile("^Unpublish"))).to_have_count(0)
    page.goto(f"{base}/connectors/{connector.pk}/")
    expect(page.get_by_text("Answering now: v1 (latest published)")).to_be_visible()
    page.goto(f"{base}/connectors/{connector.pk}/numbers/")
    expect(page.get_by_text("Editors can connect numbers.").first).to_be_visible()

    publish = csrf_post(page, f"{base}/agents/{agent.pk}/versions/publish/", {"note": "x"})
    rename = csrf_post(page, f"{base}/agents/{agent.pk}/", {"name": "Hijacked"})
    connect = csrf_post(page, f"{base}/connectors/{connector.pk}/numbers/PN{'a' * 32}/connect/", {})

    assert (publish, rename, connect) == (403, 403, 403)
    assert agent.versions.count() == 1
    agent.refresh_from_db()
    assert agent.name == "Front desk"


def test_member_of_another_workspace_sees_none_of_it(page, live_daphne, people, built):
    base = live_daphne.url
    log_in(page, base, "oscar")

    expect(page.get_by_role("link", name="Bolt receptionist")).to_be_visible()
    expect(page.get_by_text("Front desk")).to_have_count(0)
    page.goto(f"{base}/conversations/")
    expect(page.get_by_text("No calls yet.")).to_be_visible()
    for path in (
        f"/agents/{built['agent'].pk}/",
        f"/agents/{built['agent'].pk}/versions/",
        f"/connectors/{built['connector'].pk}/",
        f"/connectors/{built['connector'].pk}/numbers/",
        f"/conversations/{built['call'].pk}/",
        f"/conversations/{built['call'].pk}/recording.wav",
    ):
        assert page.goto(base + path).status == 404, path
    assert csrf_post(page, f"{base}/agents/{built['agent'].pk}/", {"name": "Mine"}) == 404
    assert Call.objects.filter(workspace=people.workspace).count() == 1
