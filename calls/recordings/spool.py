"""Append-only on-disk spool of a call's audio, so a crash loses at most the last buffer.

Record layout: <track:u8><offset_ms:u32><length:u16><μ-law bytes>, track 0 = caller, 1 = agent.
Offsets are call-clock milliseconds, so silences and pauses can be rebuilt exactly.

A writer holds a shared `flock` on its file while the stream lives; whoever ships the file to
the object store (calls.recordings.shipping) takes it exclusively first, so a live spool is
never shipped, and a spool left by a killed process (its locks die with it) always can be.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.conf import settings

logger = logging.getLogger(__name__)

HEADER = struct.Struct("<BIH")
CALLER, AGENT = 0, 1
FLUSH_EVERY = 50  # records (≈ 1 s of caller audio)
READ_CHUNK = 1024 * 1024
LOCK_TRIES = 200  # x 5 ms: a shipper holds the lock only between taking it and renaming


def spool_path(call_id: int) -> Path:
    return Path(settings.STELLAR_SPOOL_DIR) / f"call-{call_id}.spool"


def _open_locked(path: Path) -> IO[bytes]:
    """`path` opened for appending under a shared lock, and still the file at `path` (a
    shipper may have renamed it away between our open and our lock: then open the new one)."""
    for _ in range(LOCK_TRIES):
        file = path.open("ab", buffering=64 * 1024)
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            time.sleep(0.005)
            continue
        try:
            same = os.stat(path).st_ino == os.fstat(file.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return file
        file.close()
    raise RuntimeError(f"spool {path} stayed locked by a shipper")


class CallSpool:
    """One call's spool; past `max_bytes` (STELLAR_MAX_SPOOL_BYTES) it stops growing (`full`)."""

    def __init__(self, call_id: int, *, max_bytes: int | None = None):
        path = spool_path(call_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = _open_locked(path)
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
            self._file.close()  # and the lock with it


def iter_spool(call_id: int) -> Iterator[tuple[int, int, bytes]]:
    """This machine's spool of the call (see iter_records)."""
    path = spool_path(call_id)
    if not path.exists():
        return
    with path.open("rb") as file:
        yield from iter_records(file)


def iter_records(file: IO[bytes]) -> Iterator[tuple[int, int, bytes]]:
    """A spool's complete records in order, read a chunk at a time (memory independent of the
    call's length); a torn last record (crash mid-write) is ignored."""
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
