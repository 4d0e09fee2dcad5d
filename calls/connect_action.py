"""What Twilio does after our media stream ends (the <Connect action> request)."""

from __future__ import annotations

from connectors.twiml import twiml_hangup
from handovers.executor import handover_twiml

from .models import Call, CallStatus
from .services import call_end, call_event_add


def connect_action_twiml(*, call: Call, params: dict[str, str]) -> str:
    """<Dial> when the agent chose a handover, otherwise hang up and close the call."""
    twiml = handover_twiml(call=call)
    if twiml is not None:
        return twiml
    call_event_add(call=call, kind="connect_ended", message="Media stream ended; hanging up")
    call_end(call=call, status=CallStatus.COMPLETED, outcome=call.outcome or "Completed")
    return twiml_hangup()
