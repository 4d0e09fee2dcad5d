"""End to end: a caller reading an order number digit group by digit group, with pauses, over
the Twilio call simulator. The smart end-of-turn waits for the last group; the fixed 500 ms
silence (the fallback setting) cuts the caller off at the first pause. And the setting itself
through the API, Studio and a published version."""

from __future__ import annotations

import numpy as np
import pytest

from agents.speech.registry import get_tts
from calls.models import Call, CallEvent, TranscriptSegment
from calls.simulator import Audio, HangUp, WaitForAgent, format_transcript
from tests.e2e import eventually, place_call
from tests.twilio_call import build_line

pytestmark = pytest.mark.e2e

GROUPS = ("My order number is 4 7,", "1 1,", "9 3.")
PAUSE_S = 0.75  # between the digit groups: longer than the old 500 ms silence


def _order_number_audio() -> np.ndarray:
    tts = get_tts()
    parts = []
    for i, text in enumerate(GROUPS):
        audio = tts.synthesize(text)
        loud = np.nonzero(np.abs(audio.astype(np.int32)) > 300)[0]
        if i:
            parts.append(np.zeros(int(PAUSE_S * 8000), dtype=np.int16))
        parts.append(audio[loud[0] : loud[-1] + 1])
    return np.concatenate(parts)


def _caller_segments(call_sid: str, at_least: int) -> list[TranscriptSegment]:
    call = Call.objects.get(call_sid=call_sid)
    eventually(
        lambda: TranscriptSegment.objects.filter(call=call, speaker="caller").count() >= at_least
    )
    eventually(lambda: CallEvent.objects.filter(call=call, kind="stream_stopped").exists())
    # Finalized by the worker before the test ends: its writes must not meet the teardown's
    # flush (a deadlock on a fresh-clone CI run).
    eventually(lambda: Call.objects.filter(pk=call.pk, finalized_at__isnull=False).exists())
    return list(TranscriptSegment.objects.filter(call=call, speaker="caller").order_by("start_ms"))


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _call(live_daphne, turn_detection: str):
    line = build_line(turn_detection=turn_detection)
    audio = _order_number_audio()
    result = place_call(
        live_daphne,
        line,
        [WaitForAgent(), Audio(audio, label="order number"), WaitForAgent(timeout=30), HangUp()],
        realtime=1.0,
    )
    assert result.webhook_ok and not result.errors, result.errors
    return result, len(audio) * 1000 // 8000


def test_the_caller_reading_digit_groups_is_not_cut_off_before_the_last_group(
    live_daphne, celery_worker_proc
):
    result, spoken_ms = _call(live_daphne, "smart")
    (caller,) = _caller_segments(result.call_sid, 1)
    assert _digits(caller.text) == "471193", format_transcript(result)
    assert caller.end_ms - caller.start_ms >= spoken_ms  # one turn, from first word to last
    call = Call.objects.get(call_sid=result.call_sid)
    timing = eventually(lambda: CallEvent.objects.filter(call=call, kind="turn_timing").first())
    assert timing is not None, format_transcript(result)
    # The agent's answer came after the last digit group, and nothing was talked over.
    assert not result.streams[0].clears
    (asked,) = [u for u in result.caller_utterances if u.kind == "audio"]
    answers = [u.started_at for u in result.agent_utterances[1:]]
    assert answers and asked.ended_at is not None and min(answers) >= asked.ended_at


def test_the_fixed_silence_setting_cuts_the_same_caller_at_the_first_pause(
    live_daphne, celery_worker_proc
):
    result, _ = _call(live_daphne, "silence")
    segments = _caller_segments(result.call_sid, 2)
    assert len(segments) >= 2, format_transcript(result)
    assert _digits(segments[0].text) == "47"


@pytest.mark.django_db
def test_the_turn_detection_setting_goes_through_the_api_studio_and_versions():
    from django.test import Client

    from agents.models import AgentVersion
    from tests.factories import api_client, world_make

    world = world_make()
    agent = world.a.agent
    assert agent.turn_detection == "smart"  # the default for agents
    editor = api_client(world.users["editor"])
    url = f"/api/v1/agents/{agent.pk}/draft/"
    changed = editor.patch(url, {"turn_detection": "silence"}, format="json")
    assert changed.status_code == 200 and changed.data["turn_detection"] == "silence"
    refused = editor.patch(url, {"turn_detection": "psychic"}, format="json")
    assert refused.status_code == 400 and "turn_detection" in refused.data

    published = editor.post(f"/api/v1/agents/{agent.pk}/publish/", {})
    version = AgentVersion.objects.get(agent=agent, number=published.data["number"])
    assert version.snapshot["turn_detection"] == "silence"

    client = Client()
    client.force_login(world.users["editor"])
    page = client.get(f"/agents/{agent.pk}/").content.decode()
    assert 'name="turn_detection"' in page
    assert '<option value="silence" selected>' in page
