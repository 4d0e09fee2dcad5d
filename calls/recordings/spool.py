"""Append-only on-disk spool of a call's audio, so a crash loses at most the last buffer.

Record layout: <track:u8><offset_ms:u32><length:u16><μ-law bytes>, track 0 = caller, 1 = agent.
Offsets are call-clock milliseconds, so silences and pauses can be rebuilt exactly.
"""

from __future__ import annotations

import struct
from pathlib import Path

from django.conf import settings

HEADER = struct.Struct("<BIH")
CALLER, AGENT = 0, 1
FLUSH_EVERY = 50  # records (≈ 1 s of caller audio)


def spool_path(call_id: int) -> Path:
    return Path(settings.STELLAR_SPOOL_DIR) / f"call-{call_id}.spool"


class CallSpool:
    def __init__(self, call_id: int):
        path = spool_path(call_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab", buffering=64 * 1024)
        self._pending = 0

    def write(self, track: int, offset_ms: int, payload: bytes) -> None:
        if self._file.closed:
            return
        self._file.write(HEADER.pack(track, max(0, offset_ms), len(payload)))
        self._file.write(payload)
        self._pending += 1
        if self._pending >= FLUSH_EVERY:
            self._file.flush()
            self._pending = 0

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()


def read_spool(call_id: int) -> list[tuple[int, int, bytes]]:
    """All complete records; a torn last record (crash mid-write) is ignored."""
    path = spool_path(call_id)
    if not path.exists():
        return []
    data = path.read_bytes()
    records, pos = [], 0
    while pos + HEADER.size <= len(data):
        track, offset_ms, length = HEADER.unpack_from(data, pos)
        start = pos + HEADER.size
        if start + length > len(data):
            break
        records.append((track, offset_ms, data[start : start + length]))
        pos = start + length
    return records
