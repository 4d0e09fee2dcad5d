"""TwiML for handovers: <Dial> a number, or <Redirect> back into a Twilio Studio flow."""

from __future__ import annotations

from twilio.twiml.voice_response import Dial, VoiceResponse

TRANSFER_FAILED = "Sorry, I could not connect you right now. Please try again later. Goodbye."
STUDIO_FLOW_RETURN = (
    "https://webhooks.twilio.com/v1/Accounts/{account}/Flows/{flow}?FlowEvent=return"
)


def twiml_dial(*, number: str, caller_id: str, timeout: int, action_url: str) -> str:
    response = VoiceResponse()
    dial = Dial(caller_id=caller_id or None, timeout=timeout, action=action_url, method="POST")
    dial.number(number)
    response.append(dial)
    return str(response)


def twiml_flow_return(*, account_sid: str, flow_sid: str) -> str:
    response = VoiceResponse()
    response.redirect(STUDIO_FLOW_RETURN.format(account=account_sid, flow=flow_sid), method="POST")
    return str(response)


def twiml_apology(message: str = TRANSFER_FAILED) -> str:
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response)
