"""Executing a handover on a live call, the Dial outcome, and the fallback when it fails.

The engine decides *when*; this module decides *how*: the pending handover is stored on the
call (`HandoverState`) before the media stream closes, then Twilio's Connect `action` request is
answered with <Dial> (or a Studio-flow <Redirect>).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from calls.handover_state import HandoverState, HandoverStatus, pending_handover
from calls.models import Call, CallStatus
from calls.services import call_end, call_event_add
from calls.twilio.signatures import public_url_for
from calls.twilio.twiml import (
    twiml_apology,
    twiml_call_stream,
    twiml_dial,
    twiml_flow_return,
    twiml_hangup,
)
from calls.twilio.whisper import whisper_prepare
from connectors.twilio_client import twilio_client_for
from handovers.models import Fallback, HandoverKind
from stellar.kernel.metrics import HANDOVER_OUTCOMES
from stellar.kernel.phone import check_destination

logger = logging.getLogger(__name__)

FAILED_DIAL_STATUSES = {"busy", "no-answer", "failed", "canceled"}


@transaction.atomic
def handover_request(
    *, call_id: int, action: dict[str, Any], reason: str = "", requested_by: str = "agent"
) -> Call:
    """Remember the chosen handover on the call so the Connect action can answer with <Dial>."""
    call = Call.objects.select_for_update().get(pk=call_id)
    HandoverState(action=action, by=requested_by).save_to(call)
    call_event_add(
        call=call,
        kind="handover_chosen",
        message=f"Handover {action.get('name')} chosen by {requested_by}",
        action=action.get("name"),
        destination=action.get("destination", ""),
        reason=reason,
        requested_by=requested_by,
    )
    return call


def handover_twiml(*, call: Call) -> str | None:
    """TwiML for the Connect action when a handover is pending, else None."""
    handover = pending_handover(call)
    if handover is None:
        return None
    action = handover.action
    if action.get("kind") == HandoverKind.STUDIO_FLOW:
        handover.status = HandoverStatus.RETURNED_TO_FLOW
        handover.save_to(call)
        call_event_add(
            call=call,
            kind="handover_flow_return",
            message=f"Returned the caller to Studio flow {action.get('flow_sid')}",
            flow_sid=action.get("flow_sid"),
        )
        call_end(call=call, status=CallStatus.TRANSFERRED, outcome="Returned to Twilio Studio flow")
        return twiml_flow_return(account_sid=call.account_sid, flow_sid=action["flow_sid"])
    return _dial(call=call, handover=handover)


def _dial(*, call: Call, handover: HandoverState) -> str:
    action = handover.action
    numbers = handover.destinations
    number = numbers[min(handover.attempt, len(numbers) - 1)]
    try:  # checked again here: a version published before a policy change may hold anything
        number = check_destination(number)
    except ValidationError as exc:
        _fail(call, handover, "refused", f"Transfer refused: {' '.join(exc.messages)}")
        call_end(call=call, status=CallStatus.COMPLETED, outcome="Transfer refused by policy")
        return twiml_apology()
    handover.status = HandoverStatus.DIALING
    handover.destination = number
    handover.save_to(call)
    caller_id = action.get("caller_id") or call.to_number
    call_event_add(
        call=call,
        kind="handover_dial",
        message=f"Dialing {number} for {handover.name}",
        destination=number,
        caller_id=caller_id,
        timeout=action.get("ring_timeout", 20),
        attempt=handover.attempt + 1,
    )
    return twiml_dial(
        number=number,
        caller_id=caller_id,
        timeout=int(action.get("ring_timeout") or 20),
        action_url=public_url_for(reverse("dial-status", args=[call.pk])),
        whisper_url=whisper_prepare(call=call, destination=number) if action.get("whisper") else "",
    )


def _fail(call: Call, handover: HandoverState, status: str, message: str) -> None:
    handover.status = HandoverStatus.FAILED
    handover.failure = status
    handover.save_to(call)
    fallback = handover.action.get("fallback", Fallback.HANGUP)
    call_event_add(call=call, kind="handover_fallback", message=message, fallback=fallback)


@transaction.atomic
def dial_status_twiml(*, call_id: int, params: dict[str, str]) -> str:
    """Twilio reports how the <Dial> went; on failure run the action's fallback."""
    call = Call.objects.select_for_update().get(pk=call_id)
    status = params.get("DialCallStatus", "")
    handover = HandoverState.of(call) or HandoverState()
    destination = handover.destination
    HANDOVER_OUTCOMES.labels(status or "unknown").inc()
    call_event_add(
        call=call,
        kind="dial_status",
        message=f"Dial to {destination or 'destination'}: {status or 'unknown'}",
        dial_call_status=status,
        dial_call_sid=params.get("DialCallSid", ""),
        dial_call_duration=params.get("DialCallDuration", ""),
        destination=destination,
    )
    if status not in FAILED_DIAL_STATUSES:
        handover.status = HandoverStatus.TRANSFERRED
        handover.save_to(call)
        call.transferred_to = destination
        call.save(update_fields=["transferred_to"])
        call_end(call=call, status=CallStatus.TRANSFERRED, outcome=f"Transferred to {destination}")
        return twiml_hangup()

    fallback = handover.action.get("fallback", Fallback.HANGUP)
    if fallback == Fallback.NEXT_DESTINATION and handover.attempt + 1 < len(handover.destinations):
        handover.attempt += 1
        return _dial(call=call, handover=handover)
    if fallback == Fallback.RECONNECT_AGENT:
        _fail(call, handover, status, f"Transfer {status}; reconnecting the caller to the agent")
        return twiml_call_stream(call_id=call.pk, parameters={"reconnect": "transfer_failed"})
    _fail(call, handover, status, f"Transfer {status}; apologising and hanging up")
    call_end(call=call, status=CallStatus.COMPLETED, outcome=f"Transfer to {destination} {status}")
    return twiml_apology()


def transfer_via_rest(*, call: Call, action: dict[str, Any], requested_by: str) -> None:
    """Transfer a call whose stream we cannot close ourselves: Calls(CallSid).update(twiml=…)."""
    if call.connector is None:
        raise ValueError(f"call {call.pk} has no phone connector to transfer it with")
    connector = call.connector
    handover_request(call_id=call.pk, action=action, requested_by=requested_by, reason="rest")
    call.refresh_from_db()
    handover = pending_handover(call)
    if handover is None:  # handover_request just stored it, under the row lock
        raise RuntimeError(f"call {call.pk}: the handover was not stored")
    twiml = _dial(call=call, handover=handover)
    handover.via = "rest"
    handover.save_to(call)
    twilio_client_for(connector).calls(call.call_sid).update(twiml=twiml)
    call_event_add(
        call=call,
        kind="handover_rest",
        message=f"Transferred through the REST API by {requested_by}",
        requested_by=requested_by,
    )


def handover_mark_reconnected(*, call_id: int) -> None:
    """The caller is back with the agent after a failed transfer."""
    with transaction.atomic():
        call = Call.objects.select_for_update().get(pk=call_id)
        handover = HandoverState.of(call) or HandoverState()
        handover.status = HandoverStatus.RECONNECTED
        handover.save_to(call)
        call_event_add(call=call, kind="handover_reconnected", message="Caller back with the agent")
