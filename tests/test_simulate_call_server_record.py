"""`manage.py simulate_call` reads the server's own record of the call it placed: the version
that answered and the agent's transcript lines, in order (issue #21, item 11)."""

from __future__ import annotations

import pytest

from calls.management.commands.simulate_call import Command
from calls.models import Call, CallStatus, TranscriptSegment
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
