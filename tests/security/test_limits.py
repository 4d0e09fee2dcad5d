"""Bounded work on the call path: nobody can make one call cost unbounded time, memory or disk.

The first case is the exploit from the security review: a media stream (or the Playground,
which speaks the same protocol) pushes far more "audio" than real time allows; before, every
frame was spooled and fed to the speech models, and the finalize task later allocated ~5x the
pushed audio in RAM. Now audio ahead of the wall clock is dropped and counted, the turn queue,
the call's length, its spool and each agent line are capped, and the WAV is built as a stream.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import random
import threading
import time
import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest
import websockets
from twilio.request_validator import RequestValidator

from calls.models import Call, Recording
from calls.recordings.finalize import call_finalize
from calls.recordings.spool import AGENT, CALLER, HEADER, CallSpool, iter_spool, spool_path
from calls.recordings.stereo import build_recording
from calls.runtime.pacing import InboundPacer
from calls.runtime.session import CALL_TOO_LONG, HANG_UP_GRACE_SECONDS
from calls.runtime.speaker import cut_at_sentence
from calls.runtime.turns import MAX_PENDING_INPUTS, KeyPress
from calls.simulator import HangUp, Say, WaitForAgent
from stellar.kernel import metrics
from stellar.kernel.audio import FRAME_BYTES, PHONE_RATE, ulaw_to_pcm16
from tests.conftest import daphne_server
from tests.e2e import eventually, place_call, words
from tests.test_fuzz_e2e import open_stream
from tests.twilio_call import AUTH_TOKEN, build_line
from tests.unit.call_runtime_fakes import call_row, quiet, run_virtual, until
from tests.unit.test_call_runtime_session import STREAM_SID, Phone, media

FRAME = quiet(20)


def dropped(reason: str) -> float:
    return metrics.FRAMES_DROPPED.labels(reason)._value.get()


def limits_hit(limit: str) -> float:
    return metrics.CALL_LIMITS.labels(limit)._value.get()


def caller_frames(phone: Phone) -> int:
    return len([r for r in phone.spool.records if r[0] == CALLER])


@pytest.fixture
def production_pacing(settings):
    settings.STELLAR_INBOUND_AUDIO_RATE = 1.05
    settings.STELLAR_INBOUND_AUDIO_BURST_SECONDS = 2.0


# ---- the exploit: audio faster than real time -----------------------------------------------


def test_a_stream_pushing_ten_minutes_of_audio_at_once_gets_only_the_burst_through(
    production_pacing, settings
):
    """Given a started stream, when it sends 10 minutes of media frames with no time passing,
    then only the 2 s burst allowance is spooled and heard; the rest is dropped and counted on
    the call (input_errors) and in Prometheus, and once a minute of audio was dropped the
    stream is ended and what it still sends is ignored."""
    settings.STELLAR_INBOUND_AUDIO_MAX_DROPPED_SECONDS = 60

    async def main() -> None:
        phone = Phone()
        await phone.start()
        before = dropped("audio_ahead_of_real_time")
        in_ms_before = phone.session.listener.in_ms
        flood = 10 * 60 * 1000 // 20
        for _ in range(flood):
            await phone.send(media(FRAME))
            await asyncio.sleep(0)  # the consumer's turn between frames; no time passes
        admitted = caller_frames(phone)
        assert 100 <= admitted <= 101  # 2 s of 20 ms frames (no virtual time passed)
        assert phone.session.listener.in_ms - in_ms_before == admitted * 20  # all STT ever saw
        refused = phone.session.errors["audio_ahead_of_real_time"]
        assert 3000 < refused < 3010  # a minute of audio, then the stream was ended
        assert dropped("audio_ahead_of_real_time") - before == refused
        (limit,) = phone.writer.events("limit")
        assert limit["limit"] == "inbound_audio_rate" and limit["dropped_ms"] > 60_000
        assert phone.session.closed and phone.hangups.count == 1
        (ended,) = phone.writer.named("call_stream_ended")
        assert ended["input_errors"] == {"audio_ahead_of_real_time": refused}
        assert phone.spool.closed

    run_virtual(main())


def test_a_caller_sending_at_real_time_with_jitter_loses_nothing(production_pacing):
    """Given a stream at real time whose frames sometimes arrive late in bunches (network
    jitter, up to 1.5 s), when a minute of audio is sent, then every frame is taken."""

    async def main() -> None:
        phone = Phone()
        await phone.start()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for second in range(60):
            late = 1.5 if second % 7 == 3 else 0.0  # held back, then sent all at once
            await asyncio.sleep(max(0.0, t0 + second + late - loop.time()))
            for frame in range(50):
                await asyncio.sleep(max(0.0, t0 + second + frame * 0.02 - loop.time()))
                await phone.send(media(FRAME))
        assert caller_frames(phone) == 60 * 50
        assert not phone.session.errors

    run_virtual(main())


def test_the_pacer_allows_clock_drift_but_not_a_double_speed_stream():
    """Given the production tolerance (rate 1.05, burst 2 s), a sender whose clock runs 1 %
    fast for four hours is never cut, while one at 2x is cut once it is 2 s ahead."""
    drift = InboundPacer(rate=1.05, burst_ms=2000)
    drift.start(0)
    frames = 4 * 3600 * 50
    assert all(drift.admit(FRAME, int(i * 20 / 1.01)) for i in range(frames))

    double = InboundPacer(rate=1.05, burst_ms=2000)
    double.start(0)
    taken = [double.admit(FRAME, i * 10) for i in range(1000)]  # 20 ms of audio every 10 ms
    assert 200 <= taken.index(False) <= 215  # cut ≈ 2 s in, when it is ≈ 2 s ahead
    assert sum(taken) * 20 <= 1000 * 10 * 1.05 + 2000 + 20  # never more than allowed
    with pytest.raises(ValueError):
        InboundPacer(rate=0, burst_ms=2000)


def test_key_presses_faster_than_a_human_are_dropped_and_counted(production_pacing):
    """Given a started call, when the stream sends 1000 key presses at once, then only a burst
    of 20 reaches the timeline; a second later 5 more may."""

    async def main() -> None:
        phone = Phone()
        await phone.start()
        for _ in range(1000):
            await phone.send({"event": "dtmf", "dtmf": {"digit": "1"}})
        assert len(phone.writer.events("dtmf")) == 20
        assert phone.session.errors["dtmf_too_fast"] == 980
        await asyncio.sleep(1.0)
        for _ in range(10):
            await phone.send({"event": "dtmf", "dtmf": {"digit": "2"}})
        assert len(phone.writer.events("dtmf")) == 25
        await phone.session.close("Twilio stopped the stream")

    run_virtual(main())


def test_the_turn_queue_is_bounded_and_what_overflows_is_counted(production_pacing):
    """Given a call whose turn loop has not had a chance to run, when the caller presses 20 keys
    at once, then at most MAX_PENDING_INPUTS wait and the others are dropped and counted; the
    call can still be stopped."""

    async def main() -> None:
        phone = Phone()
        await phone.start()
        for _ in range(20):
            await phone.send({"event": "dtmf", "dtmf": {"digit": "1"}})
        assert phone.session.errors["turn_queue_full"] == 20 - MAX_PENDING_INPUTS
        turns = phone.session.turns
        with pytest.raises(asyncio.QueueFull):
            for _ in range(MAX_PENDING_INPUTS + 1):
                turns.put(KeyPress("2"))
        turns.stop()  # never refused, even on a full queue
        await phone.session.close("Twilio stopped the stream")

    run_virtual(main())


# ---- caps: call length, spool size, line length ---------------------------------------------


def test_a_call_at_its_maximum_length_is_ended_politely(production_pacing, settings):
    """Given STELLAR_MAX_CALL_SECONDS = 30, when the call reaches it, then the timeline says so,
    the agent says goodbye, caller audio past the cap is dropped, and the call hangs up once the
    goodbye played."""
    settings.STELLAR_MAX_CALL_SECONDS = 30

    async def main() -> None:
        phone = Phone()
        await phone.start()
        await phone.mark_back(1)  # the greeting played
        before = limits_hit("call_seconds")
        await until(lambda: bool(phone.writer.events("limit")), within=40)
        (limit,) = phone.writer.events("limit")
        assert limit["limit"] == "max_call_seconds" and limit["at_ms"] >= 29_990
        assert limits_hit("call_seconds") - before == 1
        phone.session.listener.in_ms = 30_000  # the caller's audio has reached the cap too
        await phone.send(media(FRAME))
        assert phone.session.errors["call_too_long"] == 1
        await until(lambda: CALL_TOO_LONG in " ".join(phone.tts.rendered))
        await phone.mark_back(len(phone.outbox.of("mark")))
        await until(lambda: phone.hangups.count == 1)

    run_virtual(main())


def test_a_call_whose_stream_never_acknowledges_the_goodbye_is_hung_up_anyway(
    production_pacing, settings
):
    """Given a stream that never sends marks back, when the call reaches its maximum length,
    then it is hung up HANG_UP_GRACE_SECONDS after the goodbye."""
    settings.STELLAR_MAX_CALL_SECONDS = 10

    async def main() -> None:
        phone = Phone()
        await phone.start()
        loop = asyncio.get_running_loop()
        await until(lambda: bool(phone.writer.events("limit")), within=20)
        limited_at = loop.time()
        await until(lambda: phone.hangups.count == 1, within=HANG_UP_GRACE_SECONDS + 5)
        assert loop.time() - limited_at >= HANG_UP_GRACE_SECONDS - 0.01

    run_virtual(main())


def test_the_spool_stops_growing_at_its_cap_with_one_timeline_event(
    production_pacing, settings, tmp_path
):
    """Given STELLAR_MAX_SPOOL_BYTES of 20 frames, when a call records more, then the spool file
    stays under the cap, the call goes on, and the timeline notes it once."""
    settings.STELLAR_SPOOL_DIR = tmp_path
    record = HEADER.size + FRAME_BYTES
    settings.STELLAR_MAX_SPOOL_BYTES = 20 * record

    async def main() -> None:
        phone = Phone(call_row(pk=4242))
        phone.spool = CallSpool(4242)  # the real spool, capped by the setting
        await phone.start()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i in range(100):
            await asyncio.sleep(max(0.0, t0 + i * 0.02 - loop.time()))
            await phone.send(media(FRAME))
        await phone.session.close("Twilio stopped the stream")
        (limit,) = phone.writer.events("limit")
        assert limit["limit"] == "max_spool_bytes"
        size = spool_path(4242).stat().st_size
        assert 0 < size <= 20 * record
        assert phone.session.listener.in_ms >= 100 * 20  # the call itself went on

    run_virtual(main())


def test_a_reconnected_stream_counts_what_the_spool_already_holds(settings, tmp_path):
    settings.STELLAR_SPOOL_DIR = tmp_path
    first = CallSpool(77, max_bytes=3 * (HEADER.size + 160))
    for i in range(2):
        first.write(CALLER, i * 20, FRAME)
    first.close()
    second = CallSpool(77, max_bytes=3 * (HEADER.size + 160))
    second.write(CALLER, 40, FRAME)
    second.write(CALLER, 60, FRAME)
    second.close()
    assert second.full and len(list(iter_spool(77))) == 3


def test_a_long_agent_line_is_cut_at_a_sentence_and_noted(settings):
    """Given STELLAR_MAX_SAY_CHARS = 60, when the greeting is a megabyte of sentences, then the
    agent says whole sentences up to 60 characters and the timeline notes the cut."""
    settings.STELLAR_MAX_SAY_CHARS = 60
    huge = "Your order has shipped today. " * 35_000  # ≈ 1 MB, like an API response
    before = limits_hit("say_chars")

    async def main() -> None:
        phone = Phone(call_row(agent_snapshot={"name": "Big", "greeting": huge}))
        await phone.start()
        await phone.mark_back(1)
        (greeting,) = phone.feed.of("transcript")
        assert greeting["text"] == "Your order has shipped today. Your order has shipped today."
        (limit,) = phone.writer.events("limit")
        assert limit["limit"] == "max_say_chars" and limit["line_kind"] == "greeting"
        assert limit["message"].endswith("was cut to 59")
        assert limits_hit("say_chars") - before == 1

    run_virtual(main())


def test_a_line_is_cut_at_whole_sentences_else_whole_words():
    assert cut_at_sentence("Short.", 50) == "Short."
    assert cut_at_sentence("One two. Three four five. Six.", 20) == "One two."
    assert (
        cut_at_sentence("averyveryverylongword and more words", 25) == "averyveryverylongword and"
    )
    assert cut_at_sentence("x" * 100, 10) == "x" * 10


# ---- the WAV as a stream ----------------------------------------------------------------------


def write_spool(path: Path, records: list[tuple[int, int, bytes]], torn: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        for track, offset_ms, payload in records:
            file.write(HEADER.pack(track, offset_ms, len(payload)) + payload)
        file.write(torn)


def reference_wav(records: list[tuple[int, int, bytes]]) -> bytes:
    """The recording as it was built before (whole tracks in memory), to compare bytes with."""
    end = max(off * 8 + len(p) for t, off, p in records if t in (CALLER, AGENT))
    tracks = {CALLER: np.zeros(end, np.int16), AGENT: np.zeros(end, np.int16)}
    for track, offset_ms, payload in records:
        if track in tracks:
            tracks[track][offset_ms * 8 : offset_ms * 8 + len(payload)] = ulaw_to_pcm16(payload)
    stereo = np.empty(end * 2, dtype=np.int16)
    stereo[0::2], stereo[1::2] = tracks[CALLER], tracks[AGENT]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(PHONE_RATE)
        wav.writeframes(stereo.astype("<i2").tobytes())
    return buffer.getvalue()


def test_the_streamed_wav_is_bit_exact_with_the_in_memory_build(settings, tmp_path):
    """Given a spool with overlapping, out-of-order, odd-sized records of both tracks (and of an
    unknown track, and a torn last record), the streamed WAV equals the in-memory one."""
    settings.STELLAR_SPOOL_DIR = tmp_path
    rng = random.Random(15)
    records = []
    for _ in range(3000):
        track = rng.choice([CALLER, CALLER, AGENT, AGENT, 7])
        size = rng.choice([160, 160, 160, 80, 1, 320, 1600])
        records.append((track, rng.randrange(0, 180_000), rng.randbytes(size)))
    records.append((AGENT, 200_000, rng.randbytes(160)))  # the last sample, on the right
    write_spool(spool_path(5), records, torn=HEADER.pack(CALLER, 10, 160) + b"\x01" * 50)
    with build_recording(5) as built:
        assert built is not None
        data = built.file.read()
    assert data == reference_wav(records)
    assert built.size_bytes == len(data) and built.sha256 == hashlib.sha256(data).hexdigest()
    assert built.duration_ms == (200_000 * 8 + 160) * 1000 // PHONE_RATE


def test_building_an_hour_long_recording_takes_bounded_memory(settings, tmp_path):
    """Given an hour of both tracks in the spool (≈ 60 MB; the WAV is 115 MB), when the WAV is
    built, then Python's peak allocation stays under 20 MB (the in-memory build needed ≈ 5x
    the WAV)."""
    settings.STELLAR_SPOOL_DIR = tmp_path
    frame = bytes(range(160))
    path = spool_path(6)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        for ms in range(0, 3600 * 1000, 20):
            for track in (CALLER, AGENT):
                file.write(HEADER.pack(track, ms, 160) + frame)
    tracemalloc.start()
    try:
        with build_recording(6) as built:
            assert built is not None
            _, peak = tracemalloc.get_traced_memory()
            assert built.duration_ms == 3600 * 1000
            assert built.size_bytes == 44 + 3600 * PHONE_RATE * 4
            built.file.seek(44 + 4 * 8000 * 1800)  # half an hour in: both tracks there
            samples = np.frombuffer(built.file.read(640), dtype="<i2")
    finally:
        tracemalloc.stop()
    expected = ulaw_to_pcm16(frame)
    assert (samples[0::2] == expected).all() and (samples[1::2] == expected).all()
    assert peak < 20 * 1024 * 1024, f"peak {peak / 2**20:.1f} MB"


def test_a_spool_with_audio_days_ahead_is_cut_at_the_maximum_call_length(settings, tmp_path):
    """Given a spool written before pacing (a record 49 days into the call), the recording
    stops at STELLAR_MAX_CALL_SECONDS instead of allocating weeks of silence."""
    settings.STELLAR_SPOOL_DIR = tmp_path
    settings.STELLAR_MAX_CALL_SECONDS = 60
    write_spool(
        spool_path(8),
        [(CALLER, 0, FRAME), (AGENT, 59_990, FRAME), (CALLER, 2**32 - 1, FRAME)],
    )
    with build_recording(8) as built:
        assert built is not None
        assert built.duration_ms == 60_000


@pytest.mark.django_db
def test_finalize_stores_the_streamed_wav_with_its_size_and_hash(settings, tmp_path):
    settings.STELLAR_SPOOL_DIR = tmp_path / "spool"
    settings.MEDIA_ROOT = tmp_path / "media"
    line = build_line()
    call = Call.objects.create(
        workspace=line.connector.workspace,
        connector=line.connector,
        call_sid="CA" + "e" * 32,
        from_number="+15550001111",
        to_number="+15550002222",
    )
    write_spool(spool_path(call.pk), [(CALLER, 0, FRAME * 50), (AGENT, 1000, FRAME * 50)])
    call_finalize(call_id=call.pk)
    recording = Recording.objects.get(call=call)
    data = recording.file.read()
    assert recording.size_bytes == len(data) == 44 + 2 * PHONE_RATE * 4
    assert recording.sha256 == hashlib.sha256(data).hexdigest()
    assert recording.duration_ms == 2000
    assert not list(Path(settings.STELLAR_SPOOL_DIR).glob("*.wav"))  # temporary file gone


# ---- a flooding stream does not harm another live call ----------------------------------------


@pytest.fixture(scope="module")
def paced_daphne(django_db_setup, tmp_path_factory):
    """A Daphne with the production pacing (the shared test server allows 10x for fast
    simulated callers)."""
    with daphne_server(
        "daphne-paced",
        tmp_path_factory,
        STELLAR_INBOUND_AUDIO_RATE="1.05",
        STELLAR_INBOUND_AUDIO_BURST_SECONDS="2",
    ) as server:
        server.process.ensure_running()
        yield server


async def flood(stream_url: str, call_sid: str, frames: int) -> None:
    """Start a stream and push `frames` media frames as fast as the socket takes them."""
    signature = RequestValidator(AUTH_TOKEN).compute_signature(stream_url, {})
    payload = base64.b64encode(FRAME).decode()
    message = json.dumps({"event": "media", "media": {"payload": payload}})
    start = {"callSid": call_sid, "customParameters": {}}
    async with websockets.connect(
        stream_url, additional_headers={"x-twilio-signature": signature}, max_size=None
    ) as ws:
        await ws.send(json.dumps({"event": "start", "streamSid": STREAM_SID, "start": start}))
        try:
            for _ in range(frames):
                await ws.send(message)
            await asyncio.wait_for(ws.ping(), 30)
        except websockets.ConnectionClosed:
            pass  # the server ended the flooding stream


@pytest.mark.e2e
def test_a_flooding_stream_does_not_harm_a_live_call_on_the_same_process(
    paced_daphne, transactional_db
):
    """Given a well-behaved call in progress, when another stream on the same server pushes 20
    minutes of audio as fast as it can, then the good call is answered correctly with its agent
    audio still paced, and the flood is dropped, counted and ended, its spool holding at most
    real time plus the burst."""
    good_line, flood_line = build_line(), build_line()
    outcome: dict = {}

    def good_call() -> None:
        outcome["result"] = place_call(
            paced_daphne,
            good_line,
            [WaitForAgent(), Say("What are your opening hours?"), WaitForAgent(), HangUp()],
            realtime=1.0,
        )

    worker = threading.Thread(target=good_call)
    worker.start()
    stream_url = open_stream(paced_daphne, flood_line)
    flood_call = Call.objects.filter(connector=flood_line.connector).get()
    flood_started = time.monotonic()
    asyncio.run(flood(stream_url, flood_call.call_sid, 20 * 60 * 50))
    worker.join(timeout=180)

    result = outcome["result"]
    assert result.webhook_ok and not result.errors, result.errors
    texts = [words(t) for t in result.transcribe_agent()]
    assert "thank you for calling" in texts[0] and "monday" in texts[1]
    for utt in result.agent_utterances:
        assert utt.ended_at - utt.started_at <= utt.duration + 1.0, "agent audio stalled"

    flood_call = eventually(
        lambda: Call.objects.filter(pk=flood_call.pk).exclude(input_errors={}).first(),
        timeout=60,
    )
    assert flood_call is not None, "the flooding stream should have been ended and counted"
    wall = time.monotonic() - flood_started
    assert flood_call.input_errors.get("audio_ahead_of_real_time", 0) > 60 * 50
    (limit,) = flood_call.events.filter(kind="limit")
    assert limit.data["limit"] == "inbound_audio_rate"
    caller = [r for r in iter_spool(flood_call.pk) if r[0] == CALLER]
    assert len(caller) * 0.02 <= wall * 1.05 + 2  # real time and the burst, never more
