"""Gradual rollout per connector: the share in the voice webhook, the sticky version split, the
audit, the API and the Studio form (Django's test client; no media stream needed)."""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from prometheus_client import REGISTRY

from agents.definitions.versions import agent_publish, version_unpublish
from agents.models import Agent, Role
from calls.models import Call, CallEvent, CallStatus
from connectors.models import RolloutChange, VersionMode
from connectors.services import connector_rollout_set, connector_update
from tests.factories import api_client, member_make
from tests.twilio_call import Line, build_line, new_call_sid, voice_params

PUBLIC = "https://stellar.example.com"
LINE = "+31201112233"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("public_url")]


@pytest.fixture
def public_url():
    with override_settings(STELLAR_PUBLIC_URL=PUBLIC, ALLOWED_HOSTS=["*"]):
        yield


def within_binomial(count: int, n: int, p: float, sds: float = 4.0) -> bool:
    """Within `sds` standard deviations of n·p: placement hashes behave like coin flips, and
    4 sd means a false alarm about once in 16 000 runs (n=100, p=0.3: 12 to 48)."""
    return abs(count - n * p) <= sds * math.sqrt(n * p * (1 - p))


def webhook(client: Client, line: Line, **params: str) -> ET.Element:
    """One signed voice-webhook POST, as Twilio sends it; the TwiML it answers."""
    body = voice_params(**params)
    path = line.connector.webhook_path
    signature = line.validator.compute_signature(PUBLIC + path, body)
    response = client.post(path, body, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200, response.content
    return ET.fromstring(response.content)


def route_of(twiml: ET.Element) -> str:
    """ "agent" for <Connect><Stream>, the number for a bare <Dial><Number>; nothing else."""
    if twiml.find("Connect/Stream") is not None:
        return "agent"
    numbers = [n.text for n in twiml.findall("Dial/Number")]
    assert len(numbers) == 1 and len(list(twiml)) == 1, ET.tostring(twiml)
    return numbers[0] or ""


def caller(i: int) -> str:
    return f"+1555{i:07d}"


def split_line() -> tuple[Line, object, object]:
    """Pinned to v1 (current), v2 published as the candidate."""
    line = build_line()
    v1 = line.agent.versions.get(number=1)
    v2 = agent_publish(agent=line.agent, user=line.owner)
    connector_update(connector=line.connector, version_mode=VersionMode.PINNED, pinned_version=v1)
    return line, v1, v2


# The share ---------------------------------------------------------------------------------


def test_a_30_percent_share_sends_about_30_of_100_callers_to_the_agent(client):
    line = build_line()
    connector_rollout_set(
        connector=line.connector, changed_by=line.owner, rollout_percent=30, existing_line=LINE
    )
    counted = rollout_counts()
    started = time.monotonic()

    routes = [route_of(webhook(client, line, From=caller(i))) for i in range(100)]

    elapsed = time.monotonic() - started
    to_agent = routes.count("agent")
    assert routes.count(LINE) == 100 - to_agent
    assert within_binomial(to_agent, 100, 0.3), to_agent
    print(f"100 webhooks in {elapsed:.2f} s; {to_agent} to the agent")
    sent = Call.objects.filter(connector=line.connector, transferred_to=LINE)
    assert sent.count() == 100 - to_agent
    assert set(sent.values_list("status", "version_label", "agent_version")) == {
        (CallStatus.TRANSFERRED, "", None)
    }
    events = CallEvent.objects.filter(call__in=sent, kind="rollout")
    assert {e.message for e in events} == {"Sent to the existing line (rollout 30 %)"}
    assert {e.data["route"] for e in events} == {"existing_line"}
    answered = Call.objects.filter(connector=line.connector, transferred_to="")
    assert set(answered.values_list("version_label", "status")) == {("v1", CallStatus.RINGING)}
    after = rollout_counts()
    assert after["existing_line"] - counted["existing_line"] == 100 - to_agent
    assert after["agent"] - counted["agent"] == to_agent
    page = studio_client(line.owner).get(f"/conversations/{sent.first().pk}/")
    assert "Sent to the existing line (rollout 30 %)" in page.content.decode()


def rollout_counts() -> dict[str, float]:
    """stellar_rollout_calls_total by route (this process's registry)."""
    return {
        route: REGISTRY.get_sample_value(
            "stellar_rollout_calls_total", {"route": route, "arm": arm}
        )
        or 0.0
        for route, arm in (("existing_line", "none"), ("agent", "current"))
    }


def test_a_caller_stays_on_the_same_side_call_after_call(client):
    line = build_line()
    connector_rollout_set(
        connector=line.connector, changed_by=line.owner, rollout_percent=50, existing_line=LINE
    )
    for i in range(6):
        routes = {route_of(webhook(client, line, From=caller(i))) for _ in range(3)}
        assert len(routes) == 1, (caller(i), routes)


def test_zero_and_full_shares_and_withheld_numbers(client):
    line = build_line()
    connector_rollout_set(
        connector=line.connector, changed_by=None, rollout_percent=0, existing_line=LINE
    )
    assert {route_of(webhook(client, line, From=caller(i))) for i in range(10)} == {LINE}
    assert route_of(webhook(client, line, From="anonymous")) == LINE
    connector_rollout_set(
        connector=line.connector, changed_by=None, rollout_percent=100, existing_line=LINE
    )
    assert {route_of(webhook(client, line, From=caller(i))) for i in range(10)} == {"agent"}
    rollout_events = CallEvent.objects.filter(call__connector=line.connector, kind="rollout")
    assert rollout_events.count() == 11  # 100 % without a split is no rollout: no event


def test_a_repeated_webhook_follows_the_first_decision_not_new_settings(client):
    line = build_line()
    connector_rollout_set(
        connector=line.connector, changed_by=None, rollout_percent=0, existing_line=LINE
    )
    sid = new_call_sid()
    assert route_of(webhook(client, line, CallSid=sid)) == LINE
    connector_rollout_set(connector=line.connector, changed_by=None, rollout_percent=100)

    assert route_of(webhook(client, line, CallSid=sid)) == LINE
    assert route_of(webhook(client, line)) == "agent"


def test_the_existing_line_answers_even_when_no_version_could(client):
    line = build_line(publish=False)
    connector_rollout_set(
        connector=line.connector, changed_by=None, rollout_percent=0, existing_line=LINE
    )
    assert route_of(webhook(client, line)) == LINE


def test_a_disabled_connector_sends_nobody_to_the_existing_line(client):
    line = build_line()
    connector_rollout_set(
        connector=line.connector, changed_by=None, rollout_percent=0, existing_line=LINE
    )
    connector_update(connector=line.connector, enabled=False)
    twiml = webhook(client, line)
    assert twiml.find("Dial") is None and twiml.find("Hangup") is not None


# The version split --------------------------------------------------------------------------


def test_the_split_is_sticky_per_caller_and_about_right_over_many_callers(client):
    line, v1, v2 = split_line()
    connector_rollout_set(
        connector=line.connector,
        changed_by=line.owner,
        rollout_percent=100,
        candidate_version=v2,
        candidate_percent=40,
    )
    for i in range(5):
        for _ in range(3):
            webhook(client, line, From=caller(i))
        labels = set(
            Call.objects.filter(from_number=caller(i)).values_list("version_label", flat=True)
        )
        assert len(labels) == 1, (caller(i), labels)

    for i in range(5, 205):
        webhook(client, line, From=caller(i))

    firsts = Call.objects.filter(connector=line.connector).order_by("from_number", "id")
    by_caller = {c.from_number: c for c in firsts}
    candidates = [c for c in by_caller.values() if c.version_label == "v2"]
    assert within_binomial(len(candidates), len(by_caller), 0.4), len(candidates)
    assert {c.agent_version_id for c in candidates} == {v2.pk}
    assert {c.version_label for c in by_caller.values()} == {"v1", "v2"}
    event = CallEvent.objects.get(call=candidates[0], kind="rollout")
    assert event.data["arm"] == "candidate" and event.data["version"] == "v2"
    assert event.message == "Sent to the agent: v2, candidate version"
    current = next(c for c in by_caller.values() if c.version_label == "v1")
    assert CallEvent.objects.get(call=current, kind="rollout").data["arm"] == "current"


def test_an_unpublished_candidate_gives_its_callers_the_current_version(client):
    line, v1, v2 = split_line()
    connector_rollout_set(
        connector=line.connector,
        changed_by=None,
        rollout_percent=100,
        candidate_version=v2,
        candidate_percent=100,
    )
    webhook(client, line)
    version_unpublish(version=v2)

    webhook(client, line)

    labels = list(
        Call.objects.filter(connector=line.connector).order_by("id").values_list("version_label")
    )
    assert labels == [("v2",), ("v1",)]


# Validation and the audit ---------------------------------------------------------------------


def test_changes_are_audited_with_who_when_and_from_to():
    line, v1, v2 = split_line()
    editor = member_make(workspace=line.agent.workspace, role=Role.EDITOR, username="ed").user

    connector_rollout_set(
        connector=line.connector, changed_by=line.owner, rollout_percent=30, existing_line=LINE
    )
    connector_rollout_set(
        connector=line.connector,
        changed_by=editor,
        rollout_percent=30,
        existing_line=LINE,
        candidate_version=v2,
        candidate_percent=10,
    )
    connector_rollout_set(  # the same settings again: nothing changed, nothing audited
        connector=line.connector,
        changed_by=editor,
        rollout_percent=30,
        existing_line=LINE,
        candidate_version=v2,
        candidate_percent=10,
    )

    newest, oldest = RolloutChange.objects.filter(connector=line.connector)
    assert oldest.changed_by == line.owner and oldest.changed_by_name == line.owner.username
    assert oldest.before["rollout_percent"] == 100 and oldest.after["rollout_percent"] == 30
    assert oldest.after["existing_line"] == LINE
    assert newest.changed_by_name == "ed" and newest.changed_at >= oldest.changed_at
    assert newest.after["candidate_version"] == {"id": v2.pk, "label": "v2"}
    assert newest.after_text == f"30 % to the agent, rest to {LINE}; candidate v2 on 10 %"
    assert newest.before_text == f"30 % to the agent, rest to {LINE}; no candidate"
    editor.delete()
    newest.refresh_from_db()
    assert newest.changed_by is None and newest.changed_by_name == "ed"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"rollout_percent": 0}, "existing_line"),
        ({"rollout_percent": 70, "existing_line": "   "}, "existing_line"),
        ({"rollout_percent": 50, "existing_line": "0201112233"}, "existing_line"),
        ({"rollout_percent": 50, "existing_line": "+900123456"}, "existing_line"),
        ({"rollout_percent": 101, "existing_line": LINE}, "rollout_percent"),
        ({"rollout_percent": 100, "candidate_percent": 20}, "candidate_version"),
        ({"rollout_percent": 100, "candidate_percent": -1}, "candidate_percent"),
    ],
)
def test_bad_settings_are_refused_with_a_reason_and_change_nothing(settings, field):
    line = build_line()
    with pytest.raises(ValidationError) as refused:
        connector_rollout_set(connector=line.connector, changed_by=None, **settings)
    assert field in refused.value.error_dict
    line.connector.refresh_from_db()
    assert (line.connector.rollout_percent, line.connector.existing_line) == (100, "")
    assert not RolloutChange.objects.exists()


