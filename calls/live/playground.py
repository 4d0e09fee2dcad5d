"""The browser Playground: a Call row (source Playground) the browser streams into like Twilio.

The browser's websocket (calls.live.playground_consumer) runs the very same CallSession and
engine as a phone call; the session is stored, recorded and finalized like one.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.definitions.versions import agent_snapshot
from agents.models import Agent, AgentVersion, Environment, EnvironmentKind, Role, Workspace
from agents.tenancy.selectors import membership_for
from calls.handover_state import pending_handover
from calls.models import Call, CallSource, CallStatus
from calls.services import call_end, call_event_add
from calls.twilio.stream_claims import token_claim

_SALT = "stellar.playground"
TOKEN_MAX_AGE = 600  # seconds between starting a session and opening its websocket
LIVE_HEARTBEAT_SECONDS = 60  # a session whose process stopped beating this long is gone


def playground_role_for(environment_kind: str) -> str:
    """The least role that may run the Playground in an environment: Production's secrets and
    variables are the admins' (an editor's template could read them out), the rest editors'."""
    return Role.ADMIN if environment_kind == EnvironmentKind.PRODUCTION else Role.EDITOR


def playground_may_run(*, user: AbstractBaseUser | AnonymousUser | None, call: Call) -> bool:
    """Whether `user` may (still) run this Playground call: checked at connect and whenever their
    membership changes."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    membership = membership_for(user=user, workspace_id=call.workspace_id)
    kind = call.environment.kind if call.environment is not None else ""
    return membership is not None and membership.has_role(playground_role_for(kind))


def playground_sessions_open(*, workspace_id: int) -> int:
    """Sessions live on a socket (heartbeat) or still waiting for theirs (token not expired)."""
    now = timezone.now()
    return (
        Call.objects.filter(
            workspace_id=workspace_id, source=CallSource.PLAYGROUND, ended_at__isnull=True
        )
        .filter(
            Q(created_at__gte=now - timedelta(seconds=TOKEN_MAX_AGE))
            | Q(
                stream_ended_at__isnull=True,
                last_heartbeat_at__gte=now - timedelta(seconds=LIVE_HEARTBEAT_SECONDS),
            )
        )
        .count()
    )


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
    if not membership.has_role(playground_role_for(environment.kind)):
        raise PermissionDenied(
            "Only admins can test in the Production environment: it holds production secrets."
        )
    # One workspace at a time (the row lock), so parallel starts cannot all pass the count.
    Workspace.objects.select_for_update().filter(pk=agent.workspace_id).first()
    limit = settings.STELLAR_MAX_PLAYGROUND_SESSIONS
    if playground_sessions_open(workspace_id=agent.workspace_id) >= limit:
        raise ValidationError(
            f"This workspace already has {limit} Playground sessions open; end one first."
        )
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
    """The websocket path segment: signed, bound to this call and this user, new each time (the
    nonce) and good for one socket (`playground_call_for` claims it)."""
    data = {"call": call.pk, "user": user.pk, "n": secrets.token_urlsafe(9)}
    return signing.dumps(data, salt=_SALT, compress=False)


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
    """The Playground call the token opens, once: if it is this user's, not over, and they are
    still an editor (or above) of its workspace."""
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
    if not playground_may_run(user=user, call=call):
        return None
    if not token_claim(token, ttl=TOKEN_MAX_AGE):  # a token opens one socket, once
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
