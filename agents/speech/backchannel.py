"""Is the caller taking the floor, or just saying "mhm" / coughing / crackling?

The end-pointer's SpeechStarted fires 60 ms into anything the VAD calls voice, so stopping the
agent there makes every "yeah", cough or burst of line noise an interruption. This judge
follows the same audio frame by frame and confirms speech only once it has been *sustained,
voiced and loud* for `confirm_ms`: a cough is loud but unvoiced and short, line noise is
neither periodic nor loud, a backchannel is short and usually softer than the caller's
sentences. It has to decide within the barge-in budget (clear ≤ 300 ms after onset), so it
uses only cheap per-frame measures (level, autocorrelation voicing), no model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stellar.kernel.audio import PHONE_RATE

_MIN_LAG = PHONE_RATE // 400  # 400 Hz: highest pitch looked for
_MAX_LAG = PHONE_RATE // 60  # 60 Hz: lowest
_WINDOW = 2 * _MAX_LAG + 40  # samples the voicing measure looks at (≈ 37 ms)


@dataclass(frozen=True)
class BargeInConfig:
    """Thresholds (tuned on the tune half of benchmarks/turntaking, see docs/speech.md)."""

    confirm_ms: int = 140  # speech-like audio, counted from onset, that makes an interruption
    voicing: float = 0.35  # normalised autocorrelation a frame needs to count as voiced
    floor_dbfs: float = -42.0  # quieter frames are never speech (line noise, far-end bleed)
    below_peak_db: float = 15.0  # frames this far below the blip's own peak are its tail
    below_caller_db: float = 8.0  # peak this far below the caller's usual level: a backchannel


def frame_dbfs(frame: np.ndarray) -> float:
    """RMS level of int16 samples in dB below full scale."""
    x = frame.astype(np.float64)
    rms = float(np.sqrt(np.mean(x * x))) if len(x) else 0.0
    return 20.0 * float(np.log10(max(rms, 1.0) / 32768.0))


def voicing(window: np.ndarray) -> tuple[float, int]:
    """Peak normalised autocorrelation over pitch lags (≈1 for a vowel, ≈0 for noise) and the
    lag (pitch period, samples) where it peaks."""
    x = window.astype(np.float64)
    x = x - x.mean()
    n = len(x) - _MAX_LAG
    if n <= 0:
        return 0.0, 0
    head = x[:n]
    lags = np.arange(_MIN_LAG, _MAX_LAG + 1)
    tails = np.lib.stride_tricks.sliding_window_view(x, n)[lags]  # (lags, n), no copy
    dots = tails @ head
    energies = np.einsum("ij,ij->i", tails, tails) * float(np.dot(head, head))
    scores = np.where(energies > 0, dots / np.sqrt(np.maximum(energies, 1e-12)), 0.0)
    peak = float(scores.max())
    first = int(np.argmax(scores >= 0.9 * peak))  # the shortest strong lag: no octave errors
    return peak, int(lags[first])


class BargeInJudge:
    """One per call: `start` at SpeechStarted, `feed` each following frame until it confirms."""

    def __init__(self, config: BargeInConfig | None = None) -> None:
        """Start with no idea of the caller's level; `learn` it from their turns."""
        self.config = config or BargeInConfig()
        self.caller_dbfs: float | None = None  # typical peak frame level of the caller's turns
        self._tail = np.zeros(0, dtype=np.int16)
        self._speech_ms = 0
        self._peak = -120.0
        self._lags: list[int] = []
        self._active = False

    def start(
        self, onset: np.ndarray, frame_samples: int = 160, before: np.ndarray | None = None
    ) -> bool:
        """New candidate, `onset` = the audio that triggered SpeechStarted; True if confirmed.
        `before` (the audio just ahead of it) lets the voicing measure judge the first frame."""
        self._tail = np.zeros(0, dtype=np.int16) if before is None else before[-_WINDOW:]
        self._speech_ms = 0
        self._peak = -120.0
        self._lags = []  # pitch period of each voiced frame: a voice's moves, a hum's does not
        self._active = True
        confirmed = False
        for i in range(0, len(onset) - frame_samples + 1, frame_samples):
            confirmed = self.feed(onset[i : i + frame_samples]) or confirmed
        return confirmed

    def feed(self, frame: np.ndarray) -> bool:
        """True exactly once, on the frame where the candidate becomes a real interruption."""
        if not self._active:
            return False
        cfg = self.config
        self._tail = np.concatenate([self._tail, frame.astype(np.int16)])[-_WINDOW:]
        level = frame_dbfs(frame)
        self._peak = max(self._peak, level)
        loud = level >= cfg.floor_dbfs and level >= self._peak - cfg.below_peak_db
        if loud and len(self._tail) >= _MAX_LAG + 80:
            score, lag = voicing(self._tail)
            if score >= cfg.voicing:
                self._speech_ms += len(frame) * 1000 // PHONE_RATE
                self._lags.append(lag)
        if self._speech_ms < cfg.confirm_ms:
            return False
        if max(self._lags) - min(self._lags) <= 1:
            return False  # one unwavering pitch: mains hum or a tone, not a voice
        if self.caller_dbfs is not None and self._peak < self.caller_dbfs - cfg.below_caller_db:
            return False  # long enough but murmured far below how this caller talks
        self._active = False
        return True

    def stop(self) -> None:
        """The candidate ended (utterance over or cancelled) without being confirmed."""
        self._active = False

    def learn(self, utterance: np.ndarray, frame_samples: int = 160) -> None:
        """Update the caller's usual level from a turn they took while the agent was silent."""
        levels = [
            frame_dbfs(utterance[i : i + frame_samples])
            for i in range(0, len(utterance) - frame_samples + 1, frame_samples)
        ]
        if not levels:
            return
        peak = float(np.percentile(levels, 90))
        self.caller_dbfs = peak if self.caller_dbfs is None else 0.7 * self.caller_dbfs + 0.3 * peak
