"""Rebuild a call's real-time stereo recording (caller left, agent right) from its spool (the
local file, or every part shipped to the object store: calls.recordings.store).

Built as a stream, so memory does not grow with the call: each track is first written in place
into its own sparse temporary file (a record at its offset, later records over earlier ones,
silence where nothing was said), then both are interleaved a chunk at a time into the WAV.
Audio past STELLAR_MAX_CALL_SECONDS is left out.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from django.conf import settings

from calls.recordings.spool import AGENT, CALLER
from calls.recordings.store import iter_call_records
from stellar.kernel.audio import PHONE_RATE, ulaw_to_pcm16

SAMPLES_PER_MS = PHONE_RATE // 1000
SAMPLE_BYTES = 2  # 16-bit PCM
CHANNELS = 2
CHUNK_SAMPLES = 64 * 1024  # per track, per step of the interleaving pass (256 KiB of WAV)
WAV_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")


@dataclass(frozen=True)
class BuiltRecording:
    file: IO[bytes]  # the WAV, positioned at its start; deleted when the build's context exits
    size_bytes: int
    duration_ms: int
    sha256: str


def wav_header(samples: int) -> bytes:
    """The 44-byte RIFF header of a 16-bit stereo PCM WAV with `samples` frames (as `wave`)."""
    data = samples * CHANNELS * SAMPLE_BYTES
    block = CHANNELS * SAMPLE_BYTES
    return WAV_HEADER.pack(
        b"RIFF", 36 + data, b"WAVE", b"fmt ", 16, 1, CHANNELS, PHONE_RATE,
        PHONE_RATE * block, block, SAMPLE_BYTES * 8, b"data", data,
    )  # fmt: skip


def _write_tracks(call_id: int, tracks: dict[int, int], max_samples: int) -> int:
    """Each record's PCM at its place in its track's file (fd); the length in samples."""
    end = 0
    for track, offset_ms, payload in iter_call_records(call_id):
        fd = tracks.get(track)
        start = offset_ms * SAMPLES_PER_MS
        if fd is None or start >= max_samples:
            continue
        pcm = ulaw_to_pcm16(payload[: max_samples - start]).astype("<i2")
        os.pwrite(fd, pcm.tobytes(), start * SAMPLE_BYTES)
        end = max(end, start + len(pcm))
    return end


def _track(fd: int, start: int, count: int) -> np.ndarray:
    """`count` samples of a track file from `start`; zeros where nothing was written."""
    data = os.pread(fd, count * SAMPLE_BYTES, start * SAMPLE_BYTES)
    samples = np.zeros(count, dtype="<i2")
    samples[: len(data) // SAMPLE_BYTES] = np.frombuffer(data, dtype="<i2")
    return samples


@contextlib.contextmanager
def build_recording(call_id: int) -> Iterator[BuiltRecording | None]:
    """The call's stereo WAV in a temporary file next to the spools (None: no audio)."""
    directory = Path(settings.STELLAR_SPOOL_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    max_samples = settings.STELLAR_MAX_CALL_SECONDS * 1000 * SAMPLES_PER_MS
    with (
        tempfile.TemporaryFile(dir=directory) as caller,
        tempfile.TemporaryFile(dir=directory) as agent,
    ):
        tracks = {CALLER: caller.fileno(), AGENT: agent.fileno()}
        samples = _write_tracks(call_id, tracks, max_samples)
        if samples == 0:
            yield None
            return
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".wav") as wav:
            digest = hashlib.sha256()
            header = wav_header(samples)
            wav.write(header)
            digest.update(header)
            stereo = np.empty(CHUNK_SAMPLES * CHANNELS, dtype="<i2")
            for start in range(0, samples, CHUNK_SAMPLES):
                count = min(CHUNK_SAMPLES, samples - start)
                frames = stereo[: count * CHANNELS]
                frames[0::2] = _track(tracks[CALLER], start, count)
                frames[1::2] = _track(tracks[AGENT], start, count)
                data = frames.tobytes()
                wav.write(data)
                digest.update(data)
            wav.flush()
            size = wav.tell()
            wav.seek(0)
            yield BuiltRecording(
                file=wav,
                size_bytes=size,
                duration_ms=samples * 1000 // PHONE_RATE,
                sha256=digest.hexdigest(),
            )
