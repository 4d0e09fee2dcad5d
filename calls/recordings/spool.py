"""Append-only on-disk spool of a call's audio, so a crash loses at most the last buffer.

Record layout: <track:u8><offset_ms:u32><length:u16><μ-law bytes>, track 0 = caller, 1 = agent.
Offsets are call-clock milliseconds, so silences and pauses can be rebuilt exactly.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

HEADER = struct.Struct("<BIH")
CALLER, AGENT = 0, 1
FLUSH_EVERY = 50  # records (≈ 1 s of caller audio)
READ_CHUNK = 1024 * 1024


def spool_path(call_id: int) -> Path:
    return Path(settings.STELLAR_SPOOL_DIR) / f"call-{call_id}.spool"


class CallSpool:
    """One call's spool; past `max_bytes` (STELLAR_MAX_SPOOL_BYTES) it stops growing (`full`)."""

    def __init__(self, call_id: int, *, max_bytes: int | None = None):
        path = spool_path(call_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab", buffering=64 * 1024)
        self._max_bytes = settings.STELLAR_MAX_SPOOL_BYTES if max_bytes is None else max_bytes
        self._size = self._file.tell()  # a reconnected stream appends to the same spool
        self._pending = 0
        self.full = False

    def write(self, track: int, offset_ms: int, payload: bytes) -> None:
        if self._file.closed or self.full:
            return
        size = HEADER.size + len(payload)
        if self._size + size > self._max_bytes:
            self.full = True
            logger.warning(
                "spool %s reached %d bytes: no more audio recorded", self._file.name, self._size
            )
            return
        self._file.write(HEADER.pack(track, max(0, offset_ms), len(payload)))
        self._file.write(payload)
        self._size += size
        self._pending += 1
        if self._pending >= FLUSH_EVERY:
            self._file.flush()
            self._pending = 0

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()


def iter_spool(call_id: int) -> Iterator[tuple[int, int, bytes]]:
    """The spool's complete records in order, read a chunk at a time (memory independent of the
    call's length); a torn last record (crash mid-write) is ignored."""
    path = spool_path(call_id)
    if not path.exists():
        return
    with path.open("rb") as file:
        buffer = b""
        while chunk := file.read(READ_CHUNK):
            buffer += chunk
            pos = 0
            while pos + HEADER.size <= len(buffer):
                track, offset_ms, length = HEADER.unpack_from(buffer, pos)
                start = pos + HEADER.size
                if start + length > len(buffer):
                    break
                yield track, offset_ms, buffer[start : start + length]
                pos = start + length
            buffer = buffer[pos:]
