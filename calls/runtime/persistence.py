"""Ordered, non-blocking database writes for a live call (the audio path never waits on them)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

logger = logging.getLogger(__name__)

_Job = tuple[Callable[..., Any] | None, dict[str, Any], "asyncio.Future[None] | None"]


class Persister:
    def __init__(self, label: str):
        self._label = label
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name=f"persist-{label}")

    def submit(self, fn: Callable[..., Any], **kwargs: Any) -> None:
        self._queue.put_nowait((fn, kwargs, None))

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            if job is None:
                return
            fn, kwargs, done = job
            if fn is not None:
                try:
                    await database_sync_to_async(fn)(**kwargs)
                except Exception:
                    logger.exception("call %s: persisting %s failed", self._label, fn.__name__)
            if done is not None and not done.done():
                done.set_result(None)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything submitted so far is written."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((None, {}, done))
        try:
            await asyncio.wait_for(done, timeout)
        except TimeoutError:
            logger.error("call %s: persistence did not flush in %ss", self._label, timeout)

    async def drain(self, timeout: float = 10.0) -> None:
        """Write everything queued, then stop."""
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            logger.error("call %s: persistence did not drain in %ss", self._label, timeout)
            self._task.cancel()
