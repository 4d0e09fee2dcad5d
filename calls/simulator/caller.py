"""Caller audio sources: WAV files, tones for tests, and the project's TTS (lazily)."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np

from agents.speech.registry import get_tts
from calls.simulator.script import Audio, Say
from stellar.kernel.audio import PHONE_RATE, pcm16_to_ulaw, resample


def _decode_frames(raw: bytes, sample_width: int) -> np.ndarray:
    """PCM bytes of any common width → float samples on the int16 scale."""
    if sample_width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    if sample_width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float64)
    if sample_width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - (1 << 24), v)
        return v.astype(np.float64) / 256.0
    if sample_width == 4:
        return np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0
    raise ValueError(f"unsupported WAV sample width: {sample_width} bytes")


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a PCM WAV as mono int16 (channels averaged) and its sample rate."""
    with wave.open(str(path), "rb") as w:
        channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        raw = w.readframes(w.getnframes())
    samples = _decode_frames(raw, width)
    if channels > 1:
        samples = samples[: len(samples) - len(samples) % channels]
        samples = samples.reshape(-1, channels).mean(axis=1)
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16), rate


def load_wav(path: str | Path) -> np.ndarray:
    """A WAV file as int16 mono at the 8 kHz Twilio rate."""
    samples, rate = read_wav(path)
    return resample(samples, rate, PHONE_RATE)


def write_wav(path: str | Path, samples: np.ndarray, rate: int = PHONE_RATE) -> None:
    """Save int16 mono audio (e.g. what the agent said) for listening."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def tone(
    freq: float = 440.0, seconds: float = 1.0, rate: int = PHONE_RATE, amplitude: float = 0.3
) -> np.ndarray:
    """A sine tone: stand-in speech for tests that must not depend on the TTS."""
    t = np.arange(int(round(seconds * rate))) / rate
    return np.round(np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype(np.int16)


def to_ulaw(samples: np.ndarray, rate: int = PHONE_RATE) -> bytes:
    """int16 audio at any rate → 8 kHz μ-law as Twilio streams it."""
    return pcm16_to_ulaw(resample(np.asarray(samples, dtype=np.int16), rate, PHONE_RATE))


async def synthesize(text: str, voice: str | None = None) -> np.ndarray:
    """Caller speech from the project's TTS, off the event loop."""

    tts = await asyncio.to_thread(get_tts)
    return await asyncio.to_thread(tts.synthesize, text, voice)


async def render(step: Say | Audio) -> bytes:
    """The μ-law bytes a speech step will send."""
    if isinstance(step, Say):
        return to_ulaw(await synthesize(step.text, step.voice))
    if isinstance(step.source, np.ndarray):
        return to_ulaw(step.source, step.sample_rate)
    return pcm16_to_ulaw(await asyncio.to_thread(load_wav, step.source))
