"""Gradual rollout over real sockets: a simulated Twilio call, on Daphne, that the rollout sends
to the existing line — Twilio follows the <Dial> and the agent never streams."""

from __future__ import annotations

import pytest

from calls.models import Call, CallEvent, CallStatus
from connectors.services import connector_rollout_set
from tests.e2e import place_call
from tests.twilio_call import build_line

pytestmark = pytest.mark.e2e
LINE = "+31201112233"


def test_a_caller_outside_the_share_is_dialled_through_to_the_existing_line(live_daphne):
    line = build_line()
    connector_rollout_set(
        connector=line.connector, changed_by=line.owner, rollout_percent=0, existing_line=LINE
    )

    result = place_call(live_daphne, line, [])

    assert result.webhook_ok and not result.errors, result.errors
    assert not result.streams, "the agent must not answer"
    assert [d.numbers for d in result.dials] == [(LINE,)]
    assert result.dials[0].status == "completed"
    call = Call.objects.get(call_sid=result.call_sid)
    assert (call.status, call.transferred_to, call.version_label) == (
        CallStatus.TRANSFERRED,
        LINE,
        "",
    )
    event = CallEvent.objects.get(call=call, kind="rollout")
    assert event.message == "Sent to the existing line (rollout 0 %)"
    assert event.data == {
        "route": "existing_line",
        "rollout_percent": 0,
        "arm": None,
        "version": "",
    }
