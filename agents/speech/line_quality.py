"""How good the caller's line was: level, clipping, noise floor and packet gaps of the inbound
audio, summed up per stream with a verdict ("good" / "fair" / "poor") and the reasons.

Fed every inbound 20 ms PCM16 frame as it is decoded. Per frame the cost is one RMS, one clip
count and one histogram bin (O(1) time and memory, however long the call): percentiles are read
from 0.5 dB histograms, not from stored frames.

The speech level is the median of the frames the end-pointer held as speech that stand
ACTIVE_MARGIN_DB above the noise floor (in the spirit of ITU-T P.56's active speech level: the
pauses inside and after an utterance are not speech). Levels are dBFS against a full-scale square wave (RMS 32768), so a full-scale sine is −3 dBFS.

The thresholds are set from first principles, not fitted to any test set:
- speech level: telephone speech is sent at about −26 dBov active level (ITU-T P.56 / G.711
  practice; −20 to −30 dBFS). 15 dB below that (−41) is a quiet line ("fair"); 25 dB below
  (−51) leaves speech close to μ-law's coarse low codes and the recognizer's noise ("poor").
- clipping: μ-law's largest code decodes to ±32124 and the next one to ±31100, so a sample at or
  above 32000 is at full scale. A clean line has none; > 0.1 % of speech samples is audible
  distortion ("fair"), > 0.5 % is a saturated microphone or a gain stage ("poor").
- noise floor (10th percentile of all frames' RMS: the quietest moments, between words): a quiet
  line is below −60 dBFS. Above −45 dBFS the noise is ≈ 20 dB under normal speech, where
  recognition starts to slip ("fair"); above −35 dBFS it is ≈ 10 dB under ("poor").
- packet gaps (media timestamps that never arrived): G.711 concealment hides isolated losses up
  to ≈ 0.5 % unnoticed ("fair" beyond it); past 2 % words are lost outright ("poor").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stellar.kernel.audio import PHONE_RATE

FULL_SCALE = 32768.0
CLIP_LEVEL = 32000  # the top μ-law code (32124), not the next one (31100)
FLOOR_DBFS = -100.0  # digital silence is reported as this, not −∞
BIN_DB = 0.5
_BINS = int(-FLOOR_DBFS / BIN_DB) + 1
NOISE_PERCENTILE = 10
ACTIVE_MARGIN_DB = 10.0  # a speech frame counts towards the level this far above the floor
GAP_TOLERANCE_MS = 10  # half a frame: timestamps are whole milliseconds, jitter is not a gap

# (fair, poor) limits; see the module docstring for where they come from.
QUIET_DBFS = (-41.0, -51.0)
CLIPPING_PCT = (0.1, 0.5)
NOISE_DBFS = (-45.0, -35.0)
GAP_PCT = (0.5, 2.0)


@dataclass
class LineQualityMeter:
    """One inbound stream's accumulator. `feed` each decoded frame; `summary()` at the end."""

    _all_hist: np.ndarray = field(default_factory=lambda: np.zeros(_BINS, dtype=np.int64))
    _voiced_hist: np.ndarray = field(default_factory=lambda: np.zeros(_BINS, dtype=np.int64))
    samples: int = 0
    voiced_samples: int = 0
    clipped_voiced: int = 0
    clipped: int = 0
    gap_count: int = 0
    gap_ms: int = 0
    out_of_order: int = 0
    _next_ms: int | None = None  # the media timestamp the next frame should carry

    def feed(self, frame: np.ndarray, *, voiced: bool, timestamp_ms: int | None = None) -> None:
        """One frame of int16 samples at 8 kHz; `voiced`: the caller was speaking in it (the
        end-pointer's view); `timestamp_ms`: its media timestamp, when the stream gives one."""
        n = int(frame.shape[0])
        if n == 0:
            return
        if timestamp_ms is not None:
            self._arrived(timestamp_ms, n * 1000 // PHONE_RATE)
        x = frame.astype(np.float32)
        rms = math.sqrt(float(np.dot(x, x)) / n)
        db = 20.0 * math.log10(rms / FULL_SCALE) if rms > 0 else FLOOR_DBFS
        index = _index(db)
        clipped = int(np.count_nonzero((frame >= CLIP_LEVEL) | (frame <= -CLIP_LEVEL)))
        self._all_hist[index] += 1
        self.samples += n
        self.clipped += clipped
        if voiced:
            self._voiced_hist[index] += 1
            self.voiced_samples += n
            self.clipped_voiced += clipped

    def _arrived(self, timestamp_ms: int, duration_ms: int) -> None:
        expected = self._next_ms
        if expected is not None and timestamp_ms < expected - GAP_TOLERANCE_MS:
            self.out_of_order += 1  # a late or repeated frame: its slot was already counted
            return
        if expected is not None and timestamp_ms > expected + GAP_TOLERANCE_MS:
            self.gap_count += 1
            self.gap_ms += timestamp_ms - expected
        self._next_ms = timestamp_ms + duration_ms

    def summary(self) -> dict[str, Any]:
        """JSON-ready: the measures, the verdict, its reasons and, for a poor line, a hint."""
        audio_ms = self.samples * 1000 // PHONE_RATE
        voiced_ms = self.voiced_samples * 1000 // PHONE_RATE
        noise = _percentile(self._all_hist, NOISE_PERCENTILE)
        # The end-pointer's "in speech" spans the pauses between words and its closing silence:
        # only frames well above the noise floor count towards the speech level.
        active = self._voiced_hist.copy()
        if noise is not None:
            active[: _index(noise + ACTIVE_MARGIN_DB)] = 0
        speech = _percentile(active, 50)
        clip_base = self.voiced_samples or self.samples
        clip_count = self.clipped_voiced if self.voiced_samples else self.clipped
        clipping = 100.0 * clip_count / clip_base if clip_base else 0.0
        expected_ms = audio_ms + self.gap_ms
        gaps = 100.0 * self.gap_ms / expected_ms if expected_ms else 0.0
        findings = _judge(speech, clipping, noise, gaps)
        poor = [f for f in findings if f[0] == "poor"]
        verdict = "poor" if poor else "fair" if findings else "good"
        return {
            "verdict": verdict,
            "reasons": [text for _, text, _ in findings],
            "hint": poor[0][2] if poor else "",
            "speech_dbfs": None if speech is None else round(speech, 1),
            "noise_floor_dbfs": None if noise is None else round(noise, 1),
            "clipping_pct": round(clipping, 2),
            "gap_count": self.gap_count,
            "gap_ms": self.gap_ms,
            "gap_pct": round(gaps, 2),
            "out_of_order": self.out_of_order,
            "audio_ms": audio_ms,
            "voiced_ms": voiced_ms,
        }


def _index(db: float) -> int:
    return min(_BINS - 1, max(0, int((db - FLOOR_DBFS) / BIN_DB)))


def _percentile(hist: np.ndarray, q: float) -> float | None:
    """The q-th percentile of a dB histogram (bin centre), None when it is empty."""
    total = int(hist.sum())
    if total == 0:
        return None
    index = int(np.searchsorted(np.cumsum(hist), math.ceil(total * q / 100)))
    if index == 0:
        return FLOOR_DBFS  # digital silence (or quieter than the first bin)
    return FLOOR_DBFS + (index + 0.5) * BIN_DB


def _judge(
    speech: float | None, clipping: float, noise: float | None, gaps: float
) -> list[tuple[str, str, str]]:
    """(severity, reason, hint) per measure out of bounds, most actionable first."""
    found: list[tuple[str, str, str]] = []

    def grade(value: float, limits: tuple[float, float], *, above: bool) -> str | None:
        fair, poor = limits
        if (value > poor) if above else (value < poor):
            return "poor"
        if (value > fair) if above else (value < fair):
            return "fair"
        return None

    if (level := grade(gaps, GAP_PCT, above=True)) is not None:
        found.append(
            (
                level,
                f"packet gaps: {gaps:.1f} % of the audio never arrived",
                f"Check the caller's network: {gaps:.1f} % of their audio was lost in transit.",
            )
        )
    if noise is not None and (level := grade(noise, NOISE_DBFS, above=True)) is not None:
        found.append(
            (
                level,
                f"noisy line: noise floor {noise:.0f} dBFS",
                f"Check the caller's network or surroundings; noise floor {noise:.0f} dBFS.",
            )
        )
    if (level := grade(clipping, CLIPPING_PCT, above=True)) is not None:
        found.append(
            (
                level,
                f"clipping: {clipping:.2f} % of speech samples at full scale",
                f"The caller's audio is clipped ({clipping:.1f} %): their microphone gain is too "
                "high.",
            )
        )
    if speech is not None and (level := grade(speech, QUIET_DBFS, above=False)) is not None:
        found.append(
            (
                level,
                f"quiet caller: speech at {speech:.0f} dBFS",
                f"The caller was very quiet (speech at {speech:.0f} dBFS): a weak microphone "
                "or a muffled handset.",
            )
        )
    return found
