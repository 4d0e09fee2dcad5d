"""Rebuild a call's real-time stereo recording (caller left, agent right) from its spool."""

from __future__ import annotations

import hashlib
import io
import wave
from dataclasses import dataclass

import numpy as np

from calls.recordings.spool import AGENT, CALLER, read_spool
from stellar.kernel.audio import PHONE_RATE, ulaw_to_pcm16

SAMPLES_PER_MS = PHONE_RATE // 1000


@dataclass(frozen=True)
class BuiltRecording:
    wav: bytes
    duration_ms: int
    sha256: str


def tracks_from_spool(call_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Caller and agent tracks as int16 arrays of equal length, audio placed at its offsets."""
    records = read_spool(call_id)
    end = max((off * SAMPLES_PER_MS + len(p) for _t, off, p in records), default=0)
    caller = np.zeros(end, dtype=np.int16)
    agent = np.zeros(end, dtype=np.int16)
    for track, offset_ms, payload in records:
        target = caller if track == CALLER else agent if track == AGENT else None
        if target is None:
            continue
        start = offset_ms * SAMPLES_PER_MS
        target[start : start + len(payload)] = ulaw_to_pcm16(payload)
    return caller, agent


def build_recording(call_id: int) -> BuiltRecording | None:
    caller, agent = tracks_from_spool(call_id)
    if len(caller) == 0:
        return None
    stereo = np.empty(len(caller) * 2, dtype=np.int16)
    stereo[0::2] = caller
    stereo[1::2] = agent
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(PHONE_RATE)
        wav.writeframes(stereo.astype("<i2").tobytes())
    data = buffer.getvalue()
    return BuiltRecording(
        wav=data,
        duration_ms=len(caller) * 1000 // PHONE_RATE,
        sha256=hashlib.sha256(data).hexdigest(),
    )