def test_a_candidate_must_be_a_published_version_of_the_connectors_agent():
    line, v1, v2 = split_line()
    other = build_line()
    for version, reason in [
        (other.agent.versions.get(number=1), "of this connector's agent"),
        (v1, "already answers"),
    ]:
        with pytest.raises(ValidationError, match=reason):
            connector_rollout_set(
                connector=line.connector,
                changed_by=None,
                rollout_percent=100,
                candidate_version=version,
                candidate_percent=10,
            )
    version_unpublish(version=v2)
    with pytest.raises(ValidationError, match="unpublished"):
        connector_rollout_set(
            connector=line.connector,
            changed_by=None,
            rollout_percent=100,
            candidate_version=v2,
            candidate_percent=10,
        )


def test_the_agent_cannot_change_under_a_candidate_of_the_old_agent():
    line, v1, v2 = split_line()
    connector_rollout_set(
        connector=line.connector,
        changed_by=None,
        rollout_percent=100,
        candidate_version=v2,
        candidate_percent=10,
    )
    other = Agent.objects.create(workspace=line.agent.workspace, name="Other")
    with pytest.raises(ValidationError, match="remove the candidate"):
        connector_update(connector=line.connector, agent=other, version_mode=VersionMode.PUBLISHED)


# API ------------------------------------------------------------------------------------------


