"""Bit-exact G.711 μ-law ↔ 16-bit PCM with numpy lookup tables.

`audioop` is gone from newer Pythons; these tables reproduce its `lin2ulaw` / `ulaw2lin`
byte for byte (same algorithm as the reference Sun g711.c that audioop used).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

PHONE_RATE = 8000  # Hz: Twilio Media Streams, μ-law mono; the one name for the phone's rate
FRAME_MS = 20
FRAME_BYTES = PHONE_RATE * FRAME_MS // 1000  # 160 μ-law bytes per 20 ms frame

_BIAS = 0x84
_CLIP = 8159
_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)


def _build_decode_table() -> np.ndarray:
    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    t = ((u & 0x0F) << 3) + _BIAS
    t = t << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _BIAS - t, t - _BIAS).astype(np.int16)


def _build_encode_table() -> np.ndarray:
    """Index: the 16-bit sample as uint16 (two's complement bit pattern)."""
    samples = np.arange(65536, dtype=np.int32)
    samples = np.where(samples >= 32768, samples - 65536, samples)
    pcm = samples >> 2  # audioop feeds the 14-bit value
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _CLIP) + (_BIAS >> 2)
    seg = np.searchsorted(_SEG_END, mag, side="left")
    seg_c = np.minimum(seg, 7)
    uval = (seg_c << 4) | ((mag >> (seg_c + 1)) & 0x0F)
    uval = np.where(seg >= 8, 0x7F, uval)
    return (uval ^ mask).astype(np.uint8)


ULAW_TO_PCM = _build_decode_table()
PCM_TO_ULAW = _build_encode_table()


def ulaw_to_pcm16(data: bytes) -> np.ndarray:
    """μ-law bytes → int16 samples."""
    return ULAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)]


def pcm16_to_ulaw(samples: np.ndarray) -> bytes:
    """int16 samples → μ-law bytes."""
    return PCM_TO_ULAW[np.asarray(samples, dtype=np.int16).view(np.uint16)].tobytes()


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling with an anti-alias filter; int16 in, int16 out."""
    if from_rate == to_rate or len(samples) == 0:
        return np.asarray(samples, dtype=np.int16)
    g = np.gcd(from_rate, to_rate)
    # scipy ships no types: name what resample_poly returns (a float array).
    out: np.ndarray = resample_poly(
        np.asarray(samples, dtype=np.float32), to_rate // g, from_rate // g
    )
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def frames(ulaw: bytes, size: int = FRAME_BYTES) -> list[bytes]:
    """Cut μ-law audio into 20 ms frames, padding the last one with silence (0xFF)."""
    out = [ulaw[i : i + size] for i in range(0, len(ulaw), size)]
    if out and len(out[-1]) < size:
        out[-1] = out[-1] + b"\xff" * (size - len(out[-1]))
    return out
