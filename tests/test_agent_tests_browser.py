"""Issue #17 in a real browser (headless Chromium) against Daphne on the test database: create
an agent, add a test on its Tests tab, run it, see it fail with what was heard and chosen, fix
the draft, see it pass, publish and read the pass rate in the publish message."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from agents.definitions.versions import agent_update_draft
from agents.models import Agent, AgentTestRun
from tests.factories import handover_make, world_make
from tests.live_fixtures import live_page, sign_in  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def world(live_daphne):
    return world_make()


def test_add_a_test_see_it_fail_fix_the_draft_see_it_pass_publish(live_daphne, world, live_page):  # noqa: F811
    page = live_page
    sign_in(page, live_daphne, world.users["editor"])
    page.goto(f"{live_daphne.url}/agents/")

    # given a new agent, made in Studio, with a sales line (added directly: the Actions page
    # has tests of its own); with no intents or knowledge yet, nothing is generated
    page.get_by_label("Name").fill("Bike shop")
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", name="Bike shop", level=1)).to_be_visible()
    agent = Agent.objects.get(workspace=world.a.workspace, name="Bike shop")
    handover_make(agent=agent, name="transfer_to_sales")

    # when a test says that buying a bike goes to sales
    page.get_by_role("navigation", name="Agent").get_by_role("link", name="Tests").click()
    expect(page.get_by_text("No tests yet.")).to_be_visible()
    page.get_by_role("link", name="+ Add test").click()
    page.get_by_label("Name").fill("Buying goes to sales")
    page.locator("input[name='turns-0-say']").fill("I want to buy a bike")
    page.locator("select[name='turns-0-expect']").select_option(label="Handover: transfer_to_sales")
    page.get_by_role("button", name="Save test").click()
    expect(page.get_by_text("Test “Buying goes to sales” saved.")).to_be_visible()

    # and the draft gets a "buy" intent that only answers
    buy = {"name": "buy", "examples": ["I want to buy a bike"], "response": "From 400 euros."}
    agent_update_draft(agent=agent, intents=[buy])

    # then running the tests shows the failure: what was heard, expected and chosen
    page.get_by_role("button", name="Run tests").click()
    failure = page.locator("#last-run tr.failure")
    expect(failure).to_have_count(1)
    expect(failure).to_contain_text("“I want to buy a bike”")
    expect(failure).to_contain_text("the intent “buy”")
    expect(failure).to_contain_text("expected handover, got answer")
    expect(page.locator("#last-run")).to_contain_text("0/1 tests passed on the draft.")

    # when the intent is pointed at the sales line, the test passes
    page.get_by_role("link", name="Draft").click()
    page.locator("select[name='intents-0-action']").select_option("transfer_to_sales")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    page.get_by_role("navigation", name="Agent").get_by_role("link", name="Tests").click()
    page.get_by_role("button", name="Run tests").click()
    expect(page.locator("#last-run")).to_contain_text("All passed")
    expect(page.locator("#last-run tr.failure")).to_have_count(0)

    # and publishing runs the suite on the new version and says so
    page.get_by_role("navigation", name="Agent").get_by_role("link", name="Versions").click()
    page.get_by_role("button", name="Publish v1").click()
    expect(page.get_by_text("1/1 tests passed on v1.")).to_be_visible()
    runs = AgentTestRun.objects.filter(agent=agent).order_by("pk")
    assert [(r.version_number, r.trigger, r.passed) for r in runs] == [
        (None, "manual", 0),
        (None, "manual", 1),
        (1, "publish", 1),
    ]
