"""Recordings and transcripts are stored by a real Celery worker after a simulated call."""

from __future__ import annotations

import io
import wave
from types import SimpleNamespace

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


# --- many hosts, no shared disk: spool parts through a real S3-compatible server (moto) ------


FRAME_MS = 20


@pytest.fixture
def s3_spool(settings, monkeypatch, tmp_path):
    """STELLAR_SPOOL_STORE on a fresh bucket of the harness's S3 server; `host(name)` switches
    this process to another "machine" (its own spool directory and host id)."""
    import boto3

    from tests.conftest import require_env
    from tests.harness.services import S3_TEST_CREDENTIALS

    endpoint = require_env("STELLAR_TEST_S3_URL")
    for key, value in S3_TEST_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    bucket = f"spool-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=bucket)
    settings.STELLAR_SPOOL_STORE = f"s3://{bucket}/parts"
    settings.STELLAR_SPOOL_STORE_ENDPOINT_URL = endpoint

    def host(name: str):
        settings.STELLAR_SPOOL_DIR = tmp_path / name
        settings.STELLAR_HOST_ID = name
        return settings.STELLAR_SPOOL_DIR

    host("worker")
    return SimpleNamespace(client=client, bucket=bucket, host=host)


def spool_tone(call_id: int, start_ms: int, end_ms: int, *, close: bool = True):
    """Both tracks, from start_ms to end_ms: the caller a 440 Hz tone, the agent 880 Hz."""
    from calls.recordings.spool import AGENT, CALLER, CallSpool
    from stellar.kernel.audio import pcm16_to_ulaw

    t = np.arange(8 * FRAME_MS) / 8000
    frames = {
        track: pcm16_to_ulaw((8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16))
        for track, hz in ((CALLER, 440), (AGENT, 880))
    }
    spool = CallSpool(call_id)
    for ms in range(start_ms, end_ms, FRAME_MS):
        for track, frame in frames.items():
            spool.write(track, ms, frame)
    if close:
        spool.close()
    return spool


def stored_parts(s3_spool, call_id: int) -> list[str]:
    listed = s3_spool.client.list_objects_v2(
        Bucket=s3_spool.bucket, Prefix=f"parts/call-{call_id}/"
    )
    return [item["Key"] for item in listed.get("Contents", [])]


def ended_call(line) -> Call:
    from django.utils import timezone

    from tests.twilio_call import new_call_sid

    now = timezone.now()
    return Call.objects.create(
        workspace=line.agent.workspace,
        connector=line.connector,
        call_sid=new_call_sid(),
        status="completed",
        answered_at=now,
        ended_at=now,
        stream_ended_at=now,
    )


def test_parts_spooled_on_two_hosts_are_merged_by_a_worker_on_a_third(db, s3_spool):
    from calls.recordings.shipping import ship_call_spool

    call = ended_call(build_line())
    a = s3_spool.host("host-a")
    spool_tone(call.pk, 0, 1000)  # the stream on host A...
    assert ship_call_spool(call.pk) == 1
    assert not list(a.iterdir()), "shipped parts leave the host"
    s3_spool.host("host-b")
    spool_tone(call.pk, 1000, 2000)  # ...reconnected on host B
    live = spool_tone(call.pk + 1, 0, 200, close=False)  # another call, still streaming
    assert ship_call_spool(call.pk) == 1 and ship_call_spool(call.pk + 1) == 0
    live.close()
    parts = stored_parts(s3_spool, call.pk)
    assert len(parts) == 2 and "host-a" in parts[0] and "host-b" in parts[1], parts

    s3_spool.host("worker")  # any machine: nothing of the call on its disk
    call = call_finalize(call_id=call.pk)
    recording = Recording.objects.get(call=call)
    assert recording.duration_ms == 2000
    left, right, rate = read_stereo(recording.file.read())
    for start, end in ((0.0, 1.0), (1.0, 2.0)):  # both halves, both tracks, from both hosts
        assert rms(window(left, rate, start, end)) > 3000
        assert rms(window(right, rate, start, end)) > 3000


