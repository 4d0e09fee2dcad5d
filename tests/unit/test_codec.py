"""G.711 μ-law codec must match audioop bit for bit: Twilio hears exactly these bytes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from stellar.kernel.audio import (
    FRAME_BYTES,
    PHONE_RATE,
    frames,
    pcm16_to_ulaw,
    resample,
    ulaw_to_pcm16,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # Python >= 3.13
        audioop = None

needs_audioop = pytest.mark.skipif(audioop is None, reason="audioop removed in Python 3.13")

ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_ULAW = bytes(range(256))


@needs_audioop
def test_encode_matches_audioop_for_every_int16() -> None:
    expected = audioop.lin2ulaw(ALL_PCM.tobytes(), 2)  # native-endian int16, as audioop wants
    assert pcm16_to_ulaw(ALL_PCM) == expected


@needs_audioop
def test_decode_matches_audioop_for_every_byte() -> None:
    expected = np.frombuffer(audioop.ulaw2lin(ALL_ULAW, 2), dtype=np.int16)
    decoded = ulaw_to_pcm16(ALL_ULAW)
    assert decoded.dtype == np.int16
    np.testing.assert_array_equal(decoded, expected)


def test_known_code_points() -> None:
    assert ulaw_to_pcm16(b"\xff\x7f\x00\x80").tolist() == [0, 0, -32124, 32124]
    assert pcm16_to_ulaw(np.array([0, 32767, -32768], dtype=np.int16)) == b"\xff\x80\x00"


def test_decode_encode_is_identity_on_codewords() -> None:
    decoded = ulaw_to_pcm16(ALL_ULAW)
    # 0x7F and 0xFF both decode to 0, which re-encodes as 0xFF; every other codeword round-trips.
    reencoded = pcm16_to_ulaw(decoded)
    expected = bytes(0xFF if b == 0x7F else b for b in ALL_ULAW)
    assert reencoded == expected


def test_encode_accepts_non_int16_input() -> None:
    samples = np.array([0, 1000, -1000], dtype=np.int64)
    assert pcm16_to_ulaw(samples) == pcm16_to_ulaw(samples.astype(np.int16))


@pytest.mark.parametrize(
    ("src", "dst", "n", "expected"),
    [
        (8000, 16000, 1600, 3200),
        (16000, 8000, 3200, 1600),
        (22050, 8000, 22050, 8000),
        (22050, 8000, 441, 160),
        (8000, 8000, 123, 123),
        (8000, 16000, 0, 0),
    ],
)
def test_resample_lengths(src: int, dst: int, n: int, expected: int) -> None:
    out = resample(np.zeros(n, dtype=np.int16), src, dst)
    assert out.dtype == np.int16
    assert len(out) == expected


@pytest.mark.parametrize(("src", "dst"), [(22050, 8000), (8000, 16000), (16000, 8000)])
def test_resample_keeps_frequency_and_level(src: int, dst: int) -> None:
    tone_hz = 1000
    t = np.arange(src) / src
    tone = (10000 * np.sin(2 * np.pi * tone_hz * t)).astype(np.int16)
    out = resample(tone, src, dst)
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64)))
    peak_hz = np.argmax(spectrum) * dst / len(out)
    assert abs(peak_hz - tone_hz) <= 2
    middle = out[dst // 10 : -dst // 10].astype(np.float64)
    assert 9000 < np.sqrt(2 * np.mean(middle**2)) < 11000


def test_resample_removes_content_above_new_nyquist() -> None:
    t = np.arange(22050) / 22050
    tone = (10000 * np.sin(2 * np.pi * 6000 * t)).astype(np.int16)  # above 4 kHz Nyquist
    out = resample(tone, 22050, 8000)[800:-800].astype(np.float64)
    assert np.sqrt(np.mean(out**2)) < 300  # anti-alias filter, not a folded 2 kHz tone


def test_resample_full_scale_clips_instead_of_wrapping() -> None:
    square = np.tile(np.r_[np.full(20, 32767), np.full(20, -32768)], 50).astype(np.int16)
    periods = resample(square, 8000, 16000).reshape(50, 80)  # 40 samples/half-period at 16 kHz
    # Filter overshoot must saturate; an int16 wraparound would flip the sign mid-plateau.
    assert periods[:, 10:30].min() > 20000
    assert periods[:, 50:70].max() < -20000
    assert periods.max() == 32767 and periods.min() == -32768


def test_frames_pads_last_frame_with_ulaw_silence() -> None:
    assert FRAME_BYTES == 160 and PHONE_RATE == 8000
    data = bytes(range(200)) + bytes(200)
    out = frames(data)
    assert [len(f) for f in out] == [160, 160, 160]
    assert b"".join(out)[:400] == data
    assert out[-1][80:] == b"\xff" * 80
    assert ulaw_to_pcm16(b"\xff").tolist() == [0]


def test_frames_exact_multiple_and_empty() -> None:
    data = b"\x01" * 320
    assert frames(data) == [b"\x01" * 160, b"\x01" * 160]
    assert frames(b"") == []
    assert frames(b"\x02" * 10, size=4) == [b"\x02" * 4, b"\x02" * 4, b"\x02\x02\xff\xff"]
