"""A caller who hangs up in the middle of the agent's answer, over the Twilio simulator: the
transcript keeps the part of the answer that was heard, marked as cut off, and the turn keeps
its `turn_timing` event — with the embedded brain and with the LLM brain."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents.definitions.versions import agent_publish
from calls.models import Call, CallEvent, Speaker, TranscriptSegment
from calls.simulator import HangUp, Say, WaitForAgent
from tests.e2e import eventually, place_call, words
from tests.peers.openai_server import OpenAIPeer, Rule
from tests.test_engine_e2e import set_per_environment
from tests.twilio_call import build_line

pytestmark = pytest.mark.e2e

QUESTION = "What are your opening hours?"
LONG_ANSWER = (
    "We are open Monday to Friday from nine in the morning to six in the evening. "
    "On Saturdays we open at ten and close at four in the afternoon. "
    "On Sundays and public holidays the office stays closed, but our website is always open. "
    "During the summer holidays we close an hour earlier, at five in the afternoon. "
    "If you would like to visit us, please book an appointment on our website first."
)  # about twenty seconds of speech
# The caller hangs up at the first pause between the answer's sentences, however long the
# answer took to start (the first turn of a new agent embeds its phrases first).
SCRIPT = [WaitForAgent(), Say(QUESTION), WaitForAgent(quiet=0.1, timeout=30), HangUp()]


def _cut_answer(call_sid: str) -> tuple[Call, TranscriptSegment]:
    call = Call.objects.get(call_sid=call_sid)
    agent_lines = eventually(
        lambda: (
            list(TranscriptSegment.objects.filter(call=call, speaker=Speaker.AGENT))
            if call.events.filter(kind="stream_stopped").exists()  # written after the rest
            else []
        )
    )
    call.refresh_from_db()
    assert len(agent_lines) == 2  # the greeting, then the answer
    return call, agent_lines[-1]


def _assert_cut_off(call: Call, answer: TranscriptSegment) -> None:
    assert answer.interrupted is True
    heard = words(answer.text)
    assert heard and words(LONG_ANSWER).startswith(heard) and heard != words(LONG_ANSWER)
    assert 1000 <= answer.end_ms - answer.start_ms <= 12000  # what played before the hang-up
    (timing,) = CallEvent.objects.filter(call=call, kind="turn_timing")
    assert timing.data["total_ms"] > 0
    stages = ("endpoint_ms", "stt_wait_ms", "brain_ms", "tts_first_ms")
    assert timing.data["total_ms"] == sum(timing.data[s] for s in stages)
    assert CallEvent.objects.filter(call=call, kind="cut_off").count() == 1
    history = call.conversation["history"]
    assert history[-1]["role"] == "agent" and history[-1]["interrupted"] is True


def test_hanging_up_mid_answer_keeps_what_was_heard_embedded_brain(live_daphne, client):
    line = build_line(
        turn_detection="silence",
        knowledge=[{"question": QUESTION, "answer": LONG_ANSWER}],
    )
    result = place_call(live_daphne, line, SCRIPT, realtime=2.0)
    call, answer = _cut_answer(result.call_sid)
    _assert_cut_off(call, answer)

    # The call page shows the turn on its latency strip, and the answer as interrupted.
    client.force_login(line.owner)
    page = client.get(reverse("studio:call-detail", args=[call.pk])).content.decode()
    (timing,) = CallEvent.objects.filter(call=call, kind="turn_timing")
    assert f"Turn 1: {timing.data['total_ms']} ms (End of turn" in page
    assert 'class="lat-endpoint"' in page and "(interrupted)" in page


def test_hanging_up_mid_answer_keeps_what_was_heard_llm_brain(live_daphne):
    with OpenAIPeer(
        [Rule(when="hours", text=LONG_ANSWER)], api_key="sk-k", token_delay=0.02
    ) as llm:
        line = build_line(
            publish=False, brain="llm", llm_model="gpt-4o-mini", turn_detection="silence"
        )
        set_per_environment(
            line,
            variables=[("LLM_BASE_URL", {"production": llm.base_url})],
            secrets=[("LLM_API_KEY", {"production": "sk-k"})],
        )
        agent_publish(agent=line.agent)
        result = place_call(live_daphne, line, SCRIPT, realtime=2.0)
        call, answer = _cut_answer(result.call_sid)
        assert "hours" in llm.chat_requests()[-1]["messages"][-1]["content"].lower()
    _assert_cut_off(call, answer)
