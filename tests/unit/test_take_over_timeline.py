"""A supervisor's take-over on the call's timeline: its own entry, not a caller barge-in, and
the answer it cuts is not timed as a turn (issue #21, item 7)."""

from __future__ import annotations

from calls.models import Speaker
from tests.unit.call_runtime_fakes import quiet, run_virtual, tone, until
from tests.unit.test_call_runtime_session import Phone
from tests.unit.test_call_runtime_turns import ANSWER, Line, ScriptedEngine


def test_a_take_over_cuts_the_agent_without_a_barge_in_or_a_turn_timing() -> None:
    async def main() -> None:
        engine = ScriptedEngine()
        async with Line(engine, frames=100) as line:
            await line.caller_says(quiet(400) + tone(600) + quiet(800))
            await until(lambda: len(line.outbox.of("media")) >= 10)  # the answer is playing

            await line.turns.cut_for_take_over()

            assert line.outbox.of("clear")
            assert line.writer.events("barge_in") == []
            assert line.writer.events("turn_timing") == []
            assert line.turns.latencies == []
            agent_line = line.writer.named("transcript_add")[-1]
            assert agent_line["speaker"] == Speaker.AGENT and agent_line["interrupted"] is True
            assert engine.heard[-1][1] is True and ANSWER.startswith(engine.heard[-1][0])

    run_virtual(main())


def test_the_caller_barging_in_is_still_logged_and_timed() -> None:
    async def main() -> None:
        engine = ScriptedEngine()
        async with Line(engine, frames=100) as line:
            await line.caller_says(quiet(400) + tone(600) + quiet(800))
            await until(lambda: len(line.outbox.of("media")) >= 10)

            await line.turns.barge_in()

            assert len(line.writer.events("barge_in")) == 1
            assert len(line.writer.events("turn_timing")) == 1

    run_virtual(main())


def test_a_sessions_take_over_is_one_timeline_entry_of_its_own() -> None:
    async def main() -> None:
        phone = Phone()
        await phone.start()
        await until(lambda: bool(phone.outbox.of("mark")))  # the greeting was sent; not played

        ok = await phone.session.take_over(by="ann", action=None, destination="+15550003333")

        assert ok == (True, "Transferring the caller.")
        assert phone.outbox.of("clear")  # the greeting was cut for it
        kinds = [w["kind"] for w in phone.writer.named("call_event_add")]
        assert "take_over" in kinds
        assert "barge_in" not in kinds and "turn_timing" not in kinds
        assert ("barge_in", "Caller interrupted the agent") not in phone.feed.of("event")

    run_virtual(main())
