"""An ended call with long spooled audio on both tracks, so finalizing it takes a while (the
tests that kill a worker in the middle of it)."""

from __future__ import annotations

import numpy as np
from django.utils import timezone

from calls.models import Call, CallStatus
from calls.recordings.spool import AGENT, CALLER, CallSpool
from stellar.kernel.audio import pcm16_to_ulaw
from tests.twilio_call import build_line, new_call_sid


def long_spooled_call(minutes: int) -> Call:
    """An ended call whose `minutes` of noise on both tracks sit in the spool (the spool
    directory the settings name now)."""
    line = build_line()
    now = timezone.now()
    call = Call.objects.create(
        workspace=line.agent.workspace,
        connector=line.connector,
        call_sid=new_call_sid(),
        status=CallStatus.COMPLETED,
        answered_at=now,
        ended_at=now,
        stream_ended_at=now,
    )
    rng = np.random.default_rng(7)
    noise = pcm16_to_ulaw(rng.integers(-3000, 3000, 8000, dtype=np.int16))
    spool = CallSpool(call.pk)
    for ms in range(0, minutes * 60_000, 1000):
        for offset in range(0, 1000, 20):
            frame = noise[offset * 8 : offset * 8 + 160]
            spool.write(CALLER, ms + offset, frame)
            spool.write(AGENT, ms + offset, frame)
    spool.close()
    return call
