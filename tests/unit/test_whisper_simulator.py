"""The simulator follows `<Dial><Number url>` like Twilio: the answered leg fetches the whisper
(signed, about the child leg), the person hears it, and only then is the caller bridged."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import httpx
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, Number, VoiceResponse

from calls.simulator import SimulatedCall, format_transcript, simulate_call
from calls.simulator.twiml import DialVerb, NumberUrl, parse_twiml

TOKEN = "whisper-token-0123"
ACCOUNT = "AC" + "b" * 32
PUBLIC = "https://stellar.example.com"
WEBHOOK = "/v1/agents/abc/twilio-config"
WHISPER = "/v1/calls/7/whispers/3"
DIAL_ACTION = "/v1/calls/7/dial-status"
HUMAN = "+31201234567"


def xml(resp: VoiceResponse | str) -> httpx.Response:
    return httpx.Response(200, text=str(resp), headers={"content-type": "text/xml"})


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def signed_like_twilio(request: httpx.Request) -> bool:
    url = PUBLIC + request.url.raw_path.decode()
    signature = request.headers["x-twilio-signature"]
    return bool(RequestValidator(TOKEN).validate(url, form_of(request), signature))


def dial_twiml(whisper_url: str | None) -> httpx.Response:
    resp = VoiceResponse()
    dial = Dial(caller_id="+31209999999", timeout=20, action=DIAL_ACTION)
    dial.append(Number(HUMAN, url=whisper_url) if whisper_url else Number(HUMAN))
    resp.append(dial)
    return xml(resp)


def run(whisper_reply, *, dial_statuses: list[str] | None = None, whisper_url=WHISPER):
    """A webhook that dials with a whisper; `whisper_reply` answers the whisper URL."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        path = request.url.path
        if path == WEBHOOK:
            return dial_twiml(whisper_url)
        if path == WHISPER:
            return whisper_reply(request)
        resp = VoiceResponse()
        resp.hangup()
        return xml(resp)

    config = SimulatedCall(
        "http://127.0.0.1:8000",
        WEBHOOK,
        ACCOUNT,
        TOKEN,
        public_url=PUBLIC,
        from_="+31612345678",
        dial_statuses=dial_statuses or [],
        transport=httpx.MockTransport(handler),
    )
    result = asyncio.run(simulate_call(config))
    return result, requests


def say(text: str):
    def reply(_request: httpx.Request) -> httpx.Response:
        resp = VoiceResponse()
        resp.say(text, language="en-GB")
        return xml(resp)

    return reply


def test_number_url_is_parsed_and_resolved_against_the_document() -> None:
    doc = (
        '<Response><Dial action="/d"><Number url="/w?x=1" method="GET">+3120</Number>'
        "<Number>+3130</Number></Dial></Response>"
    )
    (verb,) = parse_twiml(doc, base_url=PUBLIC + "/v1/hook")
    assert isinstance(verb, DialVerb)
    assert verb.numbers == ("+3120", "+3130")
    assert verb.url_for(0) == NumberUrl(PUBLIC + "/w?x=1", "GET")
    assert verb.url_for(1) is None and verb.url_for(5) is None


def test_human_hears_the_whisper_then_the_caller_is_bridged() -> None:
    result, requests = run(say("Call from plus 3 1. They said: sales please."))
    assert [r.url.path for r in requests] == [WEBHOOK, WHISPER, DIAL_ACTION]
    whisper_request = requests[1]
    assert signed_like_twilio(whisper_request)
    form = form_of(whisper_request)
    (dial,) = result.dials
    # The request is about the dialled leg, as Twilio makes it.
    assert form["CallSid"] == dial.dial_call_sid != result.call_sid
    assert form["ParentCallSid"] == result.call_sid
    assert form["To"] == HUMAN and form["From"] == "+31209999999"
    assert form["Direction"] == "outbound-dial" and form["CallStatus"] == "in-progress"
    assert dial.whisper is not None
    assert dial.whisper.heard == ["Call from plus 3 1. They said: sales please."]
    assert dial.whisper.error is None and not dial.whisper.declined
    assert dial.status == "completed" and dial.bridged_at is not None
    assert dial.whisper.ended_at is not None and dial.whisper.ended_at <= dial.bridged_at
    assert result.twilio_said == []  # the caller never hears the whisper
    assert form_of(requests[2])["DialCallStatus"] == "completed"
    assert result.ok, result.errors
    assert "Whisper:" in format_transcript(result)


def test_broken_whisper_still_bridges_the_caller() -> None:
    replies = {
        "11200": lambda _r: httpx.Response(500, text="boom"),
        "12100": lambda _r: xml("<Response><Say>unclosed</Response>"),
        "12300": lambda _r: httpx.Response(200, text="hi", headers={"content-type": "text/plain"}),
    }
    for code, reply in replies.items():
        result, requests = run(reply)
        (dial,) = result.dials
        assert dial.whisper is not None and dial.whisper.heard == []
        assert dial.whisper.error, code
        assert any(code in w for w in result.warnings), (code, result.warnings)
        assert dial.status == "completed" and dial.bridged_at is not None
        assert [r.url.path for r in requests] == [WEBHOOK, WHISPER, DIAL_ACTION]
        assert result.ok and not result.errors


def test_whisper_that_hangs_up_declines_the_call() -> None:
    def hang_up(_request: httpx.Request) -> httpx.Response:
        resp = VoiceResponse()
        resp.say("Press nothing")
        resp.hangup()
        return xml(resp)

    result, requests = run(hang_up)
    (dial,) = result.dials
    assert dial.whisper is not None and dial.whisper.declined
    assert dial.status == "no-answer" and dial.bridged_at is None
    assert form_of(requests[2])["DialCallStatus"] == "no-answer"


def test_no_whisper_when_nobody_answers_or_without_url() -> None:
    result, requests = run(say("unused"), dial_statuses=["busy"])
    assert [r.url.path for r in requests] == [WEBHOOK, DIAL_ACTION]
    assert result.dials[0].whisper is None and result.dials[0].bridged_at is None

    result, requests = run(say("unused"), whisper_url=None)
    assert [r.url.path for r in requests] == [WEBHOOK, DIAL_ACTION]
    assert result.dials[0].whisper is None and result.dials[0].bridged_at is not None
