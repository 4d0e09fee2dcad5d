"""The Rollout card in a real browser: an owner sets a share and a canary on the connector page
and sees the result and its history."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from agents.definitions.versions import agent_publish
from connectors.models import RolloutChange, VersionMode
from connectors.services import connector_update
from tests.twilio_call import OWNER_PASSWORD, build_line

pytestmark = pytest.mark.e2e
LINE = "+31201112233"


def test_an_owner_sets_a_share_and_a_canary_on_the_connector_page(page, live_daphne, tmp_path):
    line = build_line()
    v1 = line.agent.versions.get(number=1)
    agent_publish(agent=line.agent, user=line.owner)
    connector_update(connector=line.connector, version_mode=VersionMode.PINNED, pinned_version=v1)
    base = live_daphne.url
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(line.owner.username)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/agents/")

    page.goto(f"{base}/connectors/{line.connector.pk}/")
    card = page.locator("#rollout")
    card.get_by_label("Calls to the agent (%)").fill("0")
    card.get_by_role("button", name="Save rollout").click()
    expect(card.locator(".errorlist")).to_contain_text("Enter the existing line")

    card.get_by_label("Calls to the agent (%)").fill("30")
    card.get_by_label("Existing line").fill("+31 20 111 2233")
    card.get_by_label("Candidate version").select_option(label="v2 (published)")
    card.get_by_label("Agent calls to the candidate (%)").fill("10")
    card.get_by_role("button", name="Save rollout").click()

    expect(card).to_contain_text("30 % of callers reach the agent")
    expect(card).to_contain_text(f"straight to the existing line {LINE}")
    expect(card.locator(".rollout-history li")).to_have_count(1)
    expect(card.locator(".rollout-history li")).to_contain_text(
        f"100 % to the agent; no candidate → 30 % to the agent, rest to {LINE}; "
        "candidate v2 on 10 %"
    )
    assert RolloutChange.objects.get().changed_by == line.owner
    card.screenshot(path=str(tmp_path / "rollout.png"))
    print(f"screenshot: {tmp_path / 'rollout.png'}")  # noqa: T201
