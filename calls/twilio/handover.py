"""Executing a handover on a live call, the Dial outcome, and the fallback when it fails.

The engine decides *when*; this module decides *how*: the pending handover is stored on the
call (``conversation["handover"]``) before the media stream closes, then Twilio's Connect
`action` request is answered with <Dial> (or a Studio-flow <Redirect>).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from calls.models import Call, CallStatus
from calls.services import call_end, call_event_add
from calls.twilio.signatures import public_url_for
from calls.twilio.tokens import media_token_for
from calls.twilio.twiml import (
    twiml_apology,
    twiml_connect_stream,
    twiml_dial,
    twiml_flow_return,
    twiml_hangup,
)
from handovers.models import Fallback, HandoverKind
from stellar.kernel.metrics import HANDOVER_OUTCOMES

logger = logging.getLogger(__name__)

FAILED_DIAL_STATUSES = {"busy", "no-answer", "failed", "canceled"}


def destinations_of(action: dict[str, Any]) -> list[str]:
    return [d for d in [action.get("destination"), *action.get("extra_destinations", [])] if d]


@transaction.atomic
def handover_request(
    *, call_id: int, action: dict[str, Any], reason: str = "", requested_by: str = "agent"
) -> Call:
    """Remember the chosen handover on the call so the Connect action can answer with <Dial>."""
    call = Call.objects.select_for_update().get(pk=call_id)
    state = dict(call.conversation or {})
    state["handover"] = {"action": action, "attempt": 0, "status": "pending", "by": requested_by}
    call.conversation = state
    call.save(update_fields=["conversation"])
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


def pending_handover(call: Call) -> dict[str, Any] | None:
    handover = (call.conversation or {}).get("handover")
    if handover and handover.get("status") == "pending":
        return handover
    return None


def _save_handover(call: Call, handover: dict[str, Any]) -> None:
    state = dict(call.conversation or {})
    state["handover"] = handover
    call.conversation = state
    call.save(update_fields=["conversation"])


def handover_twiml(*, call: Call) -> str | None:
    """TwiML for the Connect action when a handover is pending, else None."""
    handover = pending_handover(call)
    if handover is None:
        return None
    action = handover["action"]
    if action.get("kind") == HandoverKind.STUDIO_FLOW:
        handover["status"] = "returned_to_flow"
        _save_handover(call, handover)
        call_event_add(
            call=call,
            kind="handover_flow_return",
            message=f"Returned the caller to Studio flow {action.get('flow_sid')}",
            flow_sid=action.get("flow_sid"),
        )
        call_end(call=call, status=CallStatus.TRANSFERRED, outcome="Returned to Twilio Studio flow")
        return twiml_flow_return(account_sid=call.account_sid, flow_sid=action["flow_sid"])
    return _dial(call=call, handover=handover)


def _dial(*, call: Call, handover: dict[str, Any]) -> str:
    action = handover["action"]
    numbers = destinations_of(action)
    number = numbers[min(handover["attempt"], len(numbers) - 1)]
    handover["status"] = "dialing"
    handover["destination"] = number
    _save_handover(call, handover)
    caller_id = action.get("caller_id") or call.to_number
    call_event_add(
        call=call,
        kind="handover_dial",
        message=f"Dialing {number} for {action.get('name')}",
        destination=number,
        caller_id=caller_id,
        timeout=action.get("ring_timeout", 20),
        attempt=handover["attempt"] + 1,
    )
    return twiml_dial(
        number=number,
        caller_id=caller_id,
        timeout=int(action.get("ring_timeout") or 20),
        action_url=public_url_for(f"/v1/calls/{call.pk}/dial-status"),
    )


@transaction.atomic
def dial_status_twiml(*, call_id: int, params: dict[str, str]) -> str:
    """Twilio reports how the <Dial> went; on failure run the action's fallback."""
    call = Call.objects.select_for_update().get(pk=call_id)
    status = params.get("DialCallStatus", "")
    handover = (call.conversation or {}).get("handover") or {}
    action = handover.get("action") or {}
    destination = handover.get("destination", "")
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
        handover["status"] = "transferred"
        _save_handover(call, handover)
        call.transferred_to = destination
        call.save(update_fields=["transferred_to"])
        call_end(call=call, status=CallStatus.TRANSFERRED, outcome=f"Transferred to {destination}")
        return twiml_hangup()

    fallback = action.get("fallback", Fallback.HANGUP)
    numbers = destinations_of(action)
    if fallback == Fallback.NEXT_DESTINATION and handover.get("attempt", 0) + 1 < len(numbers):
        handover["attempt"] = handover.get("attempt", 0) + 1
        return _dial(call=call, handover=handover)
    if fallback == Fallback.RECONNECT_AGENT:
        handover["status"] = "failed"
        handover["failure"] = status
        _save_handover(call, handover)
        call_event_add(
            call=call,
            kind="handover_fallback",
            message=f"Transfer {status}; reconnecting the caller to the agent",
            fallback=fallback,
        )
        return twiml_connect_stream(
            action_url=public_url_for(f"/v1/calls/{call.pk}/connect-ended"),
            stream_url=public_url_for(f"/v1/media/{media_token_for(call.pk)}", websocket=True),
            parameters={"call_id": str(call.pk), "reconnect": "transfer_failed"},
        )
    handover["status"] = "failed"
    handover["failure"] = status
    _save_handover(call, handover)
    call_event_add(
        call=call,
        kind="handover_fallback",
        message=f"Transfer {status}; apologising and hanging up",
        fallback=fallback,
    )
    call_end(call=call, status=CallStatus.COMPLETED, outcome=f"Transfer to {destination} {status}")
    return twiml_apology()


def transfer_via_rest(*, call: Call, action: dict[str, Any], requested_by: str) -> None:
    """Transfer a call whose stream we cannot close ourselves: Calls(CallSid).update(twiml=…)."""
    from connectors.twilio_client import twilio_client_for

    handover_request(call_id=call.pk, action=action, requested_by=requested_by, reason="rest")
    call.refresh_from_db()
    handover = pending_handover(call)
    assert handover is not None
    twiml = _dial(call=call, handover=handover)
    handover["via"] = "rest"
    _save_handover(call, handover)
    twilio_client_for(call.connector).calls(call.call_sid).update(twiml=twiml)
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
        handover = dict((call.conversation or {}).get("handover") or {})
        handover["status"] = "reconnected"
        _save_handover(call, handover)
        call_event_add(call=call, kind="handover_reconnected", message="Caller back with the agent")
