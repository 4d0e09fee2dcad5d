"""What a live call asks of the phone side (store a handover, mark a reconnect, send a text),
injected by its consumer so the runtime knows no Twilio; and ending the call with it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agents.actions.context import SmsSender
from agents.engine import EndCall, Handover
from calls.models import Call
from calls.runtime.journal import CallJournal

Ending = Handover | EndCall
Hangup = Callable[[], Awaitable[None]]


class RequestHandover(Protocol):
    """Store the chosen handover on the call (blocking: runs on the call's ordered writer)."""

    def __call__(self, *, call_id: int, action: dict[str, Any], reason: str = ...) -> object: ...


class MarkReconnected(Protocol):
    """The caller is back with the agent after a failed transfer (blocking, like above)."""

    def __call__(self, *, call_id: int) -> None: ...


@dataclass(frozen=True)
class CallControl:
    request_handover: RequestHandover
    mark_reconnected: MarkReconnected
    send_sms: Callable[[Call, str, str], str]  # blocking: (call, to, body) → message SID


def sms_sender(call: Call, control: CallControl) -> SmsSender:
    """The conversation's `send_sms(to, body)`: the blocking send in a worker thread."""

    async def send(to: str, body: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, control.send_sms, call, to, body)

    return send


class CallEnding:
    """After the last words played: record the handover or the hang-up, then close the stream.

    The handover is stored only now, so a line the caller talked over never transfers.
    """

    def __init__(self, *, call_id: int, journal: CallJournal, control: CallControl, hangup: Hangup):
        self._call_id = call_id
        self._journal = journal
        self._control = control
        self._hangup = hangup

    async def finish(self, ending: Ending | None) -> None:
        if isinstance(ending, Handover):
            self._journal.submit(
                self._control.request_handover,
                call_id=self._call_id,
                action=ending.action,
                reason=ending.reason,
            )
            target = ending.action.get("destination") or ending.action.get("name", "")
            self._journal.monitor.event("handover_chosen", f"Handing the caller over to {target}")
        elif isinstance(ending, EndCall):
            self._journal.event("end_call", ending.reason or "Agent ended the call")
        await self._journal.flush()
        await self._hangup()

    async def hang_up(self) -> None:
        """Close the stream now (a stream that is not this call's)."""
        await self._hangup()
