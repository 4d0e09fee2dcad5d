"""The embedded speech stack, end to end with the real models (Piper, faster-whisper, webrtcvad)."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from agents.speech import registry
from agents.speech.base import STT, TTS, VAD
from agents.speech.endpointer import (
    Endpointer,
    EndpointerConfig,
    EndpointEvent,
    SpeechCancelled,
    SpeechPaused,
    SpeechStarted,
    UtteranceEnded,
)
from stellar.kernel.audio import pcm16_to_ulaw, resample, ulaw_to_pcm16

GREETING = "Thank you for calling Stellar, how can I help you today?"
MONOLOGUE = "I would like to book an appointment for next Tuesday afternoon with the dentist"
FRAME = 160  # 20 ms at 8 kHz


def words(text: str) -> str:
    """Lower-case, punctuation-free, single-spaced: what we compare transcripts on."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def phone_line(pcm: np.ndarray) -> np.ndarray:
    """What the far end hears: audio through the G.711 μ-law codec."""
    return ulaw_to_pcm16(pcm16_to_ulaw(pcm))


def silence(ms: int) -> np.ndarray:
    return np.zeros(ms * 8, dtype=np.int16)


def run(endpointer: Endpointer, audio: np.ndarray) -> list[EndpointEvent]:
    """Feed audio frame by frame (padding the tail), collecting every event."""
    if len(audio) % FRAME:
        audio = np.concatenate([audio, np.zeros(FRAME - len(audio) % FRAME, dtype=np.int16)])
    events: list[EndpointEvent] = []
    for i in range(0, len(audio), FRAME):
        events.extend(endpointer.feed(audio[i : i + FRAME], i // 8))
    return events


@pytest.fixture(scope="module")
def tts() -> TTS:
    return registry.get_tts()


@pytest.fixture(scope="module")
def stt() -> STT:
    return registry.get_stt()


@pytest.fixture(scope="module")
def vad() -> VAD:
    return registry.get_vad()


@pytest.fixture(scope="module")
def greeting() -> np.ndarray:
    """Rendered without Piper's sampling noise: the same samples in every run, so a test that
    compares two decodes of it compares the decoders, not two renderings (a proper noun like
    "Stellar" is heard differently from one rendering to the next)."""
    from agents.speech.tts import PiperTTS

    return phone_line(PiperTTS(noise_scale=0.0, noise_w_scale=0.0).synthesize(GREETING))


# --- TTS ---------------------------------------------------------------------------------------


def test_tts_renders_telephone_audio(tts: TTS, greeting: np.ndarray) -> None:
    assert tts.sample_rate == 8000
    assert "joe" in tts.voices()
    assert greeting.dtype == np.int16 and greeting.ndim == 1
    assert 1.5 < len(greeting) / 8000 < 5.0
    assert np.abs(greeting.astype(np.int32)).max() > 8000  # not silent, not whispering


def test_tts_streams_one_chunk_per_sentence(tts: TTS) -> None:
    chunks = list(tts.synthesize_stream("Hello there. Your appointment is confirmed. Goodbye."))
    assert len(chunks) == 3
    assert all(c.dtype == np.int16 and len(c) > 2000 for c in chunks)
    assert list(tts.synthesize_stream("   ")) == []
    assert len(tts.synthesize("")) == 0


def test_tts_unknown_voice_falls_back_to_default(tts: TTS) -> None:
    assert len(tts.synthesize("Okay.", voice="no-such-voice")) > 0


# --- STT ---------------------------------------------------------------------------------------


def test_tts_to_stt_round_trip_over_phone_line(stt: STT, greeting: np.ndarray) -> None:
    text = words(stt.transcribe(greeting, 8000))
    assert "thank you for calling" in text
    assert "help" in text


def test_stt_resamples_other_rates_and_accepts_a_prompt(stt: STT, greeting: np.ndarray) -> None:
    at_16k = resample(greeting, 8000, 16000)
    text = words(stt.transcribe(at_16k, 16000, prompt="Stellar, a voice agent company."))
    assert "thank you for calling" in text


def test_stt_returns_empty_for_silence(stt: STT) -> None:
    assert stt.transcribe(silence(2000), 8000) == ""
    assert stt.transcribe(silence(0), 8000) == ""
    hiss = np.random.default_rng(0).normal(0, 30, 16000).astype(np.int16)
    assert stt.transcribe(hiss, 8000) == ""


def test_stt_is_safe_from_several_threads(stt: STT, greeting: np.ndarray) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: stt.transcribe(greeting, 8000), range(3)))
    assert len(set(results)) == 1
    assert "help" in words(results[0])


