"""TwiML documents we answer Twilio with, built with the twilio package (never by hand)."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, VoiceResponse

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
