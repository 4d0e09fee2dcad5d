"""After the call: store the recording and transcript summary, exactly once (idempotent)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import Workspace
from calls.models import LIVE_STATUSES, Call, CallStatus, Recording, Speaker
from calls.recordings.stereo import BuiltRecording, build_recording
from calls.recordings.store import discard_call_audio
from calls.services import call_end, call_event_add

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=60)


def summary_for(call: Call) -> str:
    """Extractive summary: what the caller asked first, and how the call ended."""
    first = call.segments.filter(speaker=Speaker.CALLER).order_by("start_ms").first()
    parts: list[str] = []
    if first is not None:
        parts.append(f"Caller: “{first.text[:200]}”.")
    parts.append(f"Outcome: {call.outcome or call.get_status_display()}.")
    return " ".join(parts)


def call_finalize(*, call_id: int, rebuild: bool = False) -> Call:
    """Build the stereo WAV from the spool, store it, summarise; safe to run any number of times.

    `rebuild`: a spool part reached the object store after the call was finalized (its host
    was down meanwhile): build the recording again from every part, keep the rest."""
    with transaction.atomic():
        call = Call.objects.select_for_update().get(pk=call_id)
        if call.finalized_at is not None:
            if rebuild:
                _rebuild_recording(call)
            return call
        with build_recording(call.pk) as built:
            if built is not None:
                Recording.objects.filter(call=call).delete()
                _store_recording(call, built)
        call.summary = summary_for(call)
        call.finalized_at = timezone.now()
        call.save(update_fields=["summary", "finalized_at"])
        call_event_add(
            call=call,
            kind="finalized",
            message="Recording and transcript stored" if built else "Transcript stored (no audio)",
            duration_ms=built.duration_ms if built else 0,
        )
    logger.info("call %s finalized", call.call_sid)
    return call


def _rebuild_recording(call: Call) -> None:
    """Replace the recording of a finalized call (locked by the caller) with one from every part."""
    with build_recording(call.pk) as built:
        if built is None:
            return
        old = Recording.objects.filter(call=call).first()
        if old is not None and old.sha256 == built.sha256:
            return  # the late part held nothing new (a part shipped twice)
        old_name = old.file.name if old is not None else ""
        if old is not None:
            old.delete()
        recording = _store_recording(call, built)
        if old_name and old_name != recording.file.name:
            recording.file.storage.delete(old_name)
    call_event_add(
        call=call,
        kind="recording_rebuilt",
        message="Audio from a server that was down arrived late: recording rebuilt",
        duration_ms=built.duration_ms,
    )
    logger.info("call %s: recording rebuilt from late spool parts", call.call_sid)


def _store_recording(call: Call, built: BuiltRecording) -> Recording:
    recording = Recording(
        call=call,
        duration_ms=built.duration_ms,
        size_bytes=built.size_bytes,
        sha256=built.sha256,
    )
    # Streamed from the temporary file into the storage, never whole in memory.
    recording.file.save(f"{call.call_sid}.wav", File(built.file), save=False)
    recording.save()
    return recording


def calls_sweep_stale(*, now: datetime | None = None) -> list[int]:
    """Finalize calls whose media process died (no stop, no heartbeat for a while): live ones,
    and ended ones whose stream never closed. The latter happen when another process answers
    Twilio's callbacks: the <Connect action> that follows the dropped stream ends the call."""
    now = now or timezone.now()
    cutoff = now - STALE_AFTER
    orphaned = Q(ended_at__isnull=False, answered_at__isnull=False, stream_ended_at__isnull=True)
    stale = Call.objects.filter(finalized_at__isnull=True, last_heartbeat_at__lt=cutoff).filter(
        Q(status__in=LIVE_STATUSES) | orphaned
    )
    swept: list[int] = []
    for call in stale:
        with transaction.atomic():
            call = Call.objects.select_for_update().get(pk=call.pk)
            if call.finalized_at is not None:
                continue
            if call.status not in LIVE_STATUSES:
                if call.stream_ended_at is not None:
                    continue
                call.stream_ended_at = now
                call.save(update_fields=["stream_ended_at"])
                call_event_add(
                    call=call,
                    kind="swept",
                    message="The call's media process stopped; finalized from the spool",
                )
                call_end(call=call, status=call.status)  # ended already: only finalizes
                swept.append(call.pk)
                continue
            call.stream_ended_at = call.stream_ended_at or now
            call.save(update_fields=["stream_ended_at"])
            call_event_add(
                call=call,
                kind="swept",
                message="No heartbeat from the call's server process; finalized from the spool",
            )
            call_end(
                call=call,
                status=CallStatus.FAILED,
                outcome="Server process stopped during the call; recovered from the spool",
            )
        swept.append(call.pk)
    return swept


def recordings_purge_expired(*, now: datetime | None = None) -> int:
    """Delete recordings (files and rows) older than each workspace's retention."""
    now = now or timezone.now()
    deleted = 0
    for workspace in Workspace.objects.all():
        cutoff = now - timedelta(days=workspace.recording_retention_days)
        for recording in Recording.objects.filter(call__workspace=workspace, created_at__lt=cutoff):
            recording.file.delete(save=False)
            discard_call_audio(recording.call_id)  # the raw audio it was built from, too
            recording.delete()
            deleted += 1
            logger.info("recording of call %s deleted by retention", recording.call_id)
    return deleted