@pytest.fixture
def encoder_windows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The mel-frame lengths faster-whisper pads each decode to."""
    import faster_whisper.audio

    seen: list[int] = []
    original = faster_whisper.audio.pad_or_trim

    def recording(array, length=3000, *, axis=-1):
        out = original(array, length, axis=axis)
        seen.append(out.shape[axis])
        return out

    monkeypatch.setattr(faster_whisper.audio, "pad_or_trim", recording)
    return seen


def test_stt_decodes_a_short_window_and_agrees_with_the_full_one(
    stt: STT, greeting: np.ndarray, encoder_windows: list[int]
) -> None:
    from agents.speech.stt import WhisperSTT

    short = stt.transcribe(greeting, 8000)
    seconds = len(greeting) / 8000
    # the utterance plus WINDOW_PAD_SECONDS, not Whisper's 30 s
    assert len(encoder_windows) == 1 and abs(encoder_windows[0] - (seconds + 10) * 100) <= 2
    full = WhisperSTT(window_pad_seconds=0).transcribe(greeting, 8000)
    assert encoder_windows[1:] == [3000]
    assert words(short) == words(full)


def test_stt_decodes_again_in_the_full_window_when_the_short_one_looks_wrong(
    stt: STT, greeting: np.ndarray, encoder_windows: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.speech import stt as stt_module

    before = stt.full_window_decodes
    monkeypatch.setattr(stt_module, "looks_wrong", lambda text, segments, seconds: True)
    assert "thank you for calling" in words(stt.transcribe(greeting, 8000))
    assert len(encoder_windows) == 2 and encoder_windows[0] < 3000 == encoder_windows[1]
    assert stt.full_window_decodes == before + 1


@pytest.mark.parametrize(
    ("text", "seconds", "wrong"),
    [
        ("What are your opening hours?", 1.6, False),
        ("Hello? Hello, is anyone there?", 2.0, False),
        ("Do you take visa? " * 12, 1.1, True),  # far too many words for the audio
        ("I'm", 3.2, True),  # far too few
        ("", 2.0, True),
        ("", 0.3, False),  # a cough: nothing to say
        ("Yes.", 0.6, False),
    ],
)
def test_short_window_checks(text: str, seconds: float, wrong: bool) -> None:
    from types import SimpleNamespace

    from agents.speech.stt import looks_wrong

    segments = [SimpleNamespace(avg_logprob=-0.2)] if text else []
    assert looks_wrong(text, segments, seconds) is wrong


def test_a_sentence_the_decoder_repeated_is_kept_once() -> None:
    from agents.speech.stt import collapse_repeats

    assert collapse_repeats("Where is your office? Where is your office?") == (
        "Where is your office?"
    )
    assert collapse_repeats("Hi. What are your hours? what are your hours") == (
        "Hi. What are your hours?"
    )
    assert collapse_repeats("Hello? Hello, is anyone there?") == "Hello? Hello, is anyone there?"
    assert collapse_repeats("Yes. No. Yes.") == "Yes. No. Yes."
    assert collapse_repeats("") == ""


def test_short_window_checks_trust_the_decoder_scores() -> None:
    from types import SimpleNamespace

    from agents.speech.stt import looks_wrong

    text = "What are your opening hours?"
    unsure = [SimpleNamespace(avg_logprob=-1.2)]
    assert looks_wrong(text, unsure, 1.6)
    looped = "I want to I want to I want to I want to I want to I want to"
    assert looks_wrong(looped, [SimpleNamespace(avg_logprob=-0.1)], 3.0)


# --- VAD ---------------------------------------------------------------------------------------


def test_vad_separates_silence_from_speech(vad: VAD, greeting: np.ndarray) -> None:
    quiet = silence(1000)
    assert not any(vad.is_speech(quiet[i : i + FRAME]) for i in range(0, len(quiet), FRAME))
    usable = len(greeting) - len(greeting) % FRAME
    decisions = [vad.is_speech(greeting[i : i + FRAME]) for i in range(0, usable, FRAME)]
    assert np.mean(decisions) > 0.7


def test_vad_rejects_wrong_frame_size(vad: VAD) -> None:
    with pytest.raises(ValueError):
        vad.is_speech(np.zeros(100, dtype=np.int16))


# --- end-pointer on real speech ----------------------------------------------------------------


def test_endpointer_finds_one_utterance(vad: VAD, stt: STT, greeting: np.ndarray) -> None:
    audio = np.concatenate([silence(1000), greeting, silence(800)])
    events = run(Endpointer(vad), audio)

    kinds = [type(e) for e in events]
    assert kinds.count(SpeechStarted) == 1
    assert kinds.count(UtteranceEnded) == 1
    assert SpeechCancelled not in kinds
    assert kinds[0] is SpeechStarted
    assert kinds[-1] is UtteranceEnded
    assert SpeechPaused in kinds[: kinds.index(UtteranceEnded)]

    started = events[0]
    ended = events[-1]
    assert isinstance(started, SpeechStarted) and isinstance(ended, UtteranceEnded)
    peaks = np.abs(greeting[: len(greeting) // FRAME * FRAME].astype(np.int32)).reshape(-1, FRAME)
    audible = np.nonzero(peaks.max(axis=1) > 300)[0]
    first_ms, last_ms = 1000 + audible[0] * 20, 1000 + audible[-1] * 20 + 20
    assert first_ms - 20 <= started.t_ms <= first_ms + 100
    assert ended.start_ms == started.t_ms - 200  # pre-roll
    assert last_ms - 100 <= ended.end_ms <= last_ms + 60  # VAD hangover trimmed
    assert ended.reason == "silence"
    assert ended.audio.dtype == np.int16
    # Audio spans start..end plus the 200 ms tail, and is exactly the source samples.
    assert len(ended.audio) == (ended.end_ms - ended.start_ms + 200) * 8
    np.testing.assert_array_equal(
        ended.audio, audio[ended.start_ms * 8 : ended.start_ms * 8 + len(ended.audio)]
    )
    # The last speculative snapshot is the final audio, so its transcript can be reused.
    last_pause = [e for e in events if isinstance(e, SpeechPaused)][-1]
    np.testing.assert_array_equal(last_pause.audio, ended.audio)
    assert "help" in words(stt.transcribe(ended.audio, 8000))


def test_endpointer_cuts_a_long_monologue(vad: VAD, tts: TTS) -> None:
    # One comma-free sentence, its edge silences trimmed, repeated back to back: 20 s of
    # speech whose longest pause (~80 ms) is far below end_silence_ms.
    sentence = phone_line(tts.synthesize(MONOLOGUE))
    peaks = np.abs(sentence[: len(sentence) // FRAME * FRAME].astype(np.int32))
    audible = np.nonzero(peaks.reshape(-1, FRAME).max(axis=1) > 300)[0]
    sentence = sentence[audible[0] * FRAME : (audible[-1] + 1) * FRAME]
    speech = np.tile(sentence, 20_000 * 8 // len(sentence) + 1)[: 20_000 * 8]
    events = run(Endpointer(vad), np.concatenate([silence(500), speech, silence(1000)]))

    ended = [e for e in events if isinstance(e, UtteranceEnded)]
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    assert [e.reason for e in ended] == ["max_length", "silence"]
    assert len(starts) == 2
    first, second = ended
    assert first.end_ms - first.start_ms == 15_000
    assert len(first.audio) == 15_000 * 8
    # The continuation picks up where the cut was (pre-roll bridges word gaps): nothing repeated.
    assert first.end_ms <= second.start_ms <= first.end_ms + 300
    assert 500 + 20_000 - 100 <= second.end_ms <= 500 + 20_000


# --- end-pointer logic, with a simple energy detector for exact timing -------------------------


class EnergyVAD(VAD):
    """Loud frame = speech; lets the tests place speech to the frame."""

    def is_speech(self, frame_pcm16_8k: np.ndarray) -> bool:
        return bool(np.abs(frame_pcm16_8k.astype(np.int32)).max() > 1000)


def tone(ms: int) -> np.ndarray:
    return np.full(ms * 8, 5000, dtype=np.int16)


def test_blip_is_announced_then_cancelled_without_an_utterance() -> None:
    events = run(Endpointer(EnergyVAD()), np.concatenate([silence(400), tone(100), silence(1000)]))
    assert [type(e) for e in events] == [SpeechStarted, SpeechCancelled]
    assert events[0].t_ms == 400
    assert events[1].start_ms == 400


def test_too_short_onset_is_ignored() -> None:
    events = run(Endpointer(EnergyVAD()), np.concatenate([silence(400), tone(40), silence(1000)]))
    assert events == []


def test_short_gap_does_not_split_an_utterance() -> None:
    audio = np.concatenate([silence(1000), tone(300), silence(300), tone(300), silence(600)])
    events = run(Endpointer(EnergyVAD()), audio)
    assert [type(e) for e in events] == [SpeechStarted, SpeechPaused, SpeechPaused, UtteranceEnded]
    started, pause1, pause2, ended = events
    assert started.t_ms == 1000
    assert pause1.t_ms == 1500  # 200 ms into the gap
    assert pause2.t_ms == 2100
    assert (ended.start_ms, ended.end_ms, ended.reason) == (800, 1900, "silence")
    np.testing.assert_array_equal(ended.audio, audio[800 * 8 : 2100 * 8])


def test_pre_roll_is_limited_by_available_audio_and_config() -> None:
    config = EndpointerConfig(pre_roll_ms=100, end_silence_ms=300)
    events = run(
        Endpointer(EnergyVAD(), config), np.concatenate([silence(40), tone(400), silence(400)])
    )
    ended = [e for e in events if isinstance(e, UtteranceEnded)][0]
    assert (ended.start_ms, ended.end_ms) == (0, 440)
    events = run(
        Endpointer(EnergyVAD(), config), np.concatenate([silence(500), tone(400), silence(400)])
    )
    ended = [e for e in events if isinstance(e, UtteranceEnded)][0]
    assert (ended.start_ms, ended.end_ms) == (400, 900)


class HangoverVAD(EnergyVAD):
    """Keeps saying "speech" for 200 ms after the sound stops, like WebRTC VAD does."""

    def __init__(self) -> None:
        self.hang = 0

    def is_speech(self, frame_pcm16_8k: np.ndarray) -> bool:
        if super().is_speech(frame_pcm16_8k):
            self.hang = 10
            return True
        self.hang = max(0, self.hang - 1)
        return self.hang > 0


def test_vad_hangover_and_faint_noise_do_not_delay_the_end() -> None:
    noise = (
        np.random.default_rng(1).normal(0, 8, 2000 * 8).astype(np.int16)
    )  # peaks ~45 dB below the tone
    audio = np.concatenate([silence(1000), tone(400), noise])
    audio[:8000] = noise[:8000]
    trimmed = run(Endpointer(HangoverVAD()), audio)
    raw = run(Endpointer(HangoverVAD(), EndpointerConfig(trailing_floor_db=0)), audio)
    assert [(e.start_ms, e.end_ms) for e in trimmed if isinstance(e, UtteranceEnded)] == [
        (800, 1400)
    ]
    assert [(e.start_ms, e.end_ms) for e in raw if isinstance(e, UtteranceEnded)] == [(800, 1580)]


def test_endpointer_survives_long_idle_stretches() -> None:
    endpointer = Endpointer(EnergyVAD(), EndpointerConfig(max_utterance_ms=1000))
    audio = np.concatenate([silence(5000), tone(300), silence(700)] * 3)
    events = run(endpointer, audio)
    ended = [e for e in events if isinstance(e, UtteranceEnded)]
    assert [(e.start_ms, e.end_ms) for e in ended] == [(4800, 5300), (10800, 11300), (16800, 17300)]
    assert all(len(e.audio) == 700 * 8 for e in ended)


# --- registry ----------------------------------------------------------------------------------


def test_registry_returns_process_singletons(vad: VAD, stt: STT, tts: TTS) -> None:
    assert registry.get_vad() is vad is registry.get_vad()
    assert registry.get_stt() is stt is registry.get_stt()
    assert registry.get_tts() is tts is registry.get_tts()
    assert isinstance(vad, VAD) and isinstance(stt, STT) and isinstance(tts, TTS)


def test_each_stream_gets_its_own_vad_state(vad: VAD) -> None:
    a, b = Endpointer(vad), Endpointer(vad)
    assert a._vad is not b._vad and a._vad is not vad


def test_unknown_provider_name_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_setting", lambda name: "nope")
    monkeypatch.setattr(registry, "_instances", {})
    with pytest.raises(ValueError, match="STELLAR_VAD='nope'"):
        registry.get_vad()


def test_lazy_singleton_loads_once_under_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[int] = []

    def slow_factory() -> VAD:
        loads.append(threading.get_ident())
        time.sleep(0.05)
        return EnergyVAD()

    monkeypatch.setattr(registry, "VAD_PROVIDERS", {"webrtc": slow_factory})
    monkeypatch.setattr(registry, "_instances", {})
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda _: registry.get_vad(), range(8)))
    assert len(loads) == 1
    assert all(g is got[0] for g in got)


def test_warm_up_loads_everything(vad: VAD, stt: STT, tts: TTS) -> None:
    registry.warm_up()
    assert registry.get_vad() is vad and registry.get_stt() is stt and registry.get_tts() is tts
