"""Admission at the voice webhook: a call that would reach the agent takes a capacity lease, or
gets the connector's overflow rule (forward to a number, or a polite message and hang-up), and
its timeline says why. Leases are given back when the call's stream or the call itself ends."""

from __future__ import annotations

import logging

from calls.models import Call, CallStatus
from calls.services import call_end, call_event_add
from calls.twilio.twiml import twiml_forward, twiml_unavailable
from connectors.capacity import (
    Admission,
    call_admit,
    call_overflowed,
    overflow_forwards,
    overflow_message,
)
from connectors.models import PhoneConnector
from stellar.kernel import metrics

logger = logging.getLogger(__name__)

OVERFLOW_OUTCOME = "Overflow"


def twiml_overflow(connector: PhoneConnector, *, caller_id: str) -> str:
    """The overflow rule as TwiML: <Dial> the overflow number, or <Say> + <Hangup>."""
    if overflow_forwards(connector):
        return twiml_forward(number=connector.overflow_number, caller_id=caller_id)
    return twiml_unavailable(overflow_message(connector))


def admit_or_overflow(*, connector: PhoneConnector, call: Call) -> str | None:
    """None when the call may reach the agent (it now holds a lease); else the overflow TwiML,
    with the call ended as rejected and an "overflow" event giving the reason."""
    if call.status == CallStatus.REJECTED and call.outcome.startswith(OVERFLOW_OUTCOME):
        return twiml_overflow(connector, caller_id=call.to_number)  # Twilio repeated the webhook
    admission: Admission = call_admit(connector=connector, call_sid=call.call_sid)
    if admission.ok:
        return None
    forwards = overflow_forwards(connector)
    action = f"forwarded to {connector.overflow_number}" if forwards else "told the lines are busy"
    call_event_add(
        call=call,
        kind="overflow",
        message=f"{admission.detail}: the caller was {action}",
        reason=admission.reason,
        action="forward" if forwards else "message",
    )
    call_end(
        call=call, status=CallStatus.REJECTED, outcome=f"{OVERFLOW_OUTCOME} ({admission.reason})"
    )
    metrics.CALLS_OVERFLOWED.labels(admission.reason).inc()
    call_overflowed(connector=connector)
    logger.info("call %s overflowed: %s", call.call_sid, admission.reason)
    return twiml_overflow(connector, caller_id=call.to_number)
