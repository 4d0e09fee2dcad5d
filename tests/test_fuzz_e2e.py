"""Hostile input from outside: random websocket frames and webhook bodies against a live
Daphne, while a well-behaved call on the same process must not notice anything."""

from __future__ import annotations

import asyncio
import base64
import json
import threading

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from calls.models import Call
from calls.simulator import HangUp, Say, WaitForAgent
from tests.e2e import eventually, place_call, words
from tests.twilio_call import AUTH_TOKEN, build_line, voice_params

pytestmark = pytest.mark.e2e

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
payloads = st.one_of(
    st.binary(max_size=400).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=60),
    json_scalars,
)
events = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "clear", "x"])
messages = st.one_of(
    st.builds(
        lambda e, p, extra: {"event": e, "media": {"payload": p}, **extra},
        events,
        payloads,
        st.dictionaries(st.text(max_size=8), json_scalars, max_size=3),
    ),
    st.builds(
        lambda p, d: {"event": "start", "start": p, "dtmf": d},
        st.one_of(json_scalars, st.dictionaries(st.text(max_size=10), json_scalars)),
        st.one_of(json_scalars, st.fixed_dictionaries({"digit": st.text(max_size=3)})),
    ),
    st.builds(
        lambda m: {"event": "mark", "mark": m},
        st.one_of(json_scalars, st.dictionaries(st.text(max_size=5), json_scalars)),
    ),
)
frames = st.one_of(
    messages.map(json.dumps),
    st.text(max_size=200),  # not JSON
    st.binary(max_size=200),  # binary frame
    st.just("[" * 5000),  # deeply nested / oversized
    st.just(json.dumps({"event": "media", "media": {"payload": "A" * 100_000}})),
)


def open_stream(server, line) -> str:
    params = voice_params()
    url = server.public_url + line.connector.webhook_path
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    response = httpx.post(
        server.url + line.connector.webhook_path,
        data=params,
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 200
    return response.text.split('Stream url="')[1].split('"')[0]


async def send_frames(stream_url: str, batch: list) -> None:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(stream_url, {})
    try:
        async with websockets.connect(
            stream_url, additional_headers={"x-twilio-signature": signature}, max_size=None
        ) as ws:
            for frame in batch:
                await ws.send(frame)
            await asyncio.wait_for(ws.ping(), 5)
    except websockets.ConnectionClosed:
        pass  # a clean close is an acceptable answer to garbage


def test_garbage_frames_and_bodies_do_not_harm_a_concurrent_call(live_daphne):
    good_line = build_line()
    fuzz_line = build_line()
    log_offset = live_daphne.process.log_size()
    outcome: dict = {}

    def good_call() -> None:
        outcome["result"] = place_call(
            live_daphne,
            good_line,
            [WaitForAgent(), Say("What are your opening hours?"), WaitForAgent(), HangUp()],
            realtime=1.0,
        )

    worker = threading.Thread(target=good_call)
    worker.start()

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(batch=st.lists(frames, min_size=1, max_size=15))
    def fuzz_stream(batch):
        asyncio.run(send_frames(open_stream(live_daphne, fuzz_line), batch))

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        body=st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=8),
        sign=st.booleans(),
        method=st.sampled_from(["GET", "POST", "PUT"]),
    )
    def fuzz_webhook(body, sign, method):
        path = fuzz_line.connector.webhook_path
        headers = {}
        if sign:
            params = {**voice_params(), **body} if method == "POST" else {}
            url = live_daphne.public_url + path
            headers["X-Twilio-Signature"] = RequestValidator(AUTH_TOKEN).compute_signature(
                url, params
            )
            body = params
        response = httpx.request(method, live_daphne.url + path, data=body, headers=headers)
        assert response.status_code in (200, 400, 403, 405), response.text

    fuzz_stream()
    fuzz_webhook()
    worker.join(timeout=120)

    result = outcome["result"]
    assert result.webhook_ok and not result.errors, result.errors
    texts = [words(t) for t in result.transcribe_agent()]
    assert "thank you for calling" in texts[0] and "monday" in texts[1]
    assert httpx.get(live_daphne.url + "/healthz").status_code == 200
    errors = Call.objects.exclude(input_errors={}).values_list("input_errors", flat=True)
    assert any(errors), "bad frames should be counted on their call"
    server_log = live_daphne.process.log_since(log_offset, max_lines=100_000)
    assert "Exception inside application" not in server_log, server_log[-3000:]


def test_each_kind_of_bad_frame_is_counted_on_its_call(live_daphne):
    line = build_line()
    stream_url = open_stream(live_daphne, line)
    call = Call.objects.get(connector=line.connector)
    media = {"event": "media", "media": {"track": "inbound", "payload": "//8="}}
    start = {
        "event": "start",
        "streamSid": "MZ" + "1" * 32,
        "start": {"callSid": call.call_sid, "streamSid": "MZ" + "1" * 32, "tracks": ["inbound"]},
    }
    batch = [
        json.dumps(media),  # media before start
        "{not json",
        json.dumps({"event": "bogus"}),
        json.dumps(start),
        json.dumps(start),  # a second start
        json.dumps({"event": "media", "media": {"payload": "***not base64***"}}),
        json.dumps(
            {"event": "media", "media": {"payload": base64.b64encode(b"\xff" * 8000).decode()}}
        ),
        json.dumps({"event": "media", "media": {"payload": "A" * 20_000}}),  # oversized frame
        json.dumps({"event": "dtmf", "dtmf": {"digit": "12"}}),
        json.dumps({"event": "stop"}),
    ]
    asyncio.run(send_frames(stream_url, batch))
    call.refresh_from_db()
    counted = eventually(lambda: Call.objects.get(pk=call.pk).input_errors)
    for kind in (
        "media_before_start",
        "malformed_json",
        "unknown_event",
        "second_start",
        "bad_base64",
        "bad_media_size",
        "oversized_frame",
        "bad_dtmf",
    ):
        assert counted.get(kind) == 1, (kind, counted)
