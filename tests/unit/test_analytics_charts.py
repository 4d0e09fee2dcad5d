"""Analytics pieces that need no database: percentiles, the date range and its bucket unit,
the version pair, CSV cells, and the SVG charts (escaped, labelled, scaled)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from calls.analytics.charts import BarRow, bar_chart, calls_over_time_chart, nice_ticks
from calls.analytics.export import csv_lines, safe_cell
from calls.analytics.queries import (
    LATEST,
    MAX_RANGE_DAYS,
    Bucket,
    DateRange,
    Series,
    default_pair,
    percentiles,
)


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    p = percentiles(reversed(values))
    assert (p.p50, p.p95, p.samples) == (50, 95, 100)
    assert percentiles([7]).p95 == 7
    assert percentiles([1, 2]).p50 == 1 and percentiles([1, 2]).p95 == 2


def test_the_bucket_follows_the_range_length():
    day = date(2026, 5, 10)
    assert DateRange(day, day).unit == "hour"
    assert DateRange(day - timedelta(days=1), day).unit == "hour"
    assert DateRange(day - timedelta(days=2), day).unit == "day"
    assert DateRange(day - timedelta(days=91), day).unit == "day"
    assert DateRange(day - timedelta(days=92), day).unit == "week"


def test_the_range_defaults_swaps_caps_and_stays_a_valid_datetime():
    day = date(2026, 5, 10)
    assert DateRange.around(None, day, default_days=14) == DateRange(day - timedelta(13), day)
    assert DateRange.around(day, day - timedelta(3), default_days=14).first == day - timedelta(3)
    long = DateRange.around(date(2020, 1, 1), day, default_days=14)
    assert long.days == MAX_RANGE_DAYS and long.last == day
    far = DateRange.around(None, date(9999, 12, 31), default_days=14)
    assert far.last == LATEST and far.end > far.start


def test_default_pair_prefers_the_split_candidate():
    counts = [("v3", 90), ("v2", 40), ("v4", 10)]
    assert default_pair(counts) == ("v3", "v2")
    assert default_pair(counts, candidate="v4") == ("v3", "v4")
    assert default_pair(counts, candidate="v9") == ("v3", "v2")
    assert default_pair([("v1", 3)]) == ("", "")
    assert default_pair([("v1", 3)], candidate="v1") == ("", "")


def test_cells_that_look_like_formulas_are_made_text():
    for bad in ("=1+1", "+31201234567", "-2", "@SUM(A1)", "\tx", "\r=1"):
        assert safe_cell(bad) == "'" + bad
    assert safe_cell("Main line") == "Main line"
    assert safe_cell(None) == "" and safe_cell(12) == "12"
    assert list(csv_lines([["a,b", 'say "hi"']])) == ['"a,b","say ""hi"""\r\n']


def test_nice_ticks_cover_the_peak_with_round_steps():
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(23) == [0, 5, 10, 15, 20, 25]
    assert nice_ticks(180)[-1] >= 180 and len(nice_ticks(180)) <= 6


def test_bar_chart_escapes_labels_and_scales_to_the_largest_value():
    svg = str(
        bar_chart(
            "Handovers <b>", [BarRow("<script>x</script>", [10], ["10"]), BarRow("b", [5], ["5"])]
        )
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert re.search(r'<title id="chart-\d+-t">Handovers &lt;b&gt;</title>', svg)
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths[0] == 2 * widths[1]


def test_calls_over_time_chart_stacks_outcomes_with_titles_and_axis_labels():
    start = datetime(2026, 5, 1, tzinfo=UTC)
    buckets = [
        Bucket(start + timedelta(days=i), {"answered": i, "failed": 1} if i else {})
        for i in range(20)
    ]
    svg = str(calls_over_time_chart(Series("day", buckets)))
    assert "Calls per day, by outcome" in svg
    assert "<title>May 03: 2 answered by the agent</title>" in svg
    assert "<title>May 03: 1 failed</title>" in svg
    assert "Day (UTC)" in svg and ">Calls</text>" in svg
    x_labels = re.findall(r'text-anchor="middle" font-size="14" fill="#5d6678">(\w{3} \d\d)<', svg)
    assert 0 < len(x_labels) <= 14 and x_labels[0] == "May 01"
