"""Recordings and transcripts are stored by a real Celery worker after a simulated call."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from calls.models import Call, Recording, TranscriptSegment
from calls.recordings.finalize import call_finalize
from calls.simulator import HangUp, Say, WaitForAgent
from tests.e2e import eventually, place_call, words
from tests.twilio_call import build_line

pytestmark = pytest.mark.e2e


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


def read_stereo(data: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getnchannels() == 2 and wav.getsampwidth() == 2
        rate = wav.getframerate()
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return frames[0::2], frames[1::2], rate


def window(track: np.ndarray, rate: int, start: float, end: float, trim: float = 0.15):
    return track[int((start + trim) * rate) : max(0, int((end - trim) * rate))]


def test_call_is_recorded_in_stereo_with_its_transcript(live_daphne, celery_worker_proc):
    line = build_line()
    result = place_call(
        live_daphne,
        line,
        [WaitForAgent(), Say("What are your opening hours?"), WaitForAgent(), HangUp()],
        realtime=1.0,
    )
    assert result.webhook_ok and not result.errors, result.errors
    call = Call.objects.get(call_sid=result.call_sid)
    recording = eventually(lambda: Recording.objects.filter(call=call).first(), timeout=30)
    assert recording is not None, "the worker should have stored the recording"
    call.refresh_from_db()
    assert call.finalized_at is not None

    stream = result.streams[0]
    stream_seconds = stream.ended_at - stream.start_sent_at
    assert abs(recording.duration_ms / 1000 - stream_seconds) <= 0.1

    left, right, rate = read_stereo(recording.file.read())
    t0 = stream.start_sent_at
    said = [u for u in result.caller_utterances if u.kind == "say"]
    assert said
    for utt in said:
        caller = window(left, rate, utt.started_at - t0, utt.ended_at - t0)
        agent = window(right, rate, utt.started_at - t0, utt.ended_at - t0)
        assert rms(caller) > 500 and rms(caller) > 10 * rms(agent)
    assert len(result.agent_utterances) >= 2
    for utt in result.agent_utterances:
        agent = window(right, rate, utt.started_at - t0, utt.ended_at - t0)
        caller = window(left, rate, utt.started_at - t0, utt.ended_at - t0)
        assert rms(agent) > 500 and rms(agent) > 10 * rms(caller)

    segments = list(TranscriptSegment.objects.filter(call=call))
    caller_text = " ".join(words(s.text) for s in segments if s.speaker == "caller")
    agent_text = " ".join(words(s.text) for s in segments if s.speaker == "agent")
    assert "opening hours" in caller_text
    assert "thank you for calling" in agent_text and "monday" in agent_text
    assert "opening hours" in call.summary

    # Finalizing again (a redelivered task) changes nothing.
    before = (recording.pk, recording.sha256, call.finalized_at)
    call_finalize(call_id=call.pk)
    recording = Recording.objects.get(call=call)
    assert (recording.pk, recording.sha256, Call.objects.get(pk=call.pk).finalized_at) == before
    assert Recording.objects.filter(call=call).count() == 1
