"""A live call's record: timeline events and transcript lines, written in order off the event loop
and shown to live listeners at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from calls import services
from calls.models import Call, Speaker
from calls.runtime.monitor import MonitorFeed


class Writer(Protocol):
    """Ordered database writes that never block the audio path (calls.runtime.persistence)."""

    def submit(self, fn: Callable[..., object], **kwargs: Any) -> None: ...

    async def flush(self, timeout: float = ...) -> None: ...

    async def drain(self, timeout: float = ...) -> None: ...


class CallJournal:
    def __init__(self, call: Call, writer: Writer, monitor: MonitorFeed):
        self.call = call
        self.monitor = monitor
        self._writer = writer

    def submit(self, fn: Callable[..., object], **kwargs: Any) -> None:
        """Any other write of the call, in order with its events."""
        self._writer.submit(fn, **kwargs)

    def event(self, kind: str, message: str, **data: Any) -> None:
        self._writer.submit(
            services.call_event_add, call=self.call, kind=kind, message=message, **data
        )
        self.monitor.event(kind, message)

    def segment(
        self,
        *,
        speaker: Speaker,
        start_ms: int,
        end_ms: int,
        text: str,
        interrupted: bool | None = None,
    ) -> None:
        """A transcript line: stored at the turn boundary and shown to live listeners."""
        segment: dict[str, Any] = {
            "speaker": speaker,
            "start_ms": start_ms,
            "end_ms": end_ms,
            "text": text,
        }
        if interrupted is not None:
            segment["interrupted"] = interrupted
        self._writer.submit(services.transcript_add, call=self.call, **segment)
        self.monitor.transcript(**segment)

    def save_conversation(self, state: Mapping[str, Any]) -> None:
        self._writer.submit(services.call_save_conversation, call_id=self.call.pk, state=state)

    async def flush(self) -> None:
        """Wait until everything submitted so far is written."""
        await self._writer.flush()

    async def drain(self) -> None:
        """Write everything queued, then stop."""
        await self._writer.drain()