def test_the_api_reads_and_changes_the_rollout_and_shows_the_audit():
    line, v1, v2 = split_line()
    editor = member_make(workspace=line.agent.workspace, role=Role.EDITOR, username="ed").user
    url = f"/api/v1/phone-connectors/{line.connector.pk}/rollout/"
    api = api_client(editor, workspace=line.agent.workspace)

    put = api.put(
        url,
        {
            "rollout_percent": 30,
            "existing_line": "+31 20 111 2233",
            "candidate_version": v2.pk,
            "candidate_percent": 10,
        },
        format="json",
    )
    patch = api.patch(url, {"candidate_percent": 25}, format="json")
    refused = api.patch(url, {"rollout_percent": 0, "existing_line": ""}, format="json")
    got = api.get(url)

    assert put.status_code == 200, put.data
    assert put.data["existing_line"] == LINE and put.data["candidate_version_label"] == "v2"
    assert patch.status_code == 200 and patch.data["rollout_percent"] == 30
    assert patch.data["candidate_percent"] == 25 and patch.data["existing_line"] == LINE
    assert refused.status_code == 400 and "existing_line" in refused.json()
    changes = got.data["changes"]
    assert [c["changed_by"] for c in changes] == ["ed", "ed"]
    assert changes[0]["before"]["candidate_percent"] == 10
    assert changes[0]["after"]["candidate_percent"] == 25
    assert changes[1]["before"]["rollout_percent"] == 100
    detail = api.get(f"/api/v1/phone-connectors/{line.connector.pk}/").data
    assert (detail["rollout_percent"], detail["candidate_percent"]) == (30, 25)


