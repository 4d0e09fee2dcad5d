"""A server process killed mid-call loses nothing but the last short buffer: the sweeper
finalizes the call from its spool, through the real Celery worker."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import Call, CallStatus, Recording
from calls.recordings.finalize import calls_sweep_stale
from calls.simulator import Say, Wait, WaitForAgent
from tests.e2e import eventually, place_call
from tests.test_recordings_e2e import read_stereo, rms
from tests.twilio_call import build_line

pytestmark = pytest.mark.e2e


def test_sigkilled_server_call_is_finalized_from_the_spool(live_daphne, celery_worker_proc):
    line = build_line()
    outcome = {}

    def caller() -> None:
        outcome["result"] = place_call(
            live_daphne,
            line,
            [WaitForAgent(), Say("What are your opening hours?"), Wait(30)],
            realtime=1.0,
        )

    thread = threading.Thread(target=caller)
    thread.start()
    call = eventually(
        lambda: Call.objects.filter(connector=line.connector, answered_at__isnull=False).first()
    )
    assert call is not None
    # Let the greeting play and the caller finish speaking, then kill the server outright.
    eventually(lambda: call.segments.filter(speaker="caller").exists(), timeout=30)
    time.sleep(1.0)
    live_daphne.process.proc.send_signal(signal.SIGKILL)
    live_daphne.process.proc.wait()
    thread.join(timeout=60)
    stream = outcome["result"].streams[0]
    talked = stream.ended_at - stream.start_sent_at  # the socket dropped with the server

    call.refresh_from_db()
    assert call.status == CallStatus.IN_PROGRESS and call.finalized_at is None
    swept = calls_sweep_stale(now=timezone.now() + timedelta(minutes=5))
    assert call.pk in swept

    recording = eventually(lambda: Recording.objects.filter(call=call).first(), timeout=30)
    assert recording is not None, "the worker should finalize the swept call"
    call.refresh_from_db()
    assert call.status == CallStatus.FAILED and "spool" in call.outcome
    assert call.events.filter(kind="swept").exists()
    # Audio up to the crash: at most the last flush interval (≈ 0.5 s) is lost.
    assert talked - 1.0 <= recording.duration_ms / 1000 <= talked + 0.5
    left, right, rate = read_stereo(recording.file.read())
    assert rms(left) > 100 and rms(right) > 100, "both the caller and the agent were recorded"
    live_daphne.process.ensure_running()
