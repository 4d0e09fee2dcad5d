"""WebRTC voice activity detection: microseconds per frame, so it can run on every call's audio."""

from __future__ import annotations

import threading

import numpy as np
import webrtcvad

from agents.speech.base import VAD
from stellar.kernel.audio import PHONE_RATE

_VALID_FRAME_SAMPLES = (80, 160, 240)  # 10, 20 or 30 ms at 8 kHz: what libfvad accepts


class WebRtcVAD(VAD):
    """webrtcvad (libfvad) wrapper; aggressiveness 0 (permissive) .. 3 (strict)."""

    def __init__(self, aggressiveness: int = 2) -> None:
        """Create one detector; its noise model adapts, so use `new_stream()` per call."""
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"webrtcvad aggressiveness must be 0..3, got {aggressiveness}")
        self.aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)
        self._lock = threading.Lock()

    def is_speech(self, frame_pcm16_8k: np.ndarray) -> bool:
        """Classify one 10/20/30 ms int16 frame at 8 kHz (20 ms = 160 samples is the norm)."""
        frame = frame_pcm16_8k
        if frame.dtype != np.int16 or not frame.flags.c_contiguous:
            frame = np.ascontiguousarray(frame, dtype=np.int16)
        if frame.shape[0] not in _VALID_FRAME_SAMPLES:
            raise ValueError(f"VAD frame must be 80/160/240 samples at 8 kHz, got {frame.shape}")
        with self._lock:  # the C detector keeps state; never run it from two threads at once
            return bool(self._vad.is_speech(frame, PHONE_RATE))

    def new_stream(self) -> WebRtcVAD:
        """Fresh detector state for one call, so calls do not adapt to each other's noise."""
        return WebRtcVAD(self.aggressiveness)
