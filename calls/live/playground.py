"""The browser Playground: a Call row (source Playground) the browser streams into like Twilio.

The browser's websocket (calls.live.playground_consumer) runs the very same CallSession and
engine as a phone call; the session is stored, recorded and finalized like one.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from agents.definitions.versions import agent_snapshot
from agents.models import Agent, AgentVersion, Environment, Role
from agents.tenancy.selectors import membership_for
from calls.handover_state import pending_handover
from calls.models import Call, CallSource, CallStatus
from calls.services import call_end, call_event_add

_SALT = "stellar.playground"
TOKEN_MAX_AGE = 600  # seconds between starting a session and opening its websocket


@transaction.atomic
def playground_session_create(
    *,
    user: AbstractBaseUser,
    agent: Agent,
    environment: Environment,
    version: AgentVersion | None = None,
) -> Call:
    """A new Playground call for `agent` as of `version` (None: the current draft)."""
    membership = membership_for(user=user, workspace_id=agent.workspace_id)
    if membership is None or not membership.has_role(Role.EDITOR):
        raise PermissionDenied("Only editors and above can test agents in the Playground.")
    if environment.workspace_id != agent.workspace_id:
        raise ValidationError("Choose an environment of this workspace.")
    if version is not None and version.agent_id != agent.pk:
        raise ValidationError("Choose a version of this agent.")
    snapshot: dict[str, Any] = (
        version.snapshot if version is not None else agent_snapshot(agent=agent)
    )
    call = Call.objects.create(
        workspace_id=agent.workspace_id,
        agent=agent,
        agent_version=version,
        version_label=version.label if version is not None else "draft",
        environment=environment,
        agent_snapshot=snapshot,
        source=CallSource.PLAYGROUND,
        call_sid="PG" + uuid.uuid4().hex,
        from_number="playground",
        to_number=agent.name[:40],
        direction="playground",
    )
    call_event_add(
        call=call,
        kind="playground_started",
        message=f"{user.get_username()} started a Playground session",
        by=user.get_username(),
        version=call.version_label,
        environment=environment.kind,
    )
    return call


def playground_token_for(*, call: Call, user: AbstractBaseUser) -> str:
    """The websocket path segment: signed, bound to this call and this user."""
    return signing.dumps({"call": call.pk, "user": user.pk}, salt=_SALT, compress=False)


def playground_token_load(token: str) -> tuple[int, int] | None:
    """(call id, user id), or None when forged, malformed or expired."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    call_id, user_id = data.get("call"), data.get("user")
    if not isinstance(call_id, int) or not isinstance(user_id, int):
        return None
    return call_id, user_id


def playground_call_for(
    *, token: str, user: AbstractBaseUser | AnonymousUser | None
) -> Call | None:
    """The Playground call the token opens, if it is this user's, not over, and they are still
    a member of its workspace."""
    ids = playground_token_load(token)
    if ids is None or user is None or not getattr(user, "is_authenticated", False):
        return None
    call_id, user_id = ids
    if user.pk != user_id:
        return None
    call = (
        Call.objects.select_related("workspace", "environment", "agent")
        .filter(pk=call_id, source=CallSource.PLAYGROUND, ended_at__isnull=True)
        .first()
    )
    if call is None or call.stream_ended_at is not None:
        return None
    if membership_for(user=user, workspace_id=call.workspace_id) is None:
        return None
    return call


def playground_ending(*, call_id: int) -> dict[str, str]:
    """How the agent ended the session: a handover (not dialled here) or a hang-up."""
    call = Call.objects.get(pk=call_id)
    handover = pending_handover(call)
    if handover is not None:
        action = handover.action
        target = action.get("destination") or action.get("flow_sid") or "the Studio flow"
        return {
            "kind": "handover",
            "detail": f"Handover {handover.name} to {target} (not dialled from the Playground)",
        }
    return {"kind": "end_call", "detail": "The agent ended the call"}


def playground_session_end(*, call_id: int, reason: str) -> Call:
    """Close the session like a finished call, so the recording and transcript get stored."""
    call = Call.objects.get(pk=call_id)
    if call.ended_at is not None:
        return call
    ending = playground_ending(call_id=call_id)
    agent_ended = call.events.filter(kind="end_call").exists()
    outcome = ending["detail"] if ending["kind"] == "handover" or agent_ended else reason
    call_event_add(call=call, kind="playground_ended", message=outcome[:500])
    return call_end(call=call, status=CallStatus.COMPLETED, outcome=outcome[:200])
