"""The analytics dashboard in a real browser (headless Chromium) against Daphne on the test
database, on 240 generated calls over 14 days answered by two versions: reached from the
connector page pre-filtered, charts with accessible names and their tables, the version
comparison, the CSV download. Takes docs/screenshots/analytics.png and analytics-compare.png."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import world_make
from tests.live_fixtures import live_page, sign_in  # noqa: F401 (a fixture)
from tests.test_analytics import calls_generate

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture
def world(live_daphne):
    return world_make()


def test_dashboard_charts_comparison_and_export_on_240_calls(live_daphne, world, live_page):  # noqa: F811
    page = live_page
    page.set_viewport_size({"width": 1280, "height": 900})
    made = calls_generate(world.a, count=240)
    sign_in(page, live_daphne, world.users["viewer"])

    # given the connector's page, its Analytics link opens the dashboard filtered to it
    page.goto(f"{live_daphne.url}/connectors/{world.a.connector.pk}/")
    page.get_by_role("link", name="Analytics").last.click()
    expect(page.get_by_role("heading", name="Analytics", level=1)).to_be_visible()
    assert f"connector={world.a.connector.pk}" in page.url

    # then the calls per day are a chart with an accessible name, and its numbers a table
    expect(page.get_by_role("img", name="Calls per day, by outcome", exact=True)).to_be_visible()
    expect(page.get_by_role("img", name="Outcomes", exact=True)).to_be_visible()
    expect(
        page.get_by_role("img", name="Handover rate per destination", exact=True)
    ).to_be_visible()
    calls_tile = page.locator(".tile", has_text="Calls").first.locator(".tile-value")
    expect(calls_tile).to_have_text(str(len(made) + 1))
    page.screenshot(path=str(SCREENSHOTS / "analytics.png"), full_page=True)

    # and the two versions are side by side, with the same measures
    compare = page.locator("#compare")
    expect(
        compare.get_by_role("img", name="Outcomes by version (share of calls)", exact=True)
    ).to_be_visible()
    expect(compare.get_by_role("row", name="Calls")).to_contain_text(
        str(sum(1 for m in made if m.version == "v1") + 1)  # + the factory call (v1)
    )
    compare.scroll_into_view_if_needed()
    compare.screenshot(path=str(SCREENSHOTS / "analytics-compare.png"))

    # when the member exports the filtered calls
    with page.expect_download() as download:
        page.get_by_role("link", name="Export calls (CSV)").click()
    text = Path(download.value.path()).read_text()
    rows = list(csv.reader(io.StringIO(text)))
    # then the file holds every call of the range, one row each, with the dashboard's header
    assert rows[0][0] == "started" and len(rows) - 1 == len(made) + 1
