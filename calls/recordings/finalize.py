"""After the call: store the recording and transcript summary, exactly once (idempotent)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from agents.models import Workspace
from calls.models import LIVE_STATUSES, Call, CallStatus, Recording, Speaker
from calls.recordings.stereo import build_recording
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


def call_finalize(*, call_id: int) -> Call:
    """Build the stereo WAV from the spool, store it, summarise; safe to run any number of times."""
    with transaction.atomic():
        call = Call.objects.select_for_update().get(pk=call_id)
        if call.finalized_at is not None:
            return call
        with build_recording(call.pk) as built:
            if built is not None:
                Recording.objects.filter(call=call).delete()
                recording = Recording(
                    call=call,
                    duration_ms=built.duration_ms,
                    size_bytes=built.size_bytes,
                    sha256=built.sha256,
                )
                # Streamed from the temporary file into the storage, never whole in memory.
                recording.file.save(f"{call.call_sid}.wav", File(built.file), save=False)
                recording.save()
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


def calls_sweep_stale(*, now: datetime | None = None) -> list[int]:
    """Finalize live calls whose server process died (no stop, no heartbeat for a while)."""
    now = now or timezone.now()
    cutoff = now - STALE_AFTER
    stale = Call.objects.filter(status__in=LIVE_STATUSES, finalized_at__isnull=True).filter(
        last_heartbeat_at__lt=cutoff
    )
    swept: list[int] = []
    for call in stale:
        with transaction.atomic():
            call = Call.objects.select_for_update().get(pk=call.pk)
            if call.status not in LIVE_STATUSES:
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
            recording.delete()
            deleted += 1
            logger.info("recording of call %s deleted by retention", recording.call_id)
    return deleted
