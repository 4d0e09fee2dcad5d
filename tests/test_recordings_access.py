"""Recordings: served only to the call's workspace (API and Studio) with byte ranges, and
deleted by the retention task."""

from __future__ import annotations

import io
import wave
from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from agents.config.services import workspace_create
from calls.models import Call, CallStatus, Recording
from calls.recordings.finalize import call_finalize, recordings_purge_expired
from calls.recordings.spool import AGENT, CALLER, CallSpool
from stellar.kernel.audio import pcm16_to_ulaw
from tests.twilio_call import build_line

pytestmark = pytest.mark.django_db


def recorded_call(seconds: int = 2) -> Call:
    line = build_line()
    now = timezone.now()
    call = Call.objects.create(
        workspace=line.agent.workspace,
        connector=line.connector,
        call_sid=f"CA{timezone.now().timestamp():.0f}{np.random.randint(1e9)}",
        status=CallStatus.COMPLETED,
        answered_at=now,
        ended_at=now,
        stream_ended_at=now,
    )
    tone = pcm16_to_ulaw((np.sin(np.arange(8000) / 8) * 8000).astype(np.int16))
    spool = CallSpool(call.pk)
    for ms in range(0, seconds * 1000, 20):
        spool.write(CALLER, ms, tone[(ms % 1000) * 8 : (ms % 1000) * 8 + 160])
        spool.write(AGENT, ms, tone[(ms % 1000) * 8 : (ms % 1000) * 8 + 160])
    spool.close()
    call_finalize(call_id=call.pk)
    return call


def api_client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_serves_the_recording_with_ranges_to_members_only():
    call = recorded_call()
    owner = call.workspace.memberships.get().user
    client = api_client_for(owner)
    whole = client.get(f"/api/v1/calls/{call.pk}/recording/")
    assert whole.status_code == 200 and whole["Content-Type"] == "audio/wav"
    data = b"".join(whole.streaming_content)
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() == 16000
    part = client.get(f"/api/v1/calls/{call.pk}/recording/", HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert b"".join(part.streaming_content) == data[100:200]
    detail = client.get(f"/api/v1/calls/{call.pk}/").json()
    assert detail["recording"]["duration_ms"] == 2000

    outsider = get_user_model().objects.create_user("outsider", password="x")
    workspace_create(name="Other", owner=outsider)
    other = api_client_for(outsider)
    assert other.get(f"/api/v1/calls/{call.pk}/recording/").status_code == 404
    assert other.get(f"/api/v1/calls/{call.pk}/").status_code == 404


def test_retention_deletes_old_recordings_and_their_files():
    old = recorded_call()
    fresh = recorded_call()
    old.workspace.recording_retention_days = 30
    old.workspace.save()
    Recording.objects.filter(call=old).update(created_at=timezone.now() - timedelta(days=31))
    path = Recording.objects.get(call=old).file.path
    assert recordings_purge_expired() == 1
    assert not Recording.objects.filter(call=old).exists()
    assert Recording.objects.filter(call=fresh).exists()
    import os

    assert not os.path.exists(path)


def test_finalizing_a_call_that_was_deleted_ends_the_task_without_retries():
    from calls.tasks import finalize_call

    call = recorded_call()
    call_id = call.pk
    call.delete()
    result = finalize_call.apply(args=(call_id,))  # in this process, as a worker would run it
    assert result.successful() and result.result is None
    assert Call.objects.filter(pk=call_id).count() == 0
