"""Shipping this machine's spool to the object store (STELLAR_SPOOL_STORE), so that a worker on
any machine can finalize the call. Without an object store, everything here does nothing.

Two ways out, both per host:
- at stream end, the session awaits `ship_at_stream_end` after closing its spool and before
  the stream's end is recorded, so the finalize that the end triggers finds the part;
- `sweep_host` (`manage.py spool_ship`, started with the host and repeated every few seconds)
  ships whatever a killed process or a failed upload left behind. Periodic, not only at start:
  one Daphne of several on a host can die while the host (and its other processes) lives on,
  and an upload that failed because the store was down must be retried without a restart.

A live spool is never shipped: its writer holds a shared lock (calls.recordings.spool), a
shipper takes the file exclusively and renames it to `call-<id>.<part>.shipping` before
uploading, so a reconnected stream on this host starts a new part. A part that reaches the
store after its call was finalized (its host was down meanwhile) gets the recording rebuilt.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import socket
import time
from pathlib import Path
from typing import IO, Any

from asgiref.sync import sync_to_async
from django.conf import settings

from calls.models import Call
from calls.recordings.spool import spool_path
from calls.recordings.store import PART_SUFFIX, object_store, put_part

logger = logging.getLogger(__name__)

SHIPPING_SUFFIX = ".shipping"
# The sweep leaves a just-closed spool to its own session's ship at stream end (which follows
# the close within milliseconds): both shipping it at once could let a finalize start between
# the two uploads.
SWEEP_GRACE_SECONDS = 10.0
LOCAL_NAME = re.compile(r"^call-(\d+)\.(?:spool|[\w.-]+\.shipping)$")


def host_id() -> str:
    """This machine's name in the parts it ships (STELLAR_HOST_ID, else the host name)."""
    name = settings.STELLAR_HOST_ID or socket.gethostname()
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "host"


def _claim(path: Path) -> tuple[IO[bytes], Path] | None:
    """`path` opened under an exclusive lock and renamed to its `.shipping` name, or None when
    a live stream (or another shipper) holds it, or it is gone."""
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(path).st_ino != os.fstat(file.fileno()).st_ino:
            raise FileNotFoundError(path)  # shipped and replaced since we opened it
    except (BlockingIOError, FileNotFoundError):
        file.close()
        return None
    if path.name.endswith(SHIPPING_SUFFIX):
        return file, path  # claimed by a shipper that died before finishing: same part name
    # Named after its last write: parts of one call sort in the order their streams ran.
    part = f"{os.fstat(file.fileno()).st_mtime_ns:020d}-{host_id()}-{os.getpid()}"
    claimed = path.with_name(f"{path.name.removesuffix('.spool')}.{part}{SHIPPING_SUFFIX}")
    os.rename(path, claimed)
    return file, claimed


def _ship(store: Any, call_id: int, path: Path) -> bool:
    """Upload one local spool file as a part, then remove it; False if it was not ours to ship."""
    claimed = _claim(path)
    if claimed is None:
        return False
    file, shipping = claimed
    with file:
        if os.fstat(file.fileno()).st_size:
            part = shipping.name.split(".", 1)[1].removesuffix(SHIPPING_SUFFIX) + PART_SUFFIX
            key = put_part(store, call_id, part, file)
            logger.info("call %s: spool part %s shipped", call_id, key)
        shipping.unlink(missing_ok=True)  # removed while still locked: never shipped twice
    return True


def _local_files(call_id: int) -> list[Path]:
    path = spool_path(call_id)
    return [path, *sorted(path.parent.glob(f"call-{call_id}.*{SHIPPING_SUFFIX}"))]


def ship_call_spool(call_id: int) -> int:
    """Ship this host's spool of the call; how many parts went to the store."""
    store = object_store()
    if store is None:
        return 0
    return sum(_ship(store, call_id, path) for path in _local_files(call_id))


async def ship_at_stream_end(call_id: int) -> None:
    """The session's spool is closed: ship it (off the event loop) before the end is recorded.
    Never raises: a part that could not be shipped stays on disk for the host's sweep."""
    try:
        if object_store() is None:
            return
        await sync_to_async(ship_call_spool, thread_sensitive=False)(call_id)
    except Exception:
        logger.exception("call %s: shipping the spool failed; this host's sweep retries", call_id)


def sweep_host(*, grace: float = SWEEP_GRACE_SECONDS) -> list[int]:
    """Ship every spool on this host that no live stream holds; the ids of the calls shipped
    (calls.tasks.ship_host_spools rebuilds the recordings of those already finalized)."""
    store = object_store()
    directory = Path(settings.STELLAR_SPOOL_DIR)
    if store is None or not directory.is_dir():
        return []
    shipped: set[int] = set()
    now = time.time()
    for path in sorted(directory.iterdir()):
        match = LOCAL_NAME.match(path.name)
        if match is None:
            continue
        call_id = int(match.group(1))
        try:
            if path.suffix == ".spool" and now - path.stat().st_mtime < grace:
                continue
            if _ship(store, call_id, path):
                shipped.add(call_id)
        except FileNotFoundError:
            continue
        except Exception:
            logger.exception("call %s: shipping %s failed; retried next sweep", call_id, path)
    return sorted(shipped)


def finalized_among(call_ids: list[int]) -> list[int]:
    """The calls already finalized: a part of theirs arrived late (its host was down). The
    others need nothing: their finalize (call end, or the stale sweep) reads every part."""
    return sorted(
        Call.objects.filter(pk__in=call_ids, finalized_at__isnull=False).values_list(
            "pk", flat=True
        )
    )
