"""A Celery worker killed (SIGKILL) in the middle of finalize_call loses nothing: the task is
acknowledged late, redelivered to the restarted worker, and completes."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
from django.utils import timezone

from calls.models import Call, CallStatus, Recording
from calls.recordings.spool import AGENT, CALLER, CallSpool
from calls.tasks import finalize_call
from stellar.kernel.audio import pcm16_to_ulaw
from tests.e2e import eventually
from tests.twilio_call import build_line

pytestmark = pytest.mark.e2e

MINUTES = 20


def long_spooled_call() -> Call:
    """An ended call with 20 minutes of audio on both tracks, so finalizing takes a while."""
    line = build_line()
    now = timezone.now()
    call = Call.objects.create(
        workspace=line.agent.workspace,
        connector=line.connector,
        call_sid="CA" + "7" * 30 + f"{int(time.time()) % 100:02d}",
        status=CallStatus.COMPLETED,
        answered_at=now,
        ended_at=now,
        stream_ended_at=now,
    )
    rng = np.random.default_rng(7)
    noise = pcm16_to_ulaw(rng.integers(-3000, 3000, 8000, dtype=np.int16))
    spool = CallSpool(call.pk)
    for ms in range(0, MINUTES * 60_000, 1000):
        for offset in range(0, 1000, 20):
            frame = noise[offset * 8 : offset * 8 + 160]
            spool.write(CALLER, ms + offset, frame)
            spool.write(AGENT, ms + offset, frame)
    spool.close()
    return call


def test_killed_worker_task_is_redelivered_and_completes(celery_worker_proc):
    call = long_spooled_call()
    worker = celery_worker_proc.process
    offset = worker.log_size()
    finalize_call.delay(call.pk)
    assert eventually(lambda: "finalize_call" in worker.log_since(offset), timeout=30)
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait()
    assert not Recording.objects.filter(call=call).exists(), "killed before it finished"

    worker.ensure_running()  # a new worker process; the unacked task comes back to it
    recording = eventually(lambda: Recording.objects.filter(call=call).first(), timeout=90)
    assert recording is not None, worker.log_since(offset)
    assert abs(recording.duration_ms - MINUTES * 60_000) <= 20
    assert Recording.objects.filter(call=call).count() == 1
