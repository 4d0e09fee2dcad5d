"""Provider interfaces for the speech stack, so call handling never depends on a concrete model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np

from stellar.kernel.audio import PHONE_RATE

#: Telephony rate every provider speaks at its edges (Twilio media streams are 8 kHz μ-law).


class VAD(ABC):
    """Frame-level voice activity detector for 8 kHz telephone audio."""

    @abstractmethod
    def is_speech(self, frame_pcm16_8k: np.ndarray) -> bool:
        """Say whether one 20 ms frame (160 int16 samples @ 8 kHz) contains speech."""

    def new_stream(self) -> VAD:
        """Return a detector for one audio stream; stateful providers return a fresh copy."""
        return self


class STT(ABC):
    """Speech-to-text for one finished (or speculative) utterance; blocking, thread-safe."""

    #: Base languages (ISO 639-1, e.g. "en") it transcribes: what an agent may be set to speak.
    languages: tuple[str, ...] = ()

    @abstractmethod
    def transcribe(self, pcm16: np.ndarray, sample_rate: int, prompt: str | None = None) -> str:
        """Transcribe int16 mono audio at `sample_rate`; returns stripped text, "" for silence."""


class TTS(ABC):
    """Text-to-speech rendering straight to telephone-ready audio; blocking, thread-safe."""

    sample_rate: int = PHONE_RATE

    @abstractmethod
    def synthesize(self, text: str, voice: str | None = None) -> np.ndarray:
        """Render `text` to int16 mono at 8000 Hz, ready for μ-law encoding."""

    def synthesize_stream(self, text: str, voice: str | None = None) -> Iterator[np.ndarray]:
        """Yield 8 kHz int16 chunks as they are ready; default is one chunk for the whole text."""
        audio = self.synthesize(text, voice)
        if len(audio):
            yield audio

    @abstractmethod
    def voices(self) -> list[str]:
        """List the voice names `synthesize` accepts."""


class TurnDetector(ABC):
    """Scores one utterance (8 kHz int16, trailing silence included); blocking, thread-safe."""

    @abstractmethod
    def complete_probability(self, pcm16_8k: np.ndarray) -> float:
        """Probability in [0, 1] that the speaker has finished their turn."""