def test_the_api_refuses_a_candidate_from_another_workspace():
    line, v1, v2 = split_line()
    other = build_line()
    api = api_client(line.owner, workspace=line.agent.workspace)
    response = api.put(
        f"/api/v1/phone-connectors/{line.connector.pk}/rollout/",
        {
            "rollout_percent": 100,
            "candidate_version": other.agent.versions.get(number=1).pk,
            "candidate_percent": 10,
        },
        format="json",
    )
    assert response.status_code == 400 and "candidate_version" in response.json()


# Studio ---------------------------------------------------------------------------------------


def studio_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rollout_post(client: Client, line: Line, **fields: object):
    data = {f"rollout-{name}": value for name, value in fields.items()}
    return client.post(f"/connectors/{line.connector.pk}/rollout/", data)


def test_the_connector_page_sets_the_rollout_and_lists_its_history():
    line, v1, v2 = split_line()
    client = studio_client(line.owner)

    saved = rollout_post(
        client,
        line,
        rollout_percent=30,
        existing_line=LINE,
        candidate_version=v2.pk,
        candidate_percent=10,
    )
    page = client.get(f"/connectors/{line.connector.pk}/").content.decode()

    assert saved.status_code == 302 and saved["Location"].endswith("#rollout")
    assert "30 % of callers reach the agent" in page
    assert f"straight to the existing line {LINE}" in page
    assert "<strong>v2</strong> (candidate) answers 10 %" in page
    assert f"100 % to the agent; no candidate → 30 % to the agent, rest to {LINE}" in page
    assert line.owner.username in page


def test_the_rollout_form_shows_why_a_change_is_refused():
    line = build_line()
    client = studio_client(line.owner)

    response = rollout_post(client, line, rollout_percent=0, existing_line="", candidate_percent=0)

    assert response.status_code == 400
    assert "Enter the existing line" in response.content.decode()
    assert not RolloutChange.objects.exists()


def test_a_viewer_cannot_change_the_rollout():
    line = build_line()
    viewer = member_make(workspace=line.agent.workspace, role=Role.VIEWER, username="vi").user

    response = rollout_post(
        studio_client(viewer), line, rollout_percent=0, existing_line=LINE, candidate_percent=0
    )

    assert response.status_code == 403
    line.connector.refresh_from_db()
    assert line.connector.rollout_percent == 100
