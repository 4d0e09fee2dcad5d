"""A Celery worker killed (SIGKILL) in the middle of finalize_call loses nothing: the task is
acknowledged late, redelivered to the restarted worker, and completes."""

from __future__ import annotations

import signal

import pytest

from calls.models import Recording
from calls.tasks import finalize_call
from tests.e2e import eventually
from tests.spooled_calls import long_spooled_call

pytestmark = pytest.mark.e2e

MINUTES = 20


def test_killed_worker_task_is_redelivered_and_completes(celery_worker_proc):
    call = long_spooled_call(MINUTES)
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
