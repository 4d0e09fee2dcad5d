"""End to end over real sockets: simulated Twilio calls against Daphne, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from agents.engine.conversation import DEFAULT_GOODBYE
from calls.models import Call, CallEvent, CallStatus, TranscriptSegment
from calls.simulator import Digits, HangUp, Say, Wait, WaitForAgent, format_transcript
from tests.e2e import eventually, place_call, words
from tests.twilio_call import build_line

pytestmark = pytest.mark.e2e


def test_caller_hears_greeting_and_gets_knowledge_answer(live_daphne):
    line = build_line()
    result = place_call(
        live_daphne,
        line,
        [WaitForAgent(), Say("What are your opening hours?"), WaitForAgent(), HangUp()],
    )
    assert result.webhook_ok and not result.errors, result.errors
    texts = [words(t) for t in result.transcribe_agent()]
    assert "thank you for calling" in texts[0]
    assert "monday" in texts[1] and "friday" in texts[1]
    call = Call.objects.get(call_sid=result.call_sid)
    caller = eventually(lambda: list(TranscriptSegment.objects.filter(call=call, speaker="caller")))
    assert "opening hours" in words(caller[0].text)
    agent = eventually(lambda: TranscriptSegment.objects.filter(call=call, speaker="agent").count())
    assert agent >= 2
    assert eventually(lambda: CallEvent.objects.filter(call=call, kind="stream_stopped").exists())
    line = CallEvent.objects.get(call=call, kind="line_quality").data  # written before the stop
    assert line["verdict"] == "good" and line["gap_count"] == 0, line
    assert line["voiced_ms"] > 500 and -40 < line["speech_dbfs"] < -6, line
    timing = CallEvent.objects.get(call=call, kind="turn_timing").data
    assert 0 < timing["total_ms"] < 5000
    assert timing["total_ms"] == (
        timing["endpoint_ms"] + timing["stt_wait_ms"] + timing["brain_ms"] + timing["tts_first_ms"]
    )


def leading_silence(text: str) -> float:
    """Seconds of silence the TTS puts before the first word (the simulator speaks it)."""
    import numpy as np

    from agents.speech.registry import get_tts

    audio = np.abs(get_tts().synthesize(text).astype(np.int32))
    return int(np.argmax(audio > 1000)) / 8000


def test_get_webhook_and_dtmf_are_recorded(live_daphne):
    line = build_line()
    result = place_call(
        live_daphne, line, [WaitForAgent(), Digits("42"), Wait(0.5), HangUp()], method="GET"
    )
    assert result.webhook.method == "GET" and result.webhook_ok
    call = Call.objects.get(call_sid=result.call_sid)
    digits = eventually(
        lambda: list(
            CallEvent.objects.filter(call=call, kind="dtmf").values_list("data__digit", flat=True)
        )
    )
    assert digits == ["4", "2"]


def test_forged_websocket_handshake_is_refused(live_daphne):
    line = build_line()
    result = place_call(live_daphne, line, [WaitForAgent(), HangUp()])
    stream_url = result.streams[0].connect_url

    async def connect(signature: str | None) -> int:
        headers = {"x-twilio-signature": signature} if signature is not None else {}
        try:
            async with websockets.connect(stream_url, additional_headers=headers):
                return 101
        except websockets.InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(connect("Zm9yZ2Vk")) == 403
    assert asyncio.run(connect(None)) == 403
    bad_token = stream_url.rsplit("/", 1)[0] + "/not-a-token"
    assert asyncio.run(_status_for(bad_token)) == 403


async def _status_for(url: str) -> int:
    try:
        async with websockets.connect(url):
            return 101
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


def test_agent_transfers_to_sales_with_dial(live_daphne):
    line = build_line()
    result = place_call(
        live_daphne,
        line,
        [
            WaitForAgent(),
            Say("Hi, I would like to buy something. Can I talk to sales?"),
            WaitForAgent(),
        ],
    )
    assert result.webhook_ok, result.errors
    assert len(result.dials) == 1
    dial = result.dials[0]
    assert dial.number == "+31201234567"
    assert dial.caller_id == "+31209999999"
    assert dial.timeout == 25
    assert dial.action.endswith("/dial-status")
    call = Call.objects.get(call_sid=result.call_sid)
    assert call.status == CallStatus.TRANSFERRED
    assert call.transferred_to == "+31201234567"
    kinds = list(CallEvent.objects.filter(call=call).values_list("kind", flat=True))
    for kind in ("handover_chosen", "handover_dial", "dial_status"):
        assert kind in kinds


def test_no_answer_reconnects_caller_to_agent(live_daphne):
    line = build_line()
    result = place_call(
        live_daphne,
        line,
        [
            WaitForAgent(),
            Say("My internet is broken, I need technical support."),
            WaitForAgent(),  # "Connecting you to support." then the stream closes
            WaitForAgent(),  # back with the agent after the failed dial
            HangUp(),
        ],
        dial_statuses=["no-answer"],
    )
    assert [d.number for d in result.dials] == ["+31207654321"]
    assert len(result.streams) == 2, "the caller should be reconnected to the agent"
    texts = [words(t) for t in result.transcribe_agent()]
    assert any("did not go through" in t for t in texts), format_transcript(result)
    call = Call.objects.get(call_sid=result.call_sid)
    assert CallEvent.objects.filter(call=call, kind="handover_reconnected").exists()
    assert call.status != CallStatus.TRANSFERRED


def test_goodbye_ends_the_call(live_daphne):
    line = build_line()
    result = place_call(
        live_daphne, line, [WaitForAgent(), Say("That's all, goodbye!"), WaitForAgent()]
    )
    assert result.streams[0].ended_by == "server"
    # The goodbye played to its mark before the server hung up. The simulator's own speech
    # recognition misses the lone "Goodbye!" of some Piper renders (about 1 in 8), so the words
    # come from the server's transcript and the audio is checked to be that whole line.
    last = result.agent_utterances[-1]
    assert last.mark and not last.cleared, format_transcript(result)
    assert "thank you for calling" in words(result.transcribe_agent()[-1])
    call = eventually(
        lambda: Call.objects.filter(call_sid=result.call_sid, ended_at__isnull=False).first()
    )
    assert call.status == CallStatus.COMPLETED
    said = TranscriptSegment.objects.filter(call=call, speaker="agent").order_by("start_ms")
    assert said.last().text == DEFAULT_GOODBYE and not said.last().interrupted
    assert last.duration >= 0.95 * (said.last().end_ms - said.last().start_ms) / 1000


def test_barge_in_clears_and_answers_the_new_question(live_daphne):
    line = build_line(
        greeting=(
            "Hello and welcome to Stellar. Before we start, let me tell you about our "
            "new products, our opening hours and our offices in many countries around the world."
        )
    )
    result = place_call(
        live_daphne,
        line,
        [
            Wait(2.5),  # the greeting is playing by now
            Say("What are your opening hours?", barge_in=True),
            WaitForAgent(),
            HangUp(),
        ],
        realtime=1.0,
    )
    stream = result.streams[0]
    assert stream.clears, "the server should send clear when the caller talks over the agent"
    barge = next(u for u in result.caller_utterances if u.barge_in)
    onset = barge.started_at + leading_silence("What are your opening hours?")
    assert stream.clears[0].at - onset < 0.3, format_transcript(result)
    received = [e.event for e in stream.received()]
    clear_index = received.index("clear")
    assert "media" in received[clear_index + 1 :]
    assert "monday" in words(result.transcribe_agent()[-1])
    call = Call.objects.get(call_sid=result.call_sid)
    interrupted = eventually(
        lambda: TranscriptSegment.objects.filter(call=call, interrupted=True).first()
    )
    assert interrupted is not None and interrupted.speaker == "agent"


def test_ivr_digits_start_the_agent_in_the_sales_context(live_daphne):
    intents = [
        {
            "name": "sales",
            "digits": "1",
            "examples": ["I want to buy", "pricing"],
            "action": "transfer_to_sales",
            "context_greeting": "Hello, you have reached Stellar sales. What can I do for you?",
        },
        {
            "name": "support",
            "digits": "2",
            "examples": ["it is broken"],
            "action": "transfer_to_support",
        },
    ]
    line = build_line(intents=intents)
    result = place_call(
        live_daphne,
        line,
        [WaitForAgent(), Say("Can I speak to a person please?"), WaitForAgent()],
        extra_params={"Digits": "1"},
    )
    assert result.streams[0].custom_parameters.get("Digits") == "1"
    assert "sales" in words(result.transcribe_agent(prompt="Stellar sales")[0])
    assert [d.number for d in result.dials] == ["+31201234567"]
    call = Call.objects.get(call_sid=result.call_sid)
    assert call.ivr_params == {"Digits": "1"}
