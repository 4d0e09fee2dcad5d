"""What Twilio does after our media stream ends (the <Connect action> request)."""

from __future__ import annotations

from connectors.twiml import twiml_hangup

from .models import Call, CallStatus
from .services import call_end, call_event_add


def connect_action_twiml(*, call: Call, params: dict[str, str]) -> str:
    """Hang up by default; a pending handover (see handovers) answers with <Dial> instead."""
    call_event_add(call=call, kind="connect_ended", message="Media stream ended; hanging up")
    outcome = call.outcome or "Completed by the agent"
    call_end(call=call, status=CallStatus.COMPLETED, outcome=outcome)
    return twiml_hangup()
