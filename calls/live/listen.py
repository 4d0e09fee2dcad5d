"""Reads and writes behind Listen & intervene (the websocket in calls.live.monitor_consumer).

Who may listen: any member of the call's workspace. Who may take over: editors and above.
Take over normally runs inside the call's own process (calls.runtime.monitor protocol); when that
process does not answer, `take_over_via_rest` transfers the call through Twilio's REST API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from agents.models import Role
from agents.tenancy.selectors import membership_for
from calls.handover_state import supervisor_action
from calls.models import LIVE_STATUSES, Call
from calls.services import call_event_add
from calls.twilio.handover import transfer_via_rest
from stellar.kernel.phone import check_destination


@dataclass(frozen=True)
class ListenAccess:
    """A member's right to listen to one call, and whether they may take it over."""

    call: Call
    username: str
    can_take_over: bool
    handover_actions: list[dict[str, Any]] = field(default_factory=list)


def listen_access(
    *, user: AbstractBaseUser | AnonymousUser | None, call_id: int
) -> ListenAccess | None:
    """None unless `user` is signed in and a member of the call's workspace."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    call = Call.objects.select_related("connector", "agent").filter(pk=call_id).first()
    if call is None:
        return None
    membership = membership_for(user=user, workspace_id=call.workspace_id)
    if membership is None:
        return None
    return ListenAccess(
        call=call,
        username=user.get_username(),
        can_take_over=membership.has_role(Role.EDITOR),
        handover_actions=call_handover_actions(call),
    )


def call_handover_actions(call: Call) -> list[dict[str, Any]]:
    """The handover actions of the agent version that answers this call."""
    actions = (call.agent_snapshot or {}).get("handover_actions") or []
    return [a for a in actions if isinstance(a, dict) and a.get("name")]


def listen_snapshot(*, call_id: int) -> dict[str, Any]:
    """What a listener sees on arrival: the call and its transcript so far."""
    call = Call.objects.select_related("agent").get(pk=call_id)
    segments = [
        {
            "speaker": s.speaker,
            "text": s.text,
            "start_ms": s.start_ms,
            "end_ms": s.end_ms,
            "interrupted": s.interrupted,
        }
        for s in call.segments.order_by("start_ms", "id")
    ]
    return {
        "type": "snapshot",
        "call": {
            "id": call.pk,
            "status": call.status,
            "live": call.status in LIVE_STATUSES,
            "from": call.from_number,
            "to": call.to_number,
            "agent": call.agent.name if call.agent else "",
            "version": call.version_label,
            "source": call.source,
        },
        "segments": segments,
    }


def take_over_action(
    *, call: Call, handover: str | None, destination: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """Resolve the supervisor's choice into (handover action, E.164 destination).

    Exactly one of them is set; raises ValidationError when the choice is not usable.
    """
    if handover:
        for action in call_handover_actions(call):
            if action["name"] == handover:
                return action, None
        raise ValidationError(f"The agent has no handover action {handover!r}.")
    if destination:
        return None, check_destination(destination)  # an allowed country, never premium-rate
    raise ValidationError("Choose a handover action or enter your phone number.")


def take_over_via_rest(
    *, call_id: int, by: str, action: dict[str, Any] | None, destination: str | None
) -> tuple[bool, str]:
    """The call's process did not answer: redirect the live call with Calls(CallSid).update."""
    call = Call.objects.select_related("connector").get(pk=call_id)
    if call.status not in LIVE_STATUSES or call.ended_at is not None:
        return False, "The call has already ended."
    if call.connector is None:
        return False, "This call has no phone connector to transfer it through."
    chosen = action if action is not None else supervisor_action(destination or "")
    if chosen.get("kind", "phone") != "phone" or not chosen.get("destination"):
        return False, f"{chosen.get('name')} cannot be dialled through the REST API."
    call_event_add(
        call=call,
        kind="take_over",
        message=f"{by} took over the call",
        by=by,
        action=chosen.get("name"),
        destination=chosen.get("destination", ""),
        via="rest",
    )
    try:
        transfer_via_rest(call=call, action=chosen, requested_by=by)
    except Exception as exc:  # Twilio refused or is unreachable: tell the supervisor why
        call_event_add(call=call, kind="take_over_failed", message=str(exc)[:500], by=by)
        return False, f"Twilio did not accept the transfer: {str(exc)[:200]}"
    return True, f"Transferring the caller to {chosen['destination']} through Twilio."
