"""The voice webhook and Twilio's call callbacks, through Django's test client (HTTP level)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from django.test import override_settings

from calls.models import Call, CallEvent, CallStatus
from calls.twilio.tokens import call_id_from_media_token
from tests.twilio_call import AUTH_TOKEN, build_line, new_call_sid, voice_params

PUBLIC = "https://stellar.example.com"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("public_url")]


@pytest.fixture
def public_url():
    with override_settings(STELLAR_PUBLIC_URL=PUBLIC, ALLOWED_HOSTS=["*"]):
        yield


def signed_post(client, line, path, params, query=""):
    url = PUBLIC + path + (f"?{query}" if query else "")
    sig = line.validator.compute_signature(url, params)
    full = path + (f"?{query}" if query else "")
    return client.post(full, params, HTTP_X_TWILIO_SIGNATURE=sig, HTTP_HOST="10.0.0.5:8000")


def signed_get(client, line, path, params):
    query = urlencode(params)
    sig = line.validator.compute_signature(f"{PUBLIC}{path}?{query}", {})
    return client.get(f"{path}?{query}", HTTP_X_TWILIO_SIGNATURE=sig)


def test_post_answers_connect_stream_with_parameters(client):
    line = build_line()
    params = voice_params()
    response = signed_post(
        client, line, line.connector.webhook_path, params, query="Digits=1&FlowVar=gold"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    connect = root.find("Connect")
    call = Call.objects.get(call_sid=params["CallSid"])
    assert connect.get("action") == f"{PUBLIC}/v1/calls/{call.pk}/connect-ended"
    stream_url = connect.find("Stream").get("url")
    assert stream_url.startswith("wss://stellar.example.com/v1/media/")
    assert "?" not in stream_url
    token = stream_url.rsplit("/", 1)[1]
    assert call_id_from_media_token(token) == call.pk
    sent = {p.get("name"): p.get("value") for p in connect.find("Stream").findall("Parameter")}
    assert sent == {"call_id": str(call.pk), "Digits": "1", "FlowVar": "gold"}
    assert call.ivr_params == {"Digits": "1", "FlowVar": "gold"}
    assert call.version_label == "v1"
    assert call.agent_version.number == 1


def test_get_with_query_string_works_too(client):
    line = build_line()
    params = voice_params(Digits="2")
    response = signed_get(client, line, line.connector.webhook_path, params)
    assert response.status_code == 200
    assert ET.fromstring(response.content).find("Connect/Stream") is not None
    assert Call.objects.get(call_sid=params["CallSid"]).ivr_params == {"Digits": "2"}


def test_unknown_connector_is_404(client):
    response = client.post("/v1/agents/nope/twilio-config", voice_params())
    assert response.status_code == 404


@pytest.mark.parametrize("tamper", ["missing", "forged", "other_token", "host_header_url"])
def test_bad_signature_is_403_and_creates_nothing(client, tamper):
    line = build_line()
    params = voice_params()
    path = line.connector.webhook_path
    signatures = {
        "missing": None,
        "forged": "bm90IGEgc2lnbmF0dXJl",
        "other_token": __import__("twilio.request_validator")
        .request_validator.RequestValidator("wrong")
        .compute_signature(PUBLIC + path, params),
        # signed over the proxied Host, not the public URL: must be refused
        "host_header_url": line.validator.compute_signature("http://10.0.0.5:8000" + path, params),
    }
    headers = {} if signatures[tamper] is None else {"HTTP_X_TWILIO_SIGNATURE": signatures[tamper]}
    response = client.post(path, params, HTTP_HOST="10.0.0.5:8000", **headers)
    assert response.status_code == 403
    assert not Call.objects.exists()


def test_wrong_account_is_403(client):
    line = build_line()
    params = voice_params(AccountSid="AC" + "f" * 32)
    assert signed_post(client, line, line.connector.webhook_path, params).status_code == 403


def test_nothing_published_hangs_up_politely_with_reason(client):
    line = build_line(publish=False)
    params = voice_params()
    response = signed_post(client, line, line.connector.webhook_path, params)
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.find("Say") is not None and "sorry" in root.find("Say").text.lower()
    assert root.find("Hangup") is not None
    call = Call.objects.get(call_sid=params["CallSid"])
    assert call.status == CallStatus.REJECTED
    event = CallEvent.objects.get(call=call, kind="rejected")
    assert "no published version" in event.message


def test_disabled_connector_hangs_up_politely(client):
    line = build_line()
    line.connector.enabled = False
    line.connector.save()
    response = signed_post(client, line, line.connector.webhook_path, voice_params())
    assert ET.fromstring(response.content).find("Hangup") is not None
    assert CallEvent.objects.filter(kind="rejected", message__icontains="disabled").exists()


def test_retried_webhook_makes_one_call(client):
    line = build_line()
    params = voice_params(call_sid=new_call_sid())
    first = signed_post(client, line, line.connector.webhook_path, params)
    second = signed_post(client, line, line.connector.webhook_path, params)
    assert first.status_code == second.status_code == 200
    assert Call.objects.filter(call_sid=params["CallSid"]).count() == 1
    assert CallEvent.objects.filter(kind="webhook_retry").count() == 1


def test_connect_action_is_signed_and_hangs_up(client):
    line = build_line()
    params = voice_params()
    signed_post(client, line, line.connector.webhook_path, params)
    call = Call.objects.get(call_sid=params["CallSid"])
    path = f"/v1/calls/{call.pk}/connect-ended"
    forged = client.post(path, params, HTTP_X_TWILIO_SIGNATURE="Zm9yZ2Vk")
    assert forged.status_code == 403
    response = signed_post(client, line, path, params)
    assert response.status_code == 200
    assert ET.fromstring(response.content).find("Hangup") is not None
    call.refresh_from_db()
    assert call.status == CallStatus.COMPLETED and call.ended_at is not None


@pytest.mark.parametrize(
    ("twilio_status", "expected"),
    [("completed", "completed"), ("busy", "busy"), ("no-answer", "no_answer")],
)
def test_status_callback_closes_the_call(client, twilio_status, expected):
    line = build_line()
    params = voice_params()
    signed_post(client, line, line.connector.webhook_path, params)
    path = f"/v1/agents/{line.connector.identifier}/call-status"
    update = {**params, "CallStatus": twilio_status, "CallDuration": "42"}
    assert client.post(path, update, HTTP_X_TWILIO_SIGNATURE="eA==").status_code == 403
    assert signed_post(client, line, path, update).status_code == 204
    call = Call.objects.get(call_sid=params["CallSid"])
    assert call.status == expected
    assert call.duration_seconds == 42


def test_auth_token_not_logged_or_in_twiml(client, caplog):
    line = build_line()
    response = signed_post(client, line, line.connector.webhook_path, voice_params())
    assert AUTH_TOKEN.encode() not in response.content
    assert AUTH_TOKEN not in caplog.text
