"""What the call runtime needs of the conversation engine (agents.engine.Conversation), so the
turn loop and the session can be driven by a scripted one in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol

from agents.engine import TurnEvent


class Engine(Protocol):
    """What the turn loop asks of it."""

    def turn(self, caller_text: str) -> AsyncIterator[TurnEvent]: ...

    def dtmf(self, digit: str) -> AsyncIterator[TurnEvent]: ...

    def silence_turn(self, count: int, limit: int) -> list[TurnEvent]: ...

    def agent_heard(self, text: str, *, interrupted: bool) -> None: ...

    def state(self) -> Mapping[str, Any]: ...

    def checkpoint(self) -> Any: ...  # the state before a speculative turn

    def rollback(self, saved: Any) -> None: ...  # back to it: the caller went on talking


class LineEngine(Engine, Protocol):
    """The engine, with the lines the call says by itself."""

    def greeting(self) -> str: ...

    def fixed_lines(self) -> list[str]: ...


async def events_of(events: Iterable[TurnEvent]) -> AsyncIterator[TurnEvent]:
    """A fixed list of events as a turn (silence re-prompts, take-overs)."""
    for event in events:
        yield event
