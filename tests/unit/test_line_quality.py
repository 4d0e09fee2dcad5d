"""The line-quality meter on synthetic phone audio: a clean voice-like tone, the same with white
noise, clipped, too quiet, and with frames lost in transit."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import numpy as np
import pytest

from agents.speech.endpointer import Endpointer, EndpointerConfig
from agents.speech.line_quality import LineQualityMeter
from calls.runtime.clock import CallClock
from calls.runtime.listener import Listener
from stellar.kernel.audio import FRAME_MS, PHONE_RATE, pcm16_to_ulaw, ulaw_to_pcm16
from tests.unit.call_runtime_fakes import (
    EnergyVAD,
    FakeSTT,
    InlineExecutor,
    payloads,
    quiet,
    run_virtual,
    tone,
)

FRAME = PHONE_RATE * FRAME_MS // 1000
SPEECH_DBFS = -25.0


def talk(seconds: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """A voiced-like signal (150 Hz with harmonics) at SPEECH_DBFS RMS, 1 s on / 0.5 s off, and
    which frames are "speech"."""
    t = np.arange(int(seconds * PHONE_RATE)) / PHONE_RATE
    wave = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in (1, 2, 3, 5))
    wave *= 32768 * 10 ** (SPEECH_DBFS / 20) / np.sqrt(np.mean(wave**2))
    frames = len(t) // FRAME
    on = (np.arange(frames) * FRAME_MS) % 1500 < 1000
    wave *= np.repeat(on, FRAME)[: len(t)]
    return wave[: frames * FRAME], on


def measure(
    wave: np.ndarray,
    on: np.ndarray,
    *,
    noise_dbfs: float | None = None,
    lost: Collection[int] = (),
    reorder: bool = False,
) -> dict[str, Any]:
    """Through μ-law, as the phone delivers it, frame by frame with media timestamps."""
    if noise_dbfs is not None:
        rng = np.random.default_rng(7)
        wave = wave + rng.normal(0, 32768 * 10 ** (noise_dbfs / 20), len(wave))
    pcm = ulaw_to_pcm16(pcm16_to_ulaw(np.clip(wave, -32768, 32767).astype(np.int16)))
    meter = LineQualityMeter()
    order = list(range(len(on)))
    if reorder:  # two frames swapped in transit: late, not lost
        order[10], order[11] = order[11], order[10]
    for i in order:
        if i in lost:
            continue
        meter.feed(pcm[i * FRAME : (i + 1) * FRAME], voiced=bool(on[i]), timestamp_ms=i * FRAME_MS)
    return meter.summary()


def test_a_clean_line_is_good() -> None:
    s = measure(*talk())
    assert s["verdict"] == "good" and s["reasons"] == [] and s["hint"] == ""
    assert s["speech_dbfs"] == pytest.approx(SPEECH_DBFS, abs=1.0)
    assert s["noise_floor_dbfs"] == -100.0  # μ-law silence decodes to 0
    assert s["clipping_pct"] == 0 and s["gap_count"] == 0 and s["gap_pct"] == 0
    assert s["audio_ms"] == 6000 and s["voiced_ms"] == 4000


def test_pauses_the_end_pointer_counts_as_speech_do_not_lower_the_level() -> None:
    wave, on = talk()
    s = measure(wave, np.ones_like(on))  # its hangover: every frame "in speech"
    assert s["speech_dbfs"] == pytest.approx(SPEECH_DBFS, abs=1.0)


def test_white_noise_at_15_db_snr_makes_a_fair_line() -> None:
    s = measure(*talk(), noise_dbfs=SPEECH_DBFS - 15)
    assert s["noise_floor_dbfs"] == pytest.approx(SPEECH_DBFS - 15, abs=1.0)
    assert s["verdict"] == "fair" and s["hint"] == ""
    assert s["reasons"] == ["noisy line: noise floor -40 dBFS"]


def test_loud_noise_makes_a_poor_line_with_a_hint() -> None:
    s = measure(*talk(), noise_dbfs=SPEECH_DBFS - 5)
    assert s["verdict"] == "poor"
    assert s["hint"] == "Check the caller's network or surroundings; noise floor -30 dBFS."


def test_a_clipped_signal_is_poor() -> None:
    wave, on = talk()
    s = measure(wave * 20, on)  # +26 dB: peaks twice full scale
    assert s["verdict"] == "poor"
    assert s["clipping_pct"] > 5
    assert "microphone gain" in s["hint"]


def test_a_slightly_hot_signal_is_not_called_clipped() -> None:
    wave, on = talk()
    s = measure(wave * 10 ** (12 / 20), on)  # −13 dBFS RMS: peaks stay under full scale
    assert s["clipping_pct"] == 0 and s["verdict"] == "good"


def test_a_quiet_caller_is_poor() -> None:
    wave, on = talk()
    s = measure(wave * 10 ** (-30 / 20), on)
    assert s["speech_dbfs"] == pytest.approx(SPEECH_DBFS - 30, abs=1.0)
    assert s["verdict"] == "poor" and "very quiet" in s["hint"]


def test_dropped_frames_are_counted_as_gaps() -> None:
    wave, on = talk()  # 300 frames
    lost = {50, 51, 52, 120, 200, 201, 250, 251, 252, 253}  # 10 frames in 4 gaps: 3.3 %
    s = measure(wave, on, lost=lost)
    assert s["gap_count"] == 4 and s["gap_ms"] == 200
    assert s["gap_pct"] == pytest.approx(100 * 10 / 300, abs=0.01)
    assert s["verdict"] == "poor" and s["hint"].startswith("Check the caller's network")


def test_a_few_lost_frames_make_a_fair_line() -> None:
    s = measure(*talk(), lost={100, 200})  # 0.67 %
    assert s["gap_count"] == 2 and s["verdict"] == "fair"


def test_late_frames_are_not_gaps() -> None:
    s = measure(*talk(), reorder=True)
    assert s["out_of_order"] == 1
    # the late frame's slot looked like a 20 ms gap when its successor came first
    assert s["gap_count"] == 1 and s["gap_ms"] == 20


def test_without_timestamps_or_speech_nothing_is_made_up() -> None:
    meter = LineQualityMeter()
    for _ in range(50):
        meter.feed(np.zeros(FRAME, dtype=np.int16), voiced=False)
    s = meter.summary()
    assert s["speech_dbfs"] is None and s["gap_count"] == 0 and s["verdict"] == "good"
    assert LineQualityMeter().summary()["audio_ms"] == 0


def test_the_listener_measures_each_frame_of_a_payload_with_its_timestamp() -> None:
    """Wired into the call's inbound path: two-frame payloads, one of them lost in transit."""

    async def main() -> dict[str, Any]:
        clock = CallClock()
        clock.start()
        listener = Listener(
            endpointer=Endpointer(EnergyVAD(), EndpointerConfig()),
            stt=lambda: FakeSTT("hello"),
            prompt=None,
            clock=clock,
            executor=InlineExecutor(),
        )
        for n, payload in enumerate(payloads(quiet(400) + tone(1000) + quiet(1000), frames=2)):
            await asyncio.sleep(0.04)
            if n != 5:  # 40 ms lost in the leading silence
                listener.hear(payload, timestamp_ms=n * 2 * FRAME_MS)
        return listener.line.summary()

    s = run_virtual(main())
    assert s["gap_count"] == 1 and s["gap_ms"] == 40 and s["audio_ms"] == 2360
    assert s["speech_dbfs"] == pytest.approx(20 * np.log10(5000 / 32768), abs=0.5)
    assert 900 <= s["voiced_ms"] <= 2000 and s["noise_floor_dbfs"] == -100.0
