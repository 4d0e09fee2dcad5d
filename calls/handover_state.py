"""The handover of one call, as a typed object: chosen by the agent or a supervisor, dialled, and
how it ended. Stored as JSON in ``Call.conversation["handover"]`` (the row survives restarts and
is shared by every process); this module is the only place that reads or writes that key."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from calls.models import Call

KEY = "handover"
SUPERVISOR_ACTION_NAME = "supervisor_take_over"


class HandoverStatus(StrEnum):
    PENDING = "pending"  # chosen; the Connect action (or the REST transfer) will dial
    DIALING = "dialing"
    TRANSFERRED = "transferred"
    FAILED = "failed"  # the Dial failed and the fallback ran
    RECONNECTED = "reconnected"  # the caller is back with the agent after a failed transfer
    RETURNED_TO_FLOW = "returned_to_flow"


@dataclass
class HandoverState:
    action: dict[str, Any] = field(default_factory=dict)  # the handover action's snapshot
    status: HandoverStatus = HandoverStatus.PENDING
    attempt: int = 0  # index into destinations (fallback "next destination")
    by: str = "agent"  # "agent" or "supervisor:<username>"
    destination: str = ""  # the number being (or last) dialled
    failure: str = ""  # Twilio's DialCallStatus when it failed
    via: str = ""  # "rest" when transferred with Calls(CallSid).update instead of the stream

    @classmethod
    def of(cls, call: Call) -> HandoverState | None:
        """The call's handover, or None when none was chosen."""
        raw = (call.conversation or {}).get(KEY)
        if not isinstance(raw, dict) or not raw:
            return None
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        state = cls(**known)
        state.status = HandoverStatus(state.status)
        return state

    @property
    def destinations(self) -> list[str]:
        extra = self.action.get("extra_destinations") or []
        return [d for d in [self.action.get("destination"), *extra] if d]

    @property
    def name(self) -> str:
        return str(self.action.get("name") or "")

    def save_to(self, call: Call) -> None:
        """Write into the call's conversation state (inside the caller's transaction)."""
        state = dict(call.conversation or {})
        state[KEY] = {k: v for k, v in asdict(self).items() if v != "" or k == "by"}
        state[KEY]["status"] = str(self.status)
        call.conversation = state
        call.save(update_fields=["conversation"])


def pending_handover(call: Call) -> HandoverState | None:
    state = HandoverState.of(call)
    return state if state is not None and state.status == HandoverStatus.PENDING else None


def supervisor_action(destination: str) -> dict[str, Any]:
    """The handover a supervisor's take-over runs when they give their own number."""
    return {
        "name": SUPERVISOR_ACTION_NAME,
        "kind": "phone",
        "destination": destination,
        "caller_id": "",
        "ring_timeout": 30,
        "fallback": "hangup",
    }
