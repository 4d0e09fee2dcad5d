"""Analytics through Django's test client and the API: outcome classification, numbers that
match the generated calls, a bounded number of queries on 240 calls, the version comparison,
workspace isolation, and the CSV export with the call list's filters."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.definitions.versions import agent_publish
from calls.analytics.queries import DateRange, calls_over_time, percentiles, summarize
from calls.models import Call, CallEvent, CallStatus
from tests.factories import Tenant, api_client, world_make

pytestmark = pytest.mark.django_db

DESTINATIONS = ("+31201110000", "+31202220000")


@dataclass(frozen=True)
class Made:
    """What the generator made, for expected numbers computed independently of the app."""

    kind: str  # the outcome key the dashboard must give the call
    version: str
    duration: int | None
    latencies: list[int]
    barge_ins: int
    destination: str


def calls_generate(
    tenant: Tenant, *, count: int = 240, days: int = 14, seed: int = 19
) -> list[Made]:
    """`count` finished calls of the tenant's connector over the last `days` days, answered by
    v1 or v2 (v2 is published here), with their events: every outcome, turn timings, barge-ins,
    input errors. Bulk inserts: a few queries whatever `count` is."""
    rng = random.Random(seed)
    agent_publish(agent=tenant.agent, note="candidate")
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    made: list[Made] = []
    calls: list[Call] = []
    for i in range(count):
        version = "v2" if rng.random() < 0.45 else "v1"
        weights = (30, 26, 18, 14, 6, 6) if version == "v1" else (38, 14, 22, 16, 5, 5)
        kind = rng.choices(
            ("answered", "handed_over", "ended_by_agent", "caller_hung_up", "failed", "not_served"),
            weights,
        )[0]
        day = rng.randrange(days)
        hour = min(23, max(0, int(rng.gauss(13, 3))))
        created = (
            now - timedelta(days=day) + timedelta(hours=hour - now.hour, minutes=rng.randrange(60))
        )
        if created > now:
            created -= timedelta(days=1)
        served = kind not in ("failed", "not_served")
        duration = rng.randrange(20, 240) if served else None
        status = {
            "handed_over": CallStatus.TRANSFERRED,
            "failed": rng.choice([CallStatus.FAILED, CallStatus.NO_ANSWER]),
            "not_served": CallStatus.REJECTED,
        }.get(kind, CallStatus.COMPLETED)
        outcome = {
            "caller_hung_up": "Caller hung up",
            "not_served": "Forwarded to the existing line",
        }.get(kind, "Completed")
        destination = rng.choice(DESTINATIONS) if kind == "handed_over" else ""
        base = 1100 if version == "v1" else 750
        latencies = (
            [max(200, int(rng.gauss(base, base / 3))) for _ in range(rng.randrange(1, 6))]
            if served
            else []
        )
        calls.append(
            Call(
                workspace=tenant.workspace,
                connector=tenant.connector,
                agent=tenant.agent,
                environment=tenant.environment,
                version_label=version,
                call_sid=f"CAan{tenant.workspace.pk:04d}{i:026d}",
                from_number=f"+3161{rng.randrange(10**7):07d}",
                to_number="+31201234567",
                status=status,
                outcome=f"Transferred to {destination}" if destination else outcome,
                transferred_to=destination,
                input_errors={"malformed_json": 2} if i % 17 == 0 else {},
                answered_at=created if served else None,
                ended_at=created + timedelta(seconds=duration or 0),
                duration_seconds=duration,
            )
        )
        made.append(
            Made(
                kind, version, duration, latencies, int(served and rng.random() < 0.3), destination
            )
        )
    Call.objects.bulk_create(calls)
    stamped = list(
        Call.objects.filter(call_sid__startswith=f"CAan{tenant.workspace.pk:04d}").order_by(
            "call_sid"
        )
    )
    events: list[CallEvent] = []
    rng2 = random.Random(seed + 1)
    for call, m in zip(stamped, made, strict=True):
        call.created_at = call.ended_at - timedelta(seconds=m.duration or 0)
        for total in m.latencies:
            events.append(
                CallEvent(call=call, kind="turn_timing", message="", data={"total_ms": total})
            )
        events += [CallEvent(call=call, kind="barge_in", message="") for _ in range(m.barge_ins)]
        if m.kind == "ended_by_agent":
            events.append(CallEvent(call=call, kind="end_call", message="Agent ended the call"))
        if m.kind == "not_served":  # turned away past capacity
            events.append(CallEvent(call=call, kind="overflow", message="Over the cap"))
        if len(m.latencies) >= 4:  # one late answer covered by the holding line
            events.append(CallEvent(call=call, kind="hold_line", message="The answer was late"))
        if rng2.random() < 0.1:
            events.append(CallEvent(call=call, kind="answered", message=""))
    Call.objects.bulk_update(stamped, ["created_at"], batch_size=500)
    CallEvent.objects.bulk_create(events, batch_size=1000)
    return made


def nearest_rank(values: list[int], p: int) -> int | None:
    ordered = sorted(values)
    if not ordered:
        return None
    index = max(0, -(-p * len(ordered) // 100) - 1)
    return ordered[index]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world():
    return world_make()


def test_each_call_gets_exactly_the_outcome_its_status_and_events_say(world):
    made = calls_generate(world.a, count=60)
    summary = summarize(
        Call.objects.filter(workspace=world.a.workspace, call_sid__startswith="CAan")
    )
    expected = {k: sum(1 for m in made if m.kind == k) for k in {m.kind for m in made}}
    assert {o.key: o.count for o in summary.outcomes if o.count} == expected
    assert summary.calls == 60
    assert summary.handed_over == expected.get("handed_over", 0)
    assert summary.turns == sum(len(m.latencies) for m in made)
    assert summary.barge_ins == sum(m.barge_ins for m in made)
    assert summary.overflows == expected.get("not_served", 0)
    assert summary.hold_lines == sum(1 for m in made if len(m.latencies) >= 4)
    all_latencies = [ms for m in made for ms in m.latencies]
    assert summary.latency_ms.p50 == nearest_rank(all_latencies, 50)
    assert summary.latency_ms.p95 == nearest_rank(all_latencies, 95)
    durations = [m.duration for m in made if m.duration is not None]
    assert (summary.duration_s.p50, summary.duration_s.p95) == (
        nearest_rank(durations, 50),
        nearest_rank(durations, 95),
    )
    assert summary.input_errors == 2 * sum(1 for i in range(60) if i % 17 == 0)
    per_destination = {h.key: h.count for h in summary.handovers}
    assert per_destination == {
        d: sum(1 for m in made if m.destination == d)
        for d in DESTINATIONS
        if any(m.destination == d for m in made)
    }


def test_calls_per_day_and_per_hour_add_up_and_include_empty_buckets(world):
    made = calls_generate(world.a, count=80, days=10)
    calls = Call.objects.filter(workspace=world.a.workspace, call_sid__startswith="CAan")
    today = timezone.localdate()
    daily = calls_over_time(calls, DateRange(today - timedelta(days=13), today))
    assert daily.unit == "day" and len(daily.buckets) == 14
    assert daily.total == len(made)
    assert all(b.total == 0 for b in daily.buckets[:4])  # the calls are in the last 10 days
    hourly = calls_over_time(calls, DateRange(today, today))
    assert hourly.unit == "hour" and len(hourly.buckets) == 24
    assert hourly.total == calls.filter(created_at__date=today).count()


def test_dashboard_on_240_calls_shows_the_numbers_in_a_bounded_number_of_queries(
    world, django_assert_max_num_queries
):
    calls_generate(world.b, count=24)
    outsider = client_for(world.users["outsider"])
    with CaptureQueriesContext(connection) as few:
        assert outsider.get("/analytics/").status_code == 200
    made = calls_generate(world.a, count=240)
    client = client_for(world.users["viewer"])
    with django_assert_max_num_queries(len(few.captured_queries)):  # as many as for 24 calls
        response = client.get("/analytics/")
    assert len(few.captured_queries) <= 28
    assert response.status_code == 200
    html = response.content.decode()
    # +1: the factory's own call of workspace A (status completed, today)
    assert f'<div class="tile-value">{len(made) + 1}</div>' in html
    assert html.count("<svg") >= 4  # over time, outcomes, handovers, 2 × comparison
    assert 'role="img"' in html and "<title" in html
    assert "Versions side by side" in html
    today = timezone.localdate()  # the default range is in the date fields
    assert f'value="{today - timedelta(days=13)}"' in html and f'value="{today}"' in html
    assert "v1 against v2" in html or "v2 against v1" in html


def test_version_filter_and_explicit_comparison(world):
    made = calls_generate(world.a, count=100)
    client = client_for(world.users["viewer"])
    response = client.get("/analytics/", {"version": "v2", "compare_a": "v2", "compare_b": "v1"})
    html = response.content.decode()
    v2 = sum(1 for m in made if m.version == "v2")
    assert f'<div class="tile-value">{v2}</div>' in html
    assert "v2 against v1" in html


def test_other_workspaces_calls_are_never_counted(world):
    calls_generate(world.b, count=30)
    client = client_for(world.users["owner"])
    # B's connector is not a choice for A's member: the filter is refused, A's numbers shown
    response = client.get("/analytics/", {"connector": world.b.connector.pk})
    assert '<div class="tile-value">1</div>' in response.content.decode()
    api = api_client(world.users["owner"], workspace=world.a.workspace)
    body = api.get("/api/v1/analytics/", {"connector": world.b.connector.pk}).json()
    assert body["summary"]["calls"] == 0


def test_api_returns_the_same_numbers_and_validates_the_range(world):
    made = calls_generate(world.a, count=120)
    api = api_client(world.users["viewer"], workspace=world.a.workspace)
    body = api.get("/api/v1/analytics/", {"agent": world.a.agent.pk}).json()
    assert body["unit"] == "day" and len(body["series"]) == 14
    assert body["summary"]["calls"] == len(made) + 1
    assert sum(b["total"] for b in body["series"]) == len(made) + 1
    assert {v["version"] for v in body["versions"]} == {"v1", "v2"}
    assert {body["comparison"]["a"], body["comparison"]["b"]} == {"v1", "v2"}
    latencies = [ms for m in made for ms in m.latencies]
    assert body["summary"]["latency_ms"]["p95"] == nearest_rank(latencies, 95)
    bad = api.get("/api/v1/analytics/", {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    assert bad.status_code == 400 and "date_to" in bad.json()
    too_long = api.get("/api/v1/analytics/", {"date_from": "2024-01-01", "date_to": "2026-01-01"})
    assert too_long.status_code == 400
    assert api.get("/api/v1/analytics/", {"date_to": "9999-12-31"}).status_code == 400


def test_csv_export_uses_the_call_list_filters_and_neutralises_formulas(world):
    made = calls_generate(world.a, count=50)
    Call.objects.filter(pk=world.a.call.pk).update(from_number='=HYPERLINK("x")')
    client = client_for(world.users["viewer"])
    response = client.get("/conversations/export.csv", {"version": "v2"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["started", "ended", "duration_s", "caller"]
    assert len(rows) - 1 == sum(1 for m in made if m.version == "v2")
    assert {r[6] for r in rows[1:]} == {"v2"}
    assert all(r[3].startswith("'+") for r in rows[1:])  # "+316…" would be a formula
    everything = client.get("/conversations/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(everything.streaming_content).decode())))
    assert len(rows) - 1 == len(made) + 1
    factory_row = next(r for r in rows[1:] if "HYPERLINK" in r[3])
    assert factory_row[3] == '\'=HYPERLINK("x")'
    # the transcript search of the list applies too (the factory call says "When are you open?")
    searched = client.get("/conversations/export.csv", {"q": "are you open"})
    rows_q = list(csv.reader(io.StringIO(b"".join(searched.streaming_content).decode())))
    assert len(rows_q) == 2 and "HYPERLINK" in rows_q[1][3]
    # per-call turns and latency p50 match what was generated
    made_turns = sorted(len(m.latencies) for m in made) + [0]
    assert sorted(int(r[10]) for r in rows[1:]) == sorted(made_turns)


def test_percentiles_skip_what_is_not_a_number():
    assert percentiles([3, "x", None, True, 1, 2, -5]) == percentiles([1, 2, 3])
    assert percentiles([]).p50 is None


def test_the_call_list_agent_and_connector_pages_link_to_export_and_analytics(world):
    client = client_for(world.users["viewer"])
    listing = client.get("/conversations/", {"version": "v1"}).content.decode()
    assert 'href="/conversations/export.csv?version=v1"' in listing
    assert 'href="/analytics/?version=v1"' in listing
    agent_page = client.get(f"/agents/{world.a.agent.pk}/").content.decode()
    assert f'href="/analytics/?agent={world.a.agent.pk}"' in agent_page
    connector_page = client.get(f"/connectors/{world.a.connector.pk}/").content.decode()
    assert f'href="/analytics/?connector={world.a.connector.pk}"' in connector_page
