"""`manage.py simulate_call` reads the server's own record of the call it placed: the version
that answered and the agent's transcript lines, in order (issue #21, item 11)."""

from __future__ import annotations

import pytest

from calls.management.commands.simulate_call import Command
from calls.models import Call, CallStatus, TranscriptSegment
from calls.simulator import CallResult
from tests.factories import call_make, world_make

pytestmark = pytest.mark.django_db


def test_the_command_reads_the_version_and_the_agents_lines_from_the_servers_record() -> None:
    world = world_make()
    call = call_make(connector=world.a.connector, call_sid="CA" + "7" * 32)
    Call.objects.filter(pk=call.pk).update(answered_at=call.created_at)
    TranscriptSegment.objects.filter(call=call).delete()
    for start, speaker, text in [
        (3000, "agent", "Our office is in Utrecht."),
        (0, "agent", "Hello, Support here."),
        (1500, "caller", "Where are you?"),
    ]:
        TranscriptSegment.objects.create(
            call=call, speaker=speaker, start_ms=start, end_ms=start + 900, text=text
        )
    Call.objects.filter(pk=call.pk).update(stream_ended_at=call.created_at)

    record = Command()._server_record(call.call_sid)

    assert record is not None
    assert record.answered_by == "Support v1"
    assert record.agent_lines == ["Hello, Support here.", "Our office is in Utrecht."]


def test_a_refused_call_has_no_version_and_says_why() -> None:
    world = world_make()
    call = call_make(connector=world.a.connector, call_sid="CA" + "8" * 32)
    Call.objects.filter(pk=call.pk).update(
        version_label="", status=CallStatus.REJECTED, outcome="Support has no published version."
    )

    record = Command()._server_record(call.call_sid)

    assert record is not None
    assert record.answered_by == "none: Support has no published version."


def test_a_call_this_database_does_not_have_gives_no_record() -> None:
    assert Command()._server_record("CA" + "9" * 32) is None


def test_failures_on_the_servers_timeline_make_the_simulated_call_fail() -> None:
    # Given a call Twilio saw as fine whose LLM agent failed on every turn (issue #21, item 4)
    world = world_make()
    call = call_make(connector=world.a.connector, call_sid="CA" + "9" * 32)
    Call.objects.filter(pk=call.pk).update(answered_at=call.created_at)
    call.events.create(kind="llm_error", message="The language model is not configured.")
    call.events.create(kind="reply", message="Agent chose the answer to “hours”")
    Call.objects.filter(pk=call.pk).update(stream_ended_at=call.created_at)
    # When the command reads the server's record into the simulated call's result
    record = Command()._server_record(call.call_sid)
    assert record is not None
    result = CallResult(call_sid=call.call_sid, account_sid="AC1", from_="+1", to="+2")
    result.attach_server_record(record)
    # Then the problem is reported and the call is not OK
    assert record.problems == ["The language model is not configured."]
    assert not result.ok
    assert result.errors == ["server: The language model is not configured."]
