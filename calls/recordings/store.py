"""Where a finished call's audio is read from: this machine's spool directory (one machine), or
the S3-compatible object store every Daphne host ships its spool parts to (STELLAR_SPOOL_STORE,
through django-storages), so a worker on any machine can finalize any call.

In the store, a call's audio is one or more parts under `<prefix>/call-<id>/`: one per host
(and per reconnected stream) that carried the call, named `<ns>-<host>-<pid>.spool` so that
their names sort in the order they were written. Records carry call-clock offsets, so parts
simply overlay; a part shipped twice (a crash between upload and removal) changes nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File

from calls.recordings.spool import iter_records, iter_spool, spool_path

logger = logging.getLogger(__name__)

PART_SUFFIX = ".spool"
# A part being read is held in memory up to this size, then in a temporary file.
READ_MEMORY_BYTES = 8 * 1024 * 1024


def parse_store_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket/prefix`; a clear error for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"STELLAR_SPOOL_STORE must look like s3://bucket/prefix, not {url!r}"
        )
    return parts.netloc, parts.path.strip("/")


@functools.lru_cache(maxsize=4)
def _storage(url: str, endpoint_url: str, region: str) -> Any:
    from storages.backends.s3 import S3Storage  # boto3 only where an object store is used

    bucket, prefix = parse_store_url(url)
    return S3Storage(
        bucket_name=bucket,
        location=prefix,
        endpoint_url=endpoint_url or None,
        region_name=region or None,
        file_overwrite=True,  # part names are unique; a re-shipped part replaces itself
        querystring_auth=False,  # never served: read by workers only
        max_memory_size=READ_MEMORY_BYTES,
    )


def object_store() -> Any | None:
    """The S3Storage of STELLAR_SPOOL_STORE, or None when the spool stays on local disk."""
    url = settings.STELLAR_SPOOL_STORE
    if not url:
        return None
    return _storage(
        url, settings.STELLAR_SPOOL_STORE_ENDPOINT_URL, settings.STELLAR_SPOOL_STORE_REGION
    )


def call_dir(call_id: int) -> str:
    return f"call-{call_id}"


def part_names(store: Any, call_id: int) -> list[str]:
    """The call's parts in the store, oldest first."""
    _dirs, files = store.listdir(call_dir(call_id))
    return sorted(name for name in files if name.endswith(PART_SUFFIX))


def put_part(store: Any, call_id: int, name: str, file: IO[bytes]) -> str:
    """Upload one part (streamed: multipart for large ones); its key in the store."""
    return str(store.save(f"{call_dir(call_id)}/{name}", File(file)))


def iter_call_records(call_id: int) -> Iterator[tuple[int, int, bytes]]:
    """Every record of the call's audio: all its parts in order (store), else the local spool."""
    store = object_store()
    if store is None:
        yield from iter_spool(call_id)
        return
    for name in part_names(store, call_id):
        with store.open(f"{call_dir(call_id)}/{name}", "rb") as file:
            yield from iter_records(file)


def discard_call_audio(call_id: int) -> int:
    """Remove the call's spool (local file and stored parts) once its recording is gone."""
    removed = 0
    local = spool_path(call_id)
    if local.exists():
        local.unlink(missing_ok=True)
        removed += 1
    store = object_store()
    if store is not None:
        for name in part_names(store, call_id):
            store.delete(f"{call_dir(call_id)}/{name}")
            removed += 1
    return removed
