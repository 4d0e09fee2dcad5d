"""What Twilio does after our media stream ends (the <Connect action> request)."""

from __future__ import annotations

from calls.models import Call, CallStatus
from calls.services import call_end, call_event_add
from calls.twilio.handover import handover_twiml
from calls.twilio.twiml import twiml_hangup


def connect_action_twiml(*, call: Call, params: dict[str, str]) -> str:
    """<Dial> when the agent chose a handover, otherwise hang up and close the call."""
    twiml = handover_twiml(call=call)
    if twiml is not None:
        return twiml
    call_event_add(call=call, kind="connect_ended", message="Media stream ended; hanging up")
    call_end(call=call, status=CallStatus.COMPLETED, outcome=call.outcome or "Completed")
    return twiml_hangup()
