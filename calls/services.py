"""Writes of the calls app: call rows from webhooks, the timeline, transcript, lifecycle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from calls.handover_state import HandoverState
from calls.models import Call, CallEvent, CallStatus, TranscriptSegment
from calls.signals import call_finished
from connectors.capacity import CallLease, lease_release

TERMINAL_TWILIO_STATUSES = {
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}


def call_event_add(*, call: Call, kind: str, message: str = "", **data: Any) -> CallEvent:
    return CallEvent.objects.create(call=call, kind=kind, message=message[:500], data=data)


class CallSidTaken(Exception):
    """The CallSid is already a call of another connector (or the Playground)."""


def call_get_or_create(
    *, call_sid: str, connector_id: int, defaults: dict[str, Any]
) -> tuple[Call, bool]:
    """One row per CallSid even when Twilio retries the webhook concurrently, and only ever
    through the connector that created it: a signed request to one's own connector with
    another workspace's CallSid must not reach that call (raises CallSidTaken)."""
    try:
        with transaction.atomic():
            call, created = Call.objects.get_or_create(
                call_sid=call_sid, defaults={**defaults, "connector_id": connector_id}
            )
    except IntegrityError:
        call, created = Call.objects.get(call_sid=call_sid), False
    if call.connector_id != connector_id:
        raise CallSidTaken(call_sid)
    return call, created


def call_mark_stream_started(
    *, call: Call, stream_sid: str, custom_parameters: dict[str, str]
) -> Call:
    now = timezone.now()
    Call.objects.filter(pk=call.pk).update(
        stream_ended_at=None,
        stream_sid=stream_sid,
        status=CallStatus.IN_PROGRESS,
        answered_at=call.answered_at or now,
        last_heartbeat_at=now,
    )
    call.refresh_from_db()
    call_event_add(
        call=call,
        kind="stream_started",
        message=f"Media stream {stream_sid} started",
        stream_sid=stream_sid,
        custom_parameters=custom_parameters,
    )
    return call


def call_heartbeat(*, call_id: int) -> None:
    Call.objects.filter(pk=call_id).update(last_heartbeat_at=timezone.now())


def transcript_add(
    *,
    call: Call,
    speaker: str,
    start_ms: int,
    end_ms: int,
    text: str,
    interrupted: bool = False,
) -> TranscriptSegment:
    return TranscriptSegment.objects.create(
        call=call,
        speaker=speaker,
        start_ms=max(0, int(start_ms)),
        end_ms=max(0, int(end_ms)),
        text=text,
        interrupted=interrupted,
    )


@transaction.atomic
def call_save_conversation(*, call_id: int, state: Mapping[str, Any]) -> None:
    """Merge the engine's state (history, variables, actions run) into the call's record."""
    call = Call.objects.select_for_update().only("conversation").get(pk=call_id)
    call.conversation = {**(call.conversation or {}), **state}
    call.save(update_fields=["conversation"])


def _merged_counts(stored: dict[str, int] | None, new: dict[str, int]) -> dict[str, int]:
    merged = dict(stored or {})
    for key, count in new.items():
        merged[key] = merged.get(key, 0) + count
    return merged


@transaction.atomic
def call_count_input_errors(*, call_id: int, errors: dict[str, int]) -> None:
    """Bad frames from a stream that never started are still counted on the call."""
    call = Call.objects.select_for_update().only("input_errors").get(pk=call_id)
    call.input_errors = _merged_counts(call.input_errors, errors)
    call.save(update_fields=["input_errors"])


def call_stream_ended(
    *, call: Call, reason: str, input_errors: dict[str, int], caller_hung_up: bool = False
) -> Call:
    """The media stream is over. After Twilio's own `stop` the caller hung up, unless a REST
    transfer is dialing; when we closed it, Twilio asks the Connect action what is next."""
    merged = _merged_counts(call.input_errors, input_errors)
    now = timezone.now()
    Call.objects.filter(pk=call.pk).update(
        input_errors=merged, last_heartbeat_at=now, stream_ended_at=now
    )
    call.refresh_from_db()
    call_event_add(call=call, kind="stream_stopped", message=reason, input_errors=input_errors)
    call_capacity_release(call)
    handover = HandoverState.of(call)
    rest_transfer = handover is not None and handover.via == "rest"
    if caller_hung_up and call.ended_at is None and not rest_transfer:
        return call_end(call=call, status=CallStatus.COMPLETED, outcome="Caller hung up")
    _finalize_when_ready(call)
    return call


def call_end(*, call: Call, status: str, outcome: str = "", duration: int | None = None) -> Call:
    """Close the call once (Twilio's status callback or our own hang-up); later calls only fill gaps."""
    now = timezone.now()
    if call.ended_at is None:
        call.ended_at = now
        call.status = status
        call.outcome = outcome or call.outcome
    elif call.status in (CallStatus.RINGING, CallStatus.IN_PROGRESS):
        call.status = status
    if duration is not None:
        call.duration_seconds = duration
    elif call.duration_seconds is None:
        start = call.answered_at or call.created_at
        call.duration_seconds = max(0, int((call.ended_at - start).total_seconds()))
    call.save(update_fields=["ended_at", "status", "outcome", "duration_seconds"])
    call_capacity_release(call)
    _finalize_when_ready(call)
    return call


def call_capacity_release(call: Call) -> None:
    """The agent is done with the call (its stream or the call ended): its capacity lease goes
    back, so the next caller past the cap is answered at once (docs/capacity.md)."""
    if call.connector_id is not None:
        lease_release(CallLease(call.call_sid, call.connector_id, call.workspace_id))


def _finalize_when_ready(call: Call) -> None:
    """Announce the finished call once it has ended and its stream (if any) is closed."""
    if call.ended_at is None or (call.answered_at is not None and call.stream_ended_at is None):
        return
    call_id = call.pk
    transaction.on_commit(lambda: call_finished.send(sender=Call, call_id=call_id))


def call_apply_status_callback(*, call: Call, params: dict[str, str]) -> Call:
    twilio_status = params.get("CallStatus", "")
    duration = params.get("CallDuration")
    call_event_add(
        call=call,
        kind="status_callback",
        message=f"Twilio reports the call {twilio_status}",
        call_status=twilio_status,
        duration=duration,
    )
    status = TERMINAL_TWILIO_STATUSES.get(twilio_status)
    if status is None:
        return call
    if call.status == CallStatus.TRANSFERRED and status == CallStatus.COMPLETED:
        status = CallStatus.TRANSFERRED
    if call.status == CallStatus.REJECTED:
        status = CallStatus.REJECTED
    return call_end(
        call=call,
        status=status,
        outcome=call.outcome or f"Call {twilio_status}",
        duration=int(duration) if duration and duration.isdigit() else None,
    )
