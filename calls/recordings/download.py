"""Serving a recording to the browser's <audio> player: streamed, with one HTTP byte range
(Django's FileResponse has no Range support, and seeking needs it)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Literal

from asgiref.sync import sync_to_async
from django.core.files import File
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from calls.models import Recording

CHUNK = 64 * 1024
RANGE_HEADER = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | Literal[False] | None:
    """(first, last) byte positions of a single `bytes=` range, inclusive.

    None: no usable Range header (serve the whole file). False: unsatisfiable (416).
    Multi-range requests are answered with the whole file, which RFC 9110 allows.
    """
    match = RANGE_HEADER.match(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            return False
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return False
    return start, end


def _read_chunks(file: File[bytes], remaining: int) -> Iterator[bytes]:
    try:
        while remaining > 0:
            data = file.read(min(CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        file.close()


async def _aread_chunks(file: File[bytes], remaining: int) -> AsyncIterator[bytes]:
    try:
        while remaining > 0:
            data = await sync_to_async(file.read, thread_sensitive=False)(min(CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        await sync_to_async(file.close, thread_sensitive=False)()


def recording_response(request: HttpRequest, recording: Recording) -> HttpResponseBase:
    """The WAV (or the requested byte range of it); the caller checked workspace access.

    `request` is Django's own request (not DRF's wrapper): under Daphne it is an ASGIRequest,
    and the file is then read chunk by chunk off the event loop instead of all at once."""
    name = recording.file.name
    if not name:  # what `not recording.file` checks
        raise Http404("This call has no recording.")
    try:
        file: File[bytes] = recording.file.storage.open(name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The recording file is missing.") from exc
    size = recording.file.storage.size(name)
    wanted = parse_range(request.headers.get("Range", ""), size)
    if wanted is False:
        file.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    start, end = wanted if wanted else (0, size - 1)
    length = max(end - start + 1, 0)
    if start:
        file.seek(start)
    # Daphne serves async iterators without buffering the whole body; WSGI wants sync ones.
    chunks = (
        _aread_chunks(file, length)
        if isinstance(request, ASGIRequest)
        else _read_chunks(file, length)
    )
    streaming = StreamingHttpResponse(
        chunks, status=206 if wanted else 200, content_type="audio/wav"
    )
    streaming["Content-Length"] = str(length)
    streaming["Accept-Ranges"] = "bytes"
    streaming["Cache-Control"] = "private, max-age=3600"
    streaming["Content-Disposition"] = f'inline; filename="{recording.call.call_sid}.wav"'
    if wanted:
        streaming["Content-Range"] = f"bytes {start}-{end}/{size}"
    return streaming