def test_a_killed_hosts_spool_is_swept_and_a_late_part_rebuilds_the_recording(
    db, s3_spool, monkeypatch
):
    from calls import tasks
    from calls.recordings.shipping import ship_call_spool

    call = ended_call(build_line())
    s3_spool.host("host-b")
    spool_tone(call.pk, 1000, 1600)
    ship_call_spool(call.pk)
    a = s3_spool.host("host-a")
    spool_tone(call.pk, 0, 1000)  # left by a killed Daphne: closed (its lock died), not shipped
    live = spool_tone(call.pk + 1, 0, 400, close=False)  # a live stream on the same host
    s3_spool.host("worker")
    call_finalize(call_id=call.pk)  # the stale sweep finalized the call with host B's part only
    assert Recording.objects.get(call=call).duration_ms == 1600
    assert rms(read_stereo(Recording.objects.get(call=call).file.read())[0][:4000]) == 0

    enqueued: list[tuple] = []
    monkeypatch.setattr(tasks.finalize_call, "delay", lambda *a, **k: enqueued.append((a, k)))
    s3_spool.host("host-a")  # host A comes back; its sweep runs
    assert tasks.ship_host_spools(grace=0) == [call.pk], "the live call's spool stays"
    assert sorted(p.name for p in a.iterdir()) == [f"call-{call.pk + 1}.spool"]
    assert enqueued == [((call.pk,), {"rebuild": True})]
    live.close()

    s3_spool.host("worker")
    call_finalize(call_id=call.pk, rebuild=True)
    recording = Recording.objects.get(call=call)
    left, right, rate = read_stereo(recording.file.read())
    assert recording.duration_ms == 1600 and rms(window(left, rate, 0.0, 1.0)) > 3000
    assert call.events.filter(kind="recording_rebuilt").count() == 1
    call_finalize(call_id=call.pk, rebuild=True)  # again: the same audio, nothing changes
    assert Recording.objects.get(call=call).pk == recording.pk


def test_a_spool_just_closed_is_left_to_its_own_session(db, s3_spool):
    from calls.recordings.shipping import sweep_host

    s3_spool.host("host-a")
    spool_tone(999_001, 0, 200)
    assert sweep_host() == [], "within the grace period the stream-end ship owns it"
    assert sweep_host(grace=0) == [999_001]


def test_the_spool_store_setting_is_checked(settings):
    from django.core.exceptions import ImproperlyConfigured

    from calls.recordings.store import parse_store_url

    assert parse_store_url("s3://bucket/a/b/") == ("bucket", "a/b")
    for bad in ("bucket/prefix", "s3:///prefix", "https://bucket/x"):
        with pytest.raises(ImproperlyConfigured, match="s3://bucket/prefix"):
            parse_store_url(bad)


def test_an_ended_call_whose_stream_never_closed_is_swept(
    db, monkeypatch, django_capture_on_commit_callbacks
):
    """The media process died, and another process answered Twilio's <Connect action>: the
    call ended (completed) with its stream never closed, so nothing would finalize it."""
    from datetime import timedelta

    from django.utils import timezone

    from calls import tasks
    from calls.recordings.finalize import calls_sweep_stale
    from calls.services import call_end

    enqueued: list[int] = []
    monkeypatch.setattr(tasks.finalize_call, "delay", enqueued.append)
    call = ended_call(build_line())
    Call.objects.filter(pk=call.pk).update(
        stream_ended_at=None, ended_at=None, status="in_progress", last_heartbeat_at=timezone.now()
    )
    call.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        call_end(call=call, status="completed", outcome="Completed")  # the Connect action
    assert enqueued == [], "its stream is still open, as far as anyone knows"
    assert calls_sweep_stale() == []  # heartbeats are recent
    with django_capture_on_commit_callbacks(execute=True):
        swept = calls_sweep_stale(now=timezone.now() + timedelta(minutes=5))
    assert swept == [call.pk] and enqueued == [call.pk]
    call.refresh_from_db()
    assert call.status == "completed" and call.stream_ended_at is not None
    assert call.events.filter(kind="swept").exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert calls_sweep_stale(now=timezone.now() + timedelta(minutes=5)) == []


def test_an_upload_that_fails_at_stream_end_is_left_for_the_hosts_sweep(db, s3_spool, settings):
    import asyncio

    from calls.recordings.shipping import ship_at_stream_end, sweep_host
    from tests.harness.services import free_port

    good = settings.STELLAR_SPOOL_STORE_ENDPOINT_URL
    a = s3_spool.host("host-a")
    spool_tone(424_242, 0, 400)
    settings.STELLAR_SPOOL_STORE_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # store down
    asyncio.run(ship_at_stream_end(424_242))  # logged, never raised into the session
    left = [p.name for p in a.iterdir()]
    assert len(left) == 1 and left[0].endswith(".shipping"), left
    settings.STELLAR_SPOOL_STORE_ENDPOINT_URL = good  # the store is back
    assert sweep_host() == [424_242], "claimed files need no grace period"
    assert not list(a.iterdir())
    assert len(stored_parts(s3_spool, 424_242)) == 1
