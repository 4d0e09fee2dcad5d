"""Answering Twilio's voice webhook: create the call once, decide the TwiML."""

from __future__ import annotations

import logging
import re

from django.db import transaction

from calls.models import Call, CallStatus
from calls.services import call_end, call_event_add, call_get_or_create
from calls.twilio.overflow import admit_or_overflow
from calls.twilio.twiml import twiml_call_stream, twiml_forward, twiml_unavailable
from connectors.models import PhoneConnector
from connectors.selectors import Route, connector_route, rollout_settings
from stellar.kernel.metrics import ROLLOUT_ROUTES

logger = logging.getLogger(__name__)

# Parameters Twilio itself sends on a voice webhook; anything else came from an IVR/Studio flow.
TWILIO_VOICE_PARAMS = frozenset(
    [
        "CallSid",
        "AccountSid",
        "From",
        "To",
        "CallStatus",
        "ApiVersion",
        "Direction",
        "ForwardedFrom",
        "CallerName",
        "ParentCallSid",
        "CallToken",
        "FromCity",
        "FromState",
        "FromZip",
        "FromCountry",
        "ToCity",
        "ToState",
        "ToZip",
        "ToCountry",
        "Caller",
        "CallerCity",
        "CallerState",
        "CallerZip",
        "CallerCountry",
        "Called",
        "CalledCity",
        "CalledState",
        "CalledZip",
        "CalledCountry",
        "StirVerstat",
        "StirPassportToken",
        "AddOns",
    ]
)
MAX_IVR_PARAMS = 20
CALL_SID = re.compile(r"CA[0-9a-f]{32}")  # Twilio's format; it reaches file names and headers


def call_sid_is_valid(value: str) -> bool:
    return CALL_SID.fullmatch(value) is not None


def ivr_params_from(params: dict[str, str]) -> dict[str, str]:
    extras = {k: v for k, v in params.items() if k not in TWILIO_VOICE_PARAMS}
    return {k[:64]: str(v)[:256] for k, v in list(extras.items())[:MAX_IVR_PARAMS]}


@transaction.atomic
def inbound_call_answer(*, connector: PhoneConnector, params: dict[str, str]) -> tuple[str, Call]:
    """One transaction: the call row and its events commit together, with one commit (one WAL
    flush) instead of one per statement, which is most of a webhook's time in PostgreSQL."""
    call_sid = params["CallSid"]
    route = connector_route(
        connector=connector, from_number=params.get("From", ""), call_sid=call_sid
    )
    resolution = route.resolution
    call, created = call_get_or_create(
        call_sid=call_sid,
        connector_id=connector.pk,
        defaults={
            "workspace_id": connector.workspace_id,
            "agent_id": connector.agent_id,
            "environment_id": connector.environment_id,
            "account_sid": params.get("AccountSid", ""),
            "from_number": params.get("From", "")[:40],
            "to_number": params.get("To", "")[:40],
            "direction": params.get("Direction", "inbound")[:20],
            "ivr_params": ivr_params_from(params),
            **_route_fields(route),
        },
    )
    if created:
        call_event_add(
            call=call,
            kind="webhook",
            message=f"Incoming call from {call.from_number} to {call.to_number}",
            version=call.version_label,
            reason=resolution.reason,
            ivr_params=call.ivr_params,
        )
        if rollout_settings(connector).active:
            _note_rollout(call, route)
    else:
        call_event_add(call=call, kind="webhook_retry", message="Twilio repeated the webhook")

    if _sent_to_existing_line(call):
        # Decided once, at the first webhook: a retry follows the call, not today's settings.
        return twiml_forward(number=call.transferred_to), call
    if not resolution.ok:
        if created:
            call_event_add(call=call, kind="rejected", message=resolution.reason)
            call_end(call=call, status=CallStatus.REJECTED, outcome=resolution.reason)
        logger.info("call %s rejected: %s", call_sid, resolution.reason)
        return twiml_unavailable(), call

    overflow = admit_or_overflow(connector=connector, call=call)  # caps, overload: capacity.md
    if overflow is not None:
        return overflow, call
    return twiml_call_stream(call_id=call.pk, parameters=call.ivr_params), call


def _sent_to_existing_line(call: Call) -> bool:
    """Transferred before the agent ever answered: only the rollout does that."""
    return (
        call.status == CallStatus.TRANSFERRED
        and call.answered_at is None
        and bool(call.transferred_to)
    )


def _note_rollout(call: Call, route: Route) -> None:
    """Where the rollout sent this call: counted, and on the call's timeline."""
    where = "existing_line" if route.to_existing_line else "agent"
    arm = route.arm.value if route.arm else None
    ROLLOUT_ROUTES.labels(route=where, arm=arm or "none").inc()
    call_event_add(
        call=call,
        kind="rollout",
        message=route.message,
        route=where,
        rollout_percent=route.rollout_percent,
        arm=arm,
        version=call.version_label,
    )


def _route_fields(route: Route) -> dict[str, object]:
    """The call row's fields for the route: who answers, or the existing line it was sent to."""
    if route.to_existing_line:
        return {
            "agent_version": None,
            "version_label": "",
            "agent_snapshot": {},
            "status": CallStatus.TRANSFERRED,
            "transferred_to": route.existing_line,
            "outcome": route.message,
        }
    return {
        "agent_version": route.resolution.version,
        "version_label": route.resolution.label,
        "agent_snapshot": route.resolution.snapshot or {},
    }
