"""Every TwiML document we answer Twilio with, one builder per kind, built with the twilio package
(never by hand): hang up, polite refusal, <Connect><Stream>, <Dial> (handover, forward),
Studio-flow <Redirect>."""

from __future__ import annotations

from django.urls import reverse
from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from calls.twilio.signatures import public_url_for
from calls.twilio.tokens import media_stream_path

POLITE_UNAVAILABLE = (
    "Sorry, this line cannot take your call right now. Please try again later. Goodbye."
)
MAX_PARAMETER_CHARS = 499


def twiml_unavailable(message: str = POLITE_UNAVAILABLE) -> str:
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response)


def twiml_hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def twiml_connect_stream(*, action_url: str, stream_url: str, parameters: dict[str, str]) -> str:
    """<Connect action><Stream url> with custom parameters (each name+value < 500 chars)."""
    response = VoiceResponse()
    connect = Connect(action=action_url, method="POST")
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        value = str(value)[: max(0, MAX_PARAMETER_CHARS - len(name))]
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def twiml_call_stream(*, call_id: int, parameters: dict[str, str]) -> str:
    """The call's own <Connect action=connect-ended><Stream url=wss://…/v1/media/<token>>."""
    return twiml_connect_stream(
        action_url=public_url_for(reverse("connect-ended", args=[call_id])),
        stream_url=public_url_for(media_stream_path(call_id), websocket=True),
        parameters={"call_id": str(call_id), **parameters},
    )


TRANSFER_FAILED = "Sorry, I could not connect you right now. Please try again later. Goodbye."
STUDIO_FLOW_RETURN = (
    "https://webhooks.twilio.com/v1/Accounts/{account}/Flows/{flow}?FlowEvent=return"
)


def twiml_dial(
    *, number: str, caller_id: str, timeout: int, action_url: str, whisper_url: str = ""
) -> str:
    """<Dial><Number>; with `whisper_url`, <Number url> makes Twilio fetch that TwiML when the
    person answers and play it to them alone before bridging the caller (a warm handover)."""
    response = VoiceResponse()
    dial = Dial(caller_id=caller_id or None, timeout=timeout, action=action_url, method="POST")
    if whisper_url:
        dial.number(number, url=whisper_url, method="POST")
    else:
        dial.number(number)
    response.append(dial)
    return str(response)


def twiml_whisper(*, text: str, language: str = "") -> str:
    """What the person who answers a warm handover hears: one <Say>, then nothing, so Twilio
    bridges the caller as soon as it has been said."""
    response = VoiceResponse()
    response.say(text, language=language or None)
    return str(response)


def twiml_forward(*, number: str, caller_id: str = "") -> str:
    """Straight to another number, the agent never involved: a rollout's other callers to the
    team's current line (no callerId, so the person who answers sees the caller's own number,
    as before the agent existed), or the overflow number. No action, so when that call ends
    Twilio hangs up and the status callback closes ours."""
    response = VoiceResponse()
    dial = Dial(caller_id=caller_id or None)
    dial.number(number)
    response.append(dial)
    return str(response)


def twiml_flow_return(*, account_sid: str, flow_sid: str) -> str:
    response = VoiceResponse()
    response.redirect(STUDIO_FLOW_RETURN.format(account=account_sid, flow=flow_sid), method="POST")
    return str(response)


def twiml_apology(message: str = TRANSFER_FAILED) -> str:
    return twiml_unavailable(message)
