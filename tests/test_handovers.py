"""Handover TwiML, Dial outcomes and fallbacks, Studio-flow return, and REST transfers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.test import override_settings
from twilio.http.http_client import TwilioHttpClient

from calls.models import Call, CallEvent, CallStatus
from calls.twilio.handover import handover_request, transfer_via_rest
from handovers.models import HandoverAction
from tests.test_voice_webhook import PUBLIC, signed_post
from tests.twilio_call import build_line, voice_params

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def public_url():
    with override_settings(STELLAR_PUBLIC_URL=PUBLIC, ALLOWED_HOSTS=["*"]):
        yield


def answered_call(client, line, **extra):
    params = voice_params(**extra)
    signed_post(client, line, line.connector.webhook_path, params)
    return Call.objects.get(call_sid=params["CallSid"]), params


def action_dict(line, name):
    return next(
        a
        for a in line.connector.agent.versions.first().snapshot["handover_actions"]
        if a["name"] == name
    )


def connect_ended(client, line, call, params):
    response = signed_post(client, line, f"/v1/calls/{call.pk}/connect-ended", params)
    assert response.status_code == 200
    return ET.fromstring(response.content)


def dial_status(client, line, call, params, status):
    body = {
        **params,
        "DialCallStatus": status,
        "DialCallSid": "CA" + "e" * 32,
        "DialCallDuration": "0",
    }
    response = signed_post(client, line, f"/v1/calls/{call.pk}/dial-status", body)
    assert response.status_code == 200
    return ET.fromstring(response.content)


def test_pending_handover_dials_with_caller_id_timeout_and_action(client):
    line = build_line()
    call, params = answered_call(client, line)
    handover_request(call_id=call.pk, action=action_dict(line, "transfer_to_sales"))
    dial = connect_ended(client, line, call, params).find("Dial")
    assert dial.find("Number").text == "+31201234567"
    assert dial.get("callerId") == "+31209999999"
    assert dial.get("timeout") == "25"
    assert dial.get("action") == f"{PUBLIC}/v1/calls/{call.pk}/dial-status"


def test_caller_id_defaults_to_the_called_number(client):
    line = build_line()
    call, params = answered_call(client, line)
    handover_request(call_id=call.pk, action=action_dict(line, "transfer_to_support"))
    dial = connect_ended(client, line, call, params).find("Dial")
    assert dial.get("callerId") == params["To"]


def test_completed_dial_marks_call_transferred(client):
    line = build_line()
    call, params = answered_call(client, line)
    handover_request(call_id=call.pk, action=action_dict(line, "transfer_to_sales"))
    connect_ended(client, line, call, params)
    assert dial_status(client, line, call, params, "completed").find("Hangup") is not None
    call.refresh_from_db()
    assert call.status == CallStatus.TRANSFERRED and call.transferred_to == "+31201234567"
    event = CallEvent.objects.get(call=call, kind="dial_status")
    assert event.data["dial_call_status"] == "completed"
    assert event.data["dial_call_sid"] == "CA" + "e" * 32


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
def test_failed_dial_with_hangup_fallback_apologises(client, status):
    line = build_line()
    call, params = answered_call(client, line)
    handover_request(call_id=call.pk, action=action_dict(line, "transfer_to_sales"))
    connect_ended(client, line, call, params)
    root = dial_status(client, line, call, params, status)
    assert "sorry" in root.find("Say").text.lower() and root.find("Hangup") is not None
    call.refresh_from_db()
    assert call.status == CallStatus.COMPLETED and status in call.outcome


def test_next_destination_fallback_tries_the_next_number(client):
    line = build_line()
    HandoverAction.objects.filter(agent=line.agent, name="transfer_to_sales").update(
        fallback="next_destination", extra_destinations=["+442071234567"]
    )
    from agents.definitions.versions import agent_publish

    agent_publish(agent=line.agent)
    call, params = answered_call(client, line)
    handover_request(call_id=call.pk, action=action_dict(line, "transfer_to_sales"))
    connect_ended(client, line, call, params)
    second = dial_status(client, line, call, params, "busy").find("Dial")
    assert second.find("Number").text == "+442071234567"
    third = dial_status(client, line, call, params, "no-answer")
    assert third.find("Hangup") is not None


def test_reconnect_fallback_opens_a_new_stream_on_the_same_call(client):
    line = build_line()
    call, params = answered_call(client, line)
    handover_request(call_id=call.pk, action=action_dict(line, "transfer_to_support"))
    connect_ended(client, line, call, params)
    stream = dial_status(client, line, call, params, "no-answer").find("Connect/Stream")
    assert stream.get("url").startswith("wss://stellar.example.com/v1/media/")
    names = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert names["reconnect"] == "transfer_failed"


def test_return_to_studio_flow_redirects(client):
    line = build_line()
    flow = HandoverAction.objects.create(
        agent=line.agent,
        name="back_to_menu",
        description="The caller wants the main menu.",
        kind="studio_flow",
        flow_sid="FW" + "b" * 32,
    )
    call, params = answered_call(client, line)
    action = {"name": flow.name, "kind": "studio_flow", "flow_sid": flow.flow_sid}
    handover_request(call_id=call.pk, action=action)
    redirect = connect_ended(client, line, call, params).find("Redirect")
    assert redirect.text == (
        f"https://webhooks.twilio.com/v1/Accounts/{params['AccountSid']}/Flows/"
        f"FW{'b' * 32}?FlowEvent=return"
    )


def test_forged_dial_status_is_refused(client):
    line = build_line()
    call, params = answered_call(client, line)
    response = client.post(
        f"/v1/calls/{call.pk}/dial-status",
        {**params, "DialCallStatus": "completed"},
        HTTP_X_TWILIO_SIGNATURE="Zm9yZ2Vk",
    )
    assert response.status_code == 403
    assert not CallEvent.objects.filter(call=call, kind="dial_status").exists()


@pytest.mark.e2e
def test_rest_transfer_sends_dial_twiml_to_twilio(client, twilio_api_base_url, monkeypatch):
    sent = []

    class RecordingHttpClient(TwilioHttpClient):
        def request(self, method, url, params=None, data=None, headers=None, auth=None, **kw):
            response = super().request(method, url, params, data, headers, auth, **kw)
            sent.append(
                {"method": method, "url": url, "data": data, "status": response.status_code}
            )
            return response

    monkeypatch.setattr("connectors.twilio_client.TwilioHttpClient", RecordingHttpClient)
    line = build_line()
    call, _params = answered_call(client, line)
    with override_settings(STELLAR_TWILIO_API_BASE_URL=twilio_api_base_url):
        transfer_via_rest(
            call=call, action=action_dict(line, "transfer_to_sales"), requested_by="supervisor"
        )
    assert len(sent) == 1
    request = sent[0]
    assert request["method"] == "POST"
    assert request["url"] == (
        f"{twilio_api_base_url}/2010-04-01/Accounts/{call.account_sid}/Calls/{call.call_sid}.json"
    )
    assert request["status"] == 200, "Prism validates the request against Twilio's spec"
    dial = ET.fromstring(request["data"]["Twiml"]).find("Dial")
    assert dial.find("Number").text == "+31201234567"
    assert CallEvent.objects.filter(call=call, kind="handover_rest").exists()


def test_a_destination_the_policy_refuses_is_never_dialled(client):
    # Given a published version whose handover holds a premium-rate number (saved before the
    # destination policy, or in a country the operator no longer allows)
    line = build_line()
    call, params = answered_call(client, line)
    action = {**action_dict(line, "transfer_to_sales"), "destination": "+448712345678"}
    handover_request(call_id=call.pk, action=action)
    # When Twilio asks what to do after the stream
    root = connect_ended(client, line, call, params)
    # Then the caller hears an apology, nothing is dialled, and the timeline says why
    assert root.find("Dial") is None and root.find("Hangup") is not None
    assert "sorry" in root.find("Say").text.lower()
    event = CallEvent.objects.get(call=call, kind="handover_fallback")
    assert "Transfer refused" in event.message and "+448712345678" in event.message
    call.refresh_from_db()
    assert call.status == CallStatus.COMPLETED and call.outcome == "Transfer refused by policy"
