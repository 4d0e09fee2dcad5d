"""The holding line: a turn whose answer is late gets "One moment, please." (from the render
cache) instead of silence; a prompt answer never does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agents.engine import Decision, Speak, TurnEvent
from calls.runtime.turns import HOLD_LINE
from tests.unit.call_runtime_fakes import quiet, run_virtual, tone, until
from tests.unit.test_call_runtime_turns import ANSWER, HOURS, Line, ScriptedEngine

# The product's default (the suite raises it for everything else: tests/conftest.py).
pytestmark = pytest.mark.usefixtures("_hold_line_at_default")


@pytest.fixture
def _hold_line_at_default(settings) -> None:
    settings.STELLAR_HOLD_LINE_AFTER_MS = 1500


class SlowEngine(ScriptedEngine):
    """A brain that takes `seconds` before its first words (an overloaded process)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def turn(self, caller_text: str) -> AsyncIterator[TurnEvent]:
        self.caller.append(caller_text)
        await asyncio.sleep(self.seconds)
        yield Decision("knowledge:0", 0.9)
        yield Speak(ANSWER)


def test_a_late_answer_on_a_contended_process_is_preceded_by_the_holding_line() -> None:
    async def main() -> None:
        async with Line(SlowEngine(3.0), heard=HOURS) as line:
            line.turns.hold_when = lambda: True  # other calls share the process
            await line.caller_says(quiet(400) + tone(600) + quiet(800))
            hold = await line.played(1)
            reply = await line.played(2)
            assert (hold.kind, hold.text) == ("hold", HOLD_LINE)
            assert (reply.kind, reply.text) == ("reply", ANSWER)
            (event,) = line.writer.events("hold_line")
            # The caller stopped at 1000 ms; the line plays 1.5 s later, not at the answer.
            assert 1500 <= event["after_ms"] <= 1600
            assert hold.start_ms is not None and hold.start_ms - 1000 <= 1600
            said = [w["text"] for w in line.writer.named("transcript_add")]
            assert said == [HOURS, HOLD_LINE, ANSWER]

    run_virtual(main())


def test_a_prompt_answer_gets_no_holding_line() -> None:
    async def main() -> None:
        async with Line(SlowEngine(0.2), heard=HOURS) as line:
            line.turns.hold_when = lambda: True
            await line.caller_says(quiet(400) + tone(600) + quiet(800))
            reply = await line.played(1)
            assert reply.kind == "reply"
            await asyncio.sleep(3)
            assert line.writer.events("hold_line") == []
            assert len(line.outbox.of("mark")) == 1

    run_virtual(main())


def test_no_holding_line_when_it_is_not_rendered_yet() -> None:
    async def main() -> None:
        async with Line(SlowEngine(3.0), heard=HOURS) as line:
            line.turns.hold_when = lambda: True
            await asyncio.sleep(0.01)  # the turn loop started and pre-rendered the line
            line.speaker._renderer.clear()  # as if it were evicted, or never rendered
            await line.caller_says(quiet(400) + tone(600) + quiet(800))
            reply = await line.played(1)
            assert reply.kind == "reply"
            await until(lambda: line.writer.events("turn_timing") != [])
            assert line.writer.events("hold_line") == []

    run_virtual(main())


def test_a_lone_call_on_a_quiet_process_keeps_its_plain_pause() -> None:
    async def main() -> None:
        async with Line(SlowEngine(3.0), heard=HOURS) as line:
            line.turns.hold_when = lambda: False
            await line.caller_says(quiet(400) + tone(600) + quiet(800))
            reply = await line.played(1)
            assert reply.kind == "reply"
            assert line.writer.events("hold_line") == []

    run_virtual(main())


def test_a_process_is_contended_with_a_second_call_or_when_overloaded() -> None:
    from calls.runtime.load import ProcessLoad
    from connectors.capacity import CallLease

    load = ProcessLoad(process="p")
    load.calls["CA1"] = CallLease("CA1", 1, 1)
    assert not load.contended()
    load.overloaded = True
    assert load.contended()
    load.overloaded = False
    load.calls["CA2"] = CallLease("CA2", 1, 1)
    assert load.contended()
