"""Caps and the overflow rule at the voice webhook (Django's test client, an in-process board
so no other test's live server sees these leases or load reports), the lease given back when
the call ends, and the connector page's capacity card."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import redis
from django.test import Client, override_settings
from django.urls import reverse

from calls.models import Call, CallEvent, CallStatus
from connectors import capacity
from connectors.capacity import DEFAULT_OVERFLOW_MESSAGE, LoadReport, MemoryBoard, capacity_status
from connectors.models import OverflowAction, PhoneConnector, WorkspaceCallCap
from stellar.kernel import metrics
from tests.factories import world_make
from tests.test_voice_webhook import PUBLIC, signed_post
from tests.twilio_call import build_line, voice_params

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def board(monkeypatch) -> MemoryBoard:
    mem = MemoryBoard()
    monkeypatch.setattr(capacity, "board", lambda: mem)
    with override_settings(STELLAR_PUBLIC_URL=PUBLIC, ALLOWED_HOSTS=["*"]):
        yield mem


def ring(client, line, **extra):
    params = voice_params(**extra)
    response = signed_post(client, line, line.connector.webhook_path, params)
    assert response.status_code == 200
    return ET.fromstring(response.content), params["CallSid"]


def overflowed_count(reason: str) -> float:
    return metrics.CALLS_OVERFLOWED.labels(reason)._value.get()


def test_past_the_connector_cap_callers_hear_the_overflow_message(client):
    line = build_line()
    PhoneConnector.objects.filter(pk=line.connector.pk).update(max_concurrent_calls=2)
    before = overflowed_count("connector_cap")
    answered = [ring(client, line) for _ in range(2)]
    assert all(root.find("Connect") is not None for root, _sid in answered)

    root, sid = ring(client, line)
    assert root.find("Connect") is None
    assert root.find("Say").text == DEFAULT_OVERFLOW_MESSAGE and root.find("Hangup") is not None
    call = Call.objects.get(call_sid=sid)
    assert call.status == CallStatus.REJECTED and call.ended_at is not None
    event = CallEvent.objects.get(call=call, kind="overflow")
    assert event.data["reason"] == "connector_cap" and "cap of 2" in event.message
    assert overflowed_count("connector_cap") == before + 1
    status = capacity_status(PhoneConnector.objects.get(pk=line.connector.pk))
    assert (status.live_calls, status.cap, status.overflowed_today) == (2, 2, 1)

    # Twilio repeats the webhook of the refused call: still refused, not counted again.
    again = signed_post(client, line, line.connector.webhook_path, voice_params(sid))
    assert ET.fromstring(again.content).find("Say").text == DEFAULT_OVERFLOW_MESSAGE
    # …and of an admitted one: still admitted, still one lease.
    first_sid = answered[0][1]
    again = signed_post(client, line, line.connector.webhook_path, voice_params(first_sid))
    assert ET.fromstring(again.content).find("Connect") is not None
    assert capacity_status(line.connector).live_calls == 2


def test_a_finished_call_gives_its_slot_to_the_next_caller(client):
    line = build_line()
    PhoneConnector.objects.filter(pk=line.connector.pk).update(max_concurrent_calls=1)
    _root, sid = ring(client, line)
    assert ring(client, line)[0].find("Connect") is None
    params = voice_params(sid, CallStatus="completed", CallDuration="30")
    path = reverse("call-status", args=[line.connector.identifier])
    response = signed_post(client, line, path, params)
    assert response.status_code == 204, response.content
    assert ring(client, line)[0].find("Connect") is not None


def test_the_forward_rule_dials_the_overflow_number(client):
    line = build_line()
    PhoneConnector.objects.filter(pk=line.connector.pk).update(
        max_concurrent_calls=1,
        overflow_action=OverflowAction.FORWARD,
        overflow_number="+31201234567",
    )
    ring(client, line)
    root, sid = ring(client, line)
    dial = root.find("Dial")
    assert dial.find("Number").text == "+31201234567"
    assert dial.get("callerId") == "+15557650002"  # the number the caller dialled
    assert (
        "forwarded to +31201234567"
        in CallEvent.objects.get(call__call_sid=sid, kind="overflow").message
    )


def test_the_workspace_cap_counts_every_connector_of_the_workspace(client):
    line = build_line()
    second = PhoneConnector.objects.get(pk=line.connector.pk)
    second.pk, second.identifier, second.name = None, "second0identifier0abcdefg", "Second"
    second.save()
    WorkspaceCallCap.objects.create(
        workspace_id=line.connector.workspace_id, max_concurrent_calls=1
    )
    ring(client, line)
    other = type(line)(connector=second, agent=line.agent)
    root, sid = ring(client, other)
    assert root.find("Say") is not None
    assert (
        CallEvent.objects.get(call__call_sid=sid, kind="overflow").data["reason"] == "workspace_cap"
    )


def test_callers_are_refused_while_every_media_process_is_overloaded(client, board):
    line = build_line()
    busy = LoadReport("media-a:1", 20, 1900.0, 2600.0, True, "speech queue wait 1900 ms")
    board.publish_load(busy, ttl=30)
    root, sid = ring(client, line)
    assert root.find("Say").text == DEFAULT_OVERFLOW_MESSAGE
    event = CallEvent.objects.get(call__call_sid=sid, kind="overflow")
    assert event.data["reason"] == "overload" and "speech queue wait 1900 ms" in event.message
    assert capacity_status(line.connector).overloaded

    board.publish_load(LoadReport("media-b:1", 2, 20.0, 700.0, False), ttl=30)  # room there
    assert ring(client, line)[0].find("Connect") is not None


# ---- the connector page -------------------------------------------------------------------
@pytest.fixture
def world():
    return world_make()


def studio(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_connector_page_shows_live_calls_against_the_cap(world, board):
    connector = world.a.connector
    PhoneConnector.objects.filter(pk=connector.pk).update(max_concurrent_calls=5)
    board.admit(
        [
            (capacity.connector_key(connector.pk), 5),
            (capacity.workspace_key(connector.workspace_id), None),
        ],
        "CA" + "1" * 32,
        9e12,
    )
    page = studio(world.users["viewer"]).get(f"/connectors/{connector.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="live-calls">1 / 5<' in html
    assert 'data-testid="overflowed-today">0<' in html
    assert "Save capacity" not in html  # a viewer sees the settings, cannot change them


def test_editors_set_the_cap_and_overflow_rule_admins_the_workspace_cap(world):
    connector = world.a.connector
    url = f"/connectors/{connector.pk}/capacity/"
    form = {
        "capacity-max_concurrent_calls": "3",
        "capacity-workspace_max_concurrent_calls": "10",
        "capacity-overflow_action": "forward",
        "capacity-overflow_number": "",
        "capacity-overflow_message": "",
    }
    editor = studio(world.users["editor"])
    refused = editor.post(url, form)
    assert refused.status_code == 400
    assert "Enter the number overflow callers are forwarded to." in refused.content.decode()

    form["capacity-overflow_number"] = "+31 20 123 4567"
    assert editor.post(url, form).status_code == 302
    connector.refresh_from_db()
    assert (connector.max_concurrent_calls, connector.overflow_number) == (3, "+31201234567")
    assert not WorkspaceCallCap.objects.filter(workspace=connector.workspace).exists()

    form["capacity-max_concurrent_calls"] = ""
    assert studio(world.users["admin"]).post(url, form).status_code == 302
    connector.refresh_from_db()
    assert connector.max_concurrent_calls is None
    assert WorkspaceCallCap.objects.get(workspace=connector.workspace).max_concurrent_calls == 10

    assert studio(world.users["viewer"]).post(url, form).status_code == 403
    other = world.b.connector
    assert editor.post(f"/connectors/{other.pk}/capacity/", form).status_code == 404


class DownBoard(MemoryBoard):
    """Redis unreachable: every board call fails."""

    def __getattribute__(self, name):
        if name in ("admit", "count", "load_reports", "get_int", "incr", "release"):
            raise redis.ConnectionError("Connection refused")
        return super().__getattribute__(name)


def test_without_the_board_calls_are_answered_and_the_page_says_so(client, monkeypatch, world):
    monkeypatch.setattr(capacity, "board", lambda: DownBoard())
    line = build_line()
    PhoneConnector.objects.filter(pk=line.connector.pk).update(max_concurrent_calls=1)
    assert ring(client, line)[0].find("Connect") is not None
    assert ring(client, line)[0].find("Connect") is not None  # no count: no cap to enforce
    page = studio(world.users["viewer"]).get(f"/connectors/{world.a.connector.pk}/")
    assert page.status_code == 200
    assert "Live numbers are unavailable" in page.content.decode()
