"""Unit tests of the Twilio call simulator: signing, TwiML, playback clock, and a loopback stream."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time
import wave
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import numpy as np
import pytest
from django.core.management import CommandError, call_command
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, Dial, Number, Stream, VoiceResponse
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from calls.simulator import (
    Audio,
    Digits,
    HangUp,
    OriginMap,
    PlaybackBuffer,
    SimulatedCall,
    Wait,
    WaitForAgent,
    build_request,
    format_transcript,
    load_wav,
    map_origin,
    parse_twiml,
    simulate_call,
    tone,
)
from calls.simulator.twiml import (
    ConnectVerb,
    DialVerb,
    HangupVerb,
    PauseVerb,
    RedirectVerb,
    SayVerb,
    TwimlError,
    UnknownVerb,
)
from stellar.kernel.audio import pcm16_to_ulaw

TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT = "AC" + "a" * 32
PUBLIC = "https://stellar.example.com"
WEBHOOK = "/v1/agents/abc/twilio-config"
TONE = pcm16_to_ulaw(tone(440, 0.2))  # 1600 μ-law bytes = 200 ms of "speech"


def xml(resp: VoiceResponse) -> httpx.Response:
    return httpx.Response(200, text=str(resp), headers={"content-type": "text/xml"})


def public_url_of(request: httpx.Request) -> str:
    """What the server would rebuild: configured public origin + raw path and query."""
    return PUBLIC + request.url.raw_path.decode()


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def valid(request: httpx.Request, token: str = TOKEN) -> bool:
    params = form_of(request) if request.method == "POST" else {}
    signature = request.headers["x-twilio-signature"]
    return RequestValidator(token).validate(public_url_of(request), params, signature)


def call(base_url: str = "http://127.0.0.1:8000", **kw: object) -> SimulatedCall:
    kw.setdefault("public_url", PUBLIC)
    return SimulatedCall(base_url, WEBHOOK, ACCOUNT, TOKEN, **kw)  # type: ignore[arg-type]


def run_with(handler, **kw: object):
    """Run a call whose HTTP side is answered in-process by `handler`."""
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    result = asyncio.run(simulate_call(call(transport=httpx.MockTransport(record), **kw)))
    return result, requests


def say_hangup(_request: httpx.Request) -> httpx.Response:
    resp = VoiceResponse()
    resp.say("Hello from TwiML")
    resp.hangup()
    return xml(resp)


# -- signatures ---------------------------------------------------------------------------


def test_post_webhook_is_signed_like_twilio() -> None:
    result, requests = run_with(say_hangup, from_="+31612345678", to="+3197010203040")
    (req,) = requests
    assert req.method == "POST"
    assert req.url.host == "127.0.0.1" and req.url.port == 8000  # sent to the real address
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    form = form_of(req)
    assert form["CallSid"] == result.call_sid and form["CallSid"].startswith("CA")
    assert len(form["CallSid"]) == 34
    assert form["AccountSid"] == ACCOUNT
    assert form["From"] == form["Caller"] == "+31612345678"
    assert form["To"] == form["Called"] == "+3197010203040"
    assert form["CallStatus"] == "ringing" and form["Direction"] == "inbound"
    assert form["ApiVersion"] == "2010-04-01"
    assert form["FromCountry"] == "NL" and form["ToCountry"] == "NL"
    assert req.url.query == b""
    assert valid(req)
    assert not valid(req, token="f" * 32)
    assert result.webhook_ok and result.webhook.status == 200
    assert result.webhook.content_type.startswith("text/xml")
    assert result.webhook.latency is not None and result.webhook.latency >= 0
    assert result.twilio_said == ["Hello from TwiML"]
    assert result.ended_by == "hangup"


def test_post_webhook_puts_ivr_params_in_query_string() -> None:
    _result, (req,) = run_with(say_hangup, extra_params={"Digits": "1", "FlowSid": "FW1"})
    assert dict(parse_qsl(req.url.query.decode())) == {"Digits": "1", "FlowSid": "FW1"}
    assert "Digits" not in form_of(req)
    assert valid(req)
    # The query string is part of the signed URL: dropping it must break validation.
    sig = req.headers["x-twilio-signature"]
    assert not RequestValidator(TOKEN).validate(PUBLIC + WEBHOOK, form_of(req), sig)


def test_get_webhook_has_all_params_in_query_and_is_signed() -> None:
    _result, (req,) = run_with(say_hangup, method="GET", extra_params={"Digits": "1"})
    assert req.method == "GET" and req.content == b""
    query = dict(parse_qsl(req.url.query.decode(), keep_blank_values=True))
    assert query["Digits"] == "1" and query["From"] == "+15005550006"
    assert query["CallStatus"] == "ringing"
    assert RequestValidator(TOKEN).validate(
        public_url_of(req), {}, req.headers["x-twilio-signature"]
    )


def test_build_request_matches_request_validator() -> None:
    params = {"CallSid": "CA1", "From": "+1 555", "Digits": ""}
    post = build_request("POST", PUBLIC + "/hook?x=1", params, TOKEN, query_params={"Digits": "9"})
    assert post.url == PUBLIC + "/hook?x=1&Digits=9"
    assert RequestValidator(TOKEN).validate(post.url, post.form, post.signature)
    get = build_request("get", PUBLIC + "/hook", params, TOKEN)
    assert get.method == "GET" and get.form == {}
    assert RequestValidator(TOKEN).validate(get.url, {}, get.signature)
    with pytest.raises(ValueError):
        build_request("PUT", PUBLIC, params, TOKEN)


# -- TwiML --------------------------------------------------------------------------------


def test_parse_twiml_verbs() -> None:
    resp = VoiceResponse()
    resp.say("Welcome", voice="Polly.Joanna", loop=2)
    resp.pause(length=3)
    connect = Connect(action="/v1/calls/7/connect-ended", method="GET")
    stream = Stream(url="wss://stellar.example.com/v1/media/TOKEN")
    stream.parameter(name="connector", value="abc")
    stream.parameter(name="call", value="7")
    connect.append(stream)
    resp.append(connect)
    dial = Dial(caller_id="+15005550006", timeout=20, action="https://h.example/dial-status")
    dial.append(Number("+31201234567"))
    resp.append(dial)
    resp.redirect("https://webhooks.twilio.com/v1/Accounts/AC1/Flows/FW1?FlowEvent=return")
    resp.hangup()
    resp.append(VoiceResponse().gather())  # nested <Gather> is not simulated
    verbs = parse_twiml(str(resp), base_url=PUBLIC + "/v1/agents/abc/twilio-config")

    say, pause, conn, dial_v, redirect, hangup, gather = verbs
    assert say == SayVerb(text="Welcome", voice="Polly.Joanna", loop=2)
    assert pause == PauseVerb(length=3.0)
    assert isinstance(conn, ConnectVerb)
    assert conn.action == PUBLIC + "/v1/calls/7/connect-ended" and conn.method == "GET"
    assert conn.stream is not None
    assert conn.stream.url == "wss://stellar.example.com/v1/media/TOKEN"
    assert conn.stream.parameters == {"connector": "abc", "call": "7"}
    assert isinstance(dial_v, DialVerb)
    assert dial_v.numbers == ("+31201234567",) and dial_v.caller_id == "+15005550006"
    assert dial_v.timeout == 20 and dial_v.action == "https://h.example/dial-status"
    assert dial_v.method == "POST"
    assert isinstance(redirect, RedirectVerb) and redirect.method == "POST"
    assert redirect.url.endswith("?FlowEvent=return")
    assert hangup == HangupVerb()
    assert isinstance(gather, UnknownVerb) and gather.tag == "Gather"


def test_parse_twiml_defaults_and_errors() -> None:
    verbs = parse_twiml(
        "<Response><Dial>+15551234567</Dial><Connect><Stream url='wss://x/y'/></Connect>"
        "<Redirect method='GET'>next</Redirect><Reject/></Response>",
        base_url="https://h.example/a/b",
    )
    assert verbs[0] == DialVerb(numbers=("+15551234567",))
    assert verbs[1] == ConnectVerb(stream=verbs[1].stream, action=None, method="POST")
    assert verbs[2] == RedirectVerb(url="https://h.example/a/next", method="GET")
    assert verbs[3] == HangupVerb(reject=True)
    with pytest.raises(TwimlError):
        parse_twiml("<Response><Say>unclosed</Response>")
    with pytest.raises(TwimlError):
        parse_twiml("<html><body>Server Error</body></html>")


# -- URL mapping --------------------------------------------------------------------------


def test_map_origin_public_to_connect() -> None:
    connect = "http://127.0.0.1:8000"
    assert map_origin("wss://pub.example.com/v1/media/T", "https://pub.example.com", connect) == (
        "ws://127.0.0.1:8000/v1/media/T"
    )
    assert map_origin("https://pub.example.com:443/a?b=1", "https://pub.example.com", connect) == (
        "http://127.0.0.1:8000/a?b=1"
    )
    assert (
        map_origin("wss://pub.example.com/x", "https://pub.example.com", "https://10.0.0.5:8443")
        == "wss://10.0.0.5:8443/x"
    )
    # Elsewhere (e.g. Twilio Studio) stays as is.
    other = "https://webhooks.twilio.com/v1/Accounts/AC1/Flows/FW1"
    assert map_origin(other, "https://pub.example.com", connect) == other
    assert map_origin("https://pub.example.com:8443/a", "https://pub.example.com", connect) == (
        "https://pub.example.com:8443/a"
    )
    # A public URL with a path prefix (reverse proxy mount point).
    assert map_origin("wss://h.example/stellar/v1/m", "https://h.example/stellar", connect) == (
        "ws://127.0.0.1:8000/v1/m"
    )
    origins = OriginMap(public="https://pub.example.com", connect=connect)
    assert origins.is_ours("wss://pub.example.com/v1/media/T")
    assert origins.is_ours("http://127.0.0.1:8000/v1/x")
    assert not origins.is_ours(other)


# -- playback clock, marks and clear ------------------------------------------------------


def test_mark_is_echoed_when_audio_before_it_has_played() -> None:
    pb = PlaybackBuffer(rate=8000)
    pb.feed(TONE, now=0.0)  # plays 0.0 – 0.2
    pb.add_mark("m1", now=0.01)
    assert pb.is_playing(0.1) and pb.is_speaking(0.1)
    assert pb.pop_due(0.1) == []
    assert pb.pending_marks == ["m1"]
    assert pb.pop_due(0.2) == ["m1"]
    assert pb.pop_due(0.3) == []
    assert not pb.is_playing(0.21)
    # Nothing playing: a mark is due at once.
    pb.add_mark("m2", now=0.5)
    assert pb.pop_due(0.5) == ["m2"]


def test_audio_queues_behind_audio_that_is_still_playing() -> None:
    pb = PlaybackBuffer(rate=8000)
    pb.feed(TONE[:800], now=0.0)
    pb.feed(TONE[800:], now=0.05)  # arrives early: plays 0.1 – 0.2, not 0.05 – 0.15
    pb.add_mark("end", now=0.06)
    assert pb.pop_due(0.15) == []
    assert pb.pop_due(0.2) == ["end"]
    assert pb.played_bytes(0.15) == 1200
    assert pb.played_audio(1.0) == TONE
    # Silence keeps the line busy but is not speech.
    pb.feed(b"\xff" * 1600, now=1.0)
    assert pb.is_playing(1.1) and not pb.is_speaking(1.1)


def test_clear_drops_unplayed_audio_and_flushes_pending_marks() -> None:
    pb = PlaybackBuffer(rate=8000)
    pb.feed(TONE, now=0.0)
    pb.add_mark("a", now=0.0)
    pb.feed(TONE, now=0.0)
    pb.add_mark("b", now=0.0)
    assert pb.clear(now=0.05) == ["a", "b"]  # both echoed at once, in order
    assert pb.clears[0].dropped_bytes == 3200 - 400
    assert not pb.is_playing(0.05)
    assert pb.pop_due(10) == []
    assert pb.played_audio(10) == TONE[:400]
    assert [m.cleared for m in pb.echoed] == [True, True]
    # Audio after the clear plays right away.
    pb.feed(TONE, now=1.0)
    pb.add_mark("c", now=1.0)
    assert pb.pop_due(1.2) == ["c"]
    utts = pb.utterances(2.0)
    assert [(u.mark, u.cleared, len(u.audio)) for u in utts] == [
        ("a", True, 400),
        ("c", False, 1600),
    ]
    assert utts[1].started_at == pytest.approx(1.0)
    assert utts[1].ended_at == pytest.approx(1.2)


def test_utterances_split_by_marks_and_cut_at_now() -> None:
    pb = PlaybackBuffer(rate=8000)
    pb.feed(TONE, 0.0)
    pb.add_mark("one", 0.0)
    pb.feed(TONE, 0.0)
    pb.add_mark("two", 0.0)
    pb.pop_due(0.2)
    assert [u.mark for u in pb.utterances(0.3)] == ["one", None]  # "two" still playing
    assert len(pb.utterances(0.3)[1].audio) == 800
    pb.pop_due(0.4)
    assert [(u.mark, len(u.audio)) for u in pb.utterances(0.5)] == [("one", 1600), ("two", 1600)]
    assert pb.first_arrival_after(0.0) == 0.0 and pb.first_arrival_after(0.1) is None


def test_load_wav_any_rate_and_channels(tmp_path: Path) -> None:
    stereo = np.repeat(tone(300, 0.5, rate=16000), 2)
    path = tmp_path / "caller.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(stereo.astype("<i2").tobytes())
    pcm = load_wav(path)
    assert pcm.dtype == np.int16 and len(pcm) == 4000
    assert np.sqrt(np.mean(pcm.astype(float) ** 2)) > 5000
    path8 = tmp_path / "u8.wav"
    with wave.open(str(path8), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes([128] * 800))
    assert len(load_wav(path8)) == 800 and not load_wav(path8).any()


# -- call flow without sockets ------------------------------------------------------------


def test_dial_action_and_redirect_back_to_studio() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        resp = VoiceResponse()
        if request.url.path == WEBHOOK:
            dial = Dial(caller_id="+15005550006", timeout=20, action="/v1/calls/7/dial-status")
            dial.append(Number("+31201234567"))
            resp.append(dial)
        else:
            resp.say("Nobody answered")
            resp.redirect("https://webhooks.twilio.com/v1/Accounts/AC1/Flows/FW1?FlowEvent=return")
        return xml(resp)

    result, requests = run_with(handler, dial_statuses=["busy"])
    assert [r.url.path for r in requests] == [WEBHOOK, "/v1/calls/7/dial-status"]
    dial_req = requests[1]
    assert dial_req.url.host == "127.0.0.1" and valid(dial_req)
    form = form_of(dial_req)
    assert form["DialCallStatus"] == "busy" and form["DialCallSid"].startswith("CA")
    assert form["DialCallDuration"] == "0" and form["CallSid"] == result.call_sid
    (dial,) = result.dials
    assert (dial.number, dial.caller_id, dial.timeout, dial.status) == (
        "+31201234567",
        "+15005550006",
        20,
        "busy",
    )
    assert dial.action == PUBLIC + "/v1/calls/7/dial-status"
    assert result.twilio_said == ["Nobody answered"]
    assert [
        (r.followed, r.url.startswith("https://webhooks.twilio.com")) for r in result.redirects
    ] == [(False, True)]
    assert result.ended_by == "redirect-external"
    assert [e.kind for e in result.exchanges] == ["webhook", "dial-action"]
    assert result.ok


def test_redirect_loop_guard_and_http_failures() -> None:
    def loop(_request: httpx.Request) -> httpx.Response:
        resp = VoiceResponse()
        resp.redirect(PUBLIC + "/again", method="GET")
        return xml(resp)

    result, requests = run_with(loop)
    assert len(requests) == 10 and result.ended_by == "loop-guard" and not result.ok
    assert all(valid(r) for r in requests)

    result, _ = run_with(lambda _r: httpx.Response(500, text="boom"))
    assert not result.webhook_ok and result.webhook.status == 500 and result.errors

    result, _ = run_with(
        lambda _r: httpx.Response(200, text="<Response/>", headers={"content-type": "text/plain"})
    )
    assert not result.webhook_ok and "12300" in result.errors[0]


# -- loopback media stream ----------------------------------------------------------------


class FakeTwilioServer:
    """A tiny stand-in for our media consumer that talks the Twilio stream protocol."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict]] = []
        self.marks_sent: dict[str, float] = {}
        self.paths: list[str] = []
        self.signatures: list[str] = []
        self.connections = 0

    async def send_audio(self, ws, sid: str, audio: bytes, mark: str) -> None:
        for i in range(0, len(audio), 320):
            payload = base64.b64encode(audio[i : i + 320]).decode()
            await ws.send(
                json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}})
            )
        self.marks_sent[mark] = time.monotonic()
        await ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": mark}}))


def signed_stream_url(server: FakeTwilioServer, ws) -> None:
    server.paths.append(ws.request.path)
    server.signatures.append(ws.request.headers.get("x-twilio-signature", ""))


async def with_server(handler, coro_factory, process_request=None):
    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as srv:
        port = srv.sockets[0].getsockname()[1]
        return await asyncio.wait_for(coro_factory(port), 30)


def connect_twiml(path: str, action: str | None = None, **params: str) -> httpx.Response:
    resp = VoiceResponse()
    connect = Connect(action=action) if action else Connect()
    stream = Stream(url=f"wss://stellar.example.com{path}")
    for name, value in params.items():
        stream.parameter(name=name, value=value)
    connect.append(stream)
    resp.append(connect)
    return xml(resp)


def test_loopback_stream_events_in_order_with_mark_echo_and_stop() -> None:
    server = FakeTwilioServer()

    async def handler(ws) -> None:
        signed_stream_url(server, ws)
        sid = None
        async for raw in ws:
            msg = json.loads(raw)
            server.received.append((time.monotonic(), msg))
            if msg["event"] == "start":
                sid = msg["streamSid"]
                await server.send_audio(ws, sid, TONE, "greeting")
            elif msg["event"] == "dtmf":
                await server.send_audio(ws, sid, TONE, "reply")
            elif msg["event"] == "stop":
                break

    http_requests: list[httpx.Request] = []

    def http(request: httpx.Request) -> httpx.Response:
        http_requests.append(request)
        return connect_twiml("/v1/media/tok", action="/v1/calls/7/connect-ended", connector="abc")

    async def place(port: int):
        return await simulate_call(
            call(
                base_url=f"http://127.0.0.1:{port}",
                transport=httpx.MockTransport(http),
                realtime=4.0,
                script=[
                    WaitForAgent(timeout=5, quiet=0.2),
                    Audio(tone(300, 0.2), label="caller tone"),
                    Digits("5"),
                    WaitForAgent(timeout=5, quiet=0.2),
                    Wait(0.1),
                    HangUp(),
                ],
            )
        )

    result = asyncio.run(with_server(handler, place))
    assert result.ok, result.errors

    # Handshake: the real path, signed over the public wss URL with no params.
    assert server.paths == ["/v1/media/tok"]
    assert RequestValidator(TOKEN).validate(
        "wss://stellar.example.com/v1/media/tok", {}, server.signatures[0]
    )

    msgs = [m for _, m in server.received]
    events = [m["event"] for m in msgs]
    assert events[:3] == ["connected", "start", "media"]
    assert msgs[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = msgs[1]
    sid = start["streamSid"]
    assert sid.startswith("MZ") and len(sid) == 34 and start["sequenceNumber"] == "1"
    assert start["start"] == {
        "accountSid": ACCOUNT,
        "streamSid": sid,
        "callSid": result.call_sid,
        "tracks": ["inbound"],
        "customParameters": {"connector": "abc"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    assert [int(m["sequenceNumber"]) for m in msgs[1:]] == list(range(1, len(msgs)))
    assert all(m["streamSid"] == sid for m in msgs[1:])
    media = [m["media"] for m in msgs if m["event"] == "media"]
    assert [int(m["chunk"]) for m in media] == list(range(1, len(media) + 1))
    assert [int(m["timestamp"]) for m in media] == [20 * i for i in range(len(media))]
    assert all(
        m["track"] == "inbound" and len(base64.b64decode(m["payload"])) == 160 for m in media
    )
    voiced = [m for m in media if base64.b64decode(m["payload"]) != b"\xff" * 160]
    assert len(voiced) == 10  # the 200 ms caller tone, framed

    # Marks come back in order, only after their audio played (200 ms at 4x = 50 ms).
    echoes = [(t, m) for t, m in server.received if m["event"] == "mark"]
    assert [m["mark"]["name"] for _, m in echoes] == ["greeting", "reply"]
    for t, m in echoes:
        assert t - server.marks_sent[m["mark"]["name"]] >= 0.04
    order = [e for e in events if e != "media"]
    assert order == ["connected", "start", "mark", "dtmf", "mark", "stop"]
    dtmf = next(m for m in msgs if m["event"] == "dtmf")
    assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "5"}
    assert msgs[-1]["event"] == "stop"
    assert msgs[-1]["stop"] == {"accountSid": ACCOUNT, "callSid": result.call_sid}

    # What the simulator recorded.
    (stream,) = result.streams
    assert stream.ended_by == "caller" and stream.connect_url.startswith("ws://127.0.0.1:")
    assert result.media_frames_received == 10
    assert [(m.name, m.echoed_at is not None) for m in result.marks] == [
        ("greeting", True),
        ("reply", True),
    ]
    assert [u.mark for u in result.agent_utterances] == ["greeting", "reply"]
    assert len(result.agent_audio) == 3200
    assert result.timings.first_agent_media is not None
    assert result.timings.first_agent_media < 1.0
    tone_utt, digits_utt = result.caller_utterances
    assert tone_utt.text == "caller tone" and tone_utt.ended_at > tone_utt.started_at
    assert digits_utt.kind == "digits" and 0 <= digits_utt.response_delay < 1.0
    # Caller hung up: Twilio does not request the Connect action.
    assert len(http_requests) == 1
    assert result.ended_by == "caller-hangup"
    text = format_transcript(result)
    assert "caller tone" in text and "mark greeting" in text and "presses 5" in text


def test_server_close_runs_connect_action_dial_and_reconnect() -> None:
    server = FakeTwilioServer()

    async def handler(ws) -> None:
        signed_stream_url(server, ws)
        server.connections += 1
        first = server.connections == 1
        async for raw in ws:
            msg = json.loads(raw)
            server.received.append((time.monotonic(), msg))
            if msg["event"] == "start":
                await server.send_audio(ws, msg["streamSid"], TONE, f"m{server.connections}")
            elif msg["event"] == "mark" and first:
                return  # agent done: close the stream, Twilio goes to the action URL
            elif msg["event"] == "stop":
                return

    def http(request: httpx.Request) -> httpx.Response:
        assert valid(request)
        path = request.url.path
        if path == WEBHOOK:
            return connect_twiml("/v1/media/one", action="/v1/calls/7/connect-ended")
        if path == "/v1/calls/7/connect-ended":
            resp = VoiceResponse()
            dial = Dial(caller_id="+15005550006", timeout=15, action="/v1/calls/7/dial-status")
            dial.append(Number("+31201234567"))
            resp.append(dial)
            return xml(resp)
        assert path == "/v1/calls/7/dial-status"
        assert form_of(request)["DialCallStatus"] == "no-answer"
        return connect_twiml("/v1/media/two", reconnect="1")

    async def place(port: int):
        return await simulate_call(
            call(
                base_url=f"http://127.0.0.1:{port}",
                transport=httpx.MockTransport(http),
                realtime=4.0,
                dial_statuses=["no-answer"],
                script=[
                    WaitForAgent(timeout=5, quiet=0.1),
                    WaitForAgent(timeout=5, quiet=0.1),
                    HangUp(),
                ],
            )
        )

    result = asyncio.run(with_server(handler, place))
    assert result.ok, result.errors
    assert server.paths == ["/v1/media/one", "/v1/media/two"]
    assert [e.kind for e in result.exchanges] == ["webhook", "connect-action", "dial-action"]
    assert result.exchanges[1].params["CallStatus"] == "in-progress"
    assert [s.ended_by for s in result.streams] == ["server", "caller"]
    assert result.streams[1].custom_parameters == {"reconnect": "1"}
    stops = [m for _, m in server.received if m["event"] == "stop"]
    assert len(stops) == 1 and stops[0]["streamSid"] == result.streams[1].stream_sid
    assert [(d.number, d.status) for d in result.dials] == [("+31201234567", "no-answer")]
    assert [u.mark for u in result.agent_utterances] == ["m1", "m2"]


def test_clear_echoes_pending_marks_at_once_and_cuts_agent_audio() -> None:
    server = FakeTwilioServer()
    long_audio = pcm16_to_ulaw(tone(500, 1.0))  # 1 s: 0.5 s to play at 2x

    async def handler(ws) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            server.received.append((time.monotonic(), msg))
            if msg["event"] == "start":
                sid = msg["streamSid"]
                await server.send_audio(ws, sid, long_audio, "long")
                await asyncio.sleep(0.1)
                server.marks_sent["clear"] = time.monotonic()
                await ws.send(json.dumps({"event": "clear", "streamSid": sid}))
            elif msg["event"] == "stop":
                return

    async def place(port: int):
        return await simulate_call(
            call(
                base_url=f"http://127.0.0.1:{port}",
                transport=httpx.MockTransport(lambda _r: connect_twiml("/v1/media/c")),
                realtime=2.0,
                script=[Wait(0.6), HangUp()],
            )
        )

    result = asyncio.run(with_server(handler, place))
    ((echo_t, echo),) = [(t, m) for t, m in server.received if m["event"] == "mark"]
    assert echo["mark"]["name"] == "long"
    assert 0 <= echo_t - server.marks_sent["clear"] < 0.25  # at once, not after ~0.4 s more
    (clear,) = result.clears
    assert clear.marks_echoed == ["long"] and clear.dropped_bytes > 0
    (utt,) = result.agent_utterances
    assert utt.cleared and utt.mark == "long"
    assert len(utt.pcm) + clear.dropped_bytes == len(long_audio)  # played + dropped = sent
    assert utt.duration > 0.1
    assert result.marks[0].cleared


@pytest.mark.parametrize("barge_in", [False, True])
def test_caller_waits_for_the_agent_unless_barging_in(barge_in: bool) -> None:
    server = FakeTwilioServer()
    greeting = pcm16_to_ulaw(tone(500, 1.0))  # 0.25 s to play at 4x

    async def handler(ws) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            server.received.append((time.monotonic(), msg))
            if msg["event"] == "start":
                await server.send_audio(ws, msg["streamSid"], greeting, "greeting")
            elif msg["event"] == "stop":
                return

    async def place(port: int):
        return await simulate_call(
            call(
                base_url=f"http://127.0.0.1:{port}",
                transport=httpx.MockTransport(lambda _r: connect_twiml("/v1/media/b")),
                realtime=4.0,
                script=[Wait(0.4), Audio(tone(300, 0.2), barge_in=barge_in), Wait(1), HangUp()],
            )
        )

    asyncio.run(with_server(handler, place))
    silence = base64.b64encode(b"\xff" * 160).decode()
    first_voiced = next(
        t for t, m in server.received if m["event"] == "media" and m["media"]["payload"] != silence
    )
    (echo_t,) = [t for t, m in server.received if m["event"] == "mark"]
    assert (first_voiced < echo_t) is barge_in


def test_refused_stream_is_reported() -> None:
    def refuse(_connection, _request):
        return Response(403, "Forbidden", Headers(), b"bad signature")

    async def place(port: int):
        return await simulate_call(
            call(
                base_url=f"http://127.0.0.1:{port}",
                transport=httpx.MockTransport(lambda _r: connect_twiml("/v1/media/x")),
                realtime=4.0,
            )
        )

    async def never(_ws) -> None:  # pragma: no cover - handshake is refused
        raise AssertionError

    result = asyncio.run(with_server(never, place, process_request=refuse))
    assert result.stream_refused and not result.ok
    assert result.streams[0].refused_status == 403
    assert result.ended_by == "stream-refused"


# -- manage.py simulate_call --------------------------------------------------------------


class ThreadedFakeServer:
    """HTTP GET webhook + media websocket on one port, in a thread (the command runs its own loop)."""

    def __init__(self, refuse_stream: bool = False) -> None:
        self.refuse_stream = refuse_stream
        self.webhook_queries: list[str] = []
        self.received: list[dict] = []
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def _process_request(self, _connection, request):
        path, _, query = request.path.partition("?")
        if path == WEBHOOK:
            self.webhook_queries.append(query)
            return Response(
                200,
                "OK",
                Headers({"Content-Type": "text/xml"}),
                str(connect_twiml("/v1/media/cmd", connector="abc").text).encode(),
            )
        if self.refuse_stream:
            return Response(403, "Forbidden", Headers(), b"no")
        return None

    async def _handler(self, ws) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            self.received.append(msg)
            if msg["event"] == "start":
                await FakeTwilioServer().send_audio(ws, msg["streamSid"], TONE, "hello")
            elif msg["event"] == "dtmf":
                return  # e.g. a transfer: the server ends the stream

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self._handler, "127.0.0.1", 0, process_request=self._process_request) as s:
            self.port = s.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop

    def __enter__(self) -> ThreadedFakeServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)


def run_command(*args: str) -> str:
    out = io.StringIO()
    call_command("simulate_call", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_command_places_a_call_without_database_when_flags_are_given() -> None:
    with ThreadedFakeServer() as server:
        output = run_command(
            f"--url=http://127.0.0.1:{server.port}",
            f"--public-url={PUBLIC}",
            f"--webhook-url={PUBLIC}{WEBHOOK}",
            f"--account-sid={ACCOUNT}",
            f"--auth-token={TOKEN}",
            "--method=GET",
            "--param=Digits=1",
            "--digits=9",
            "--fast=4",
            "--no-transcribe",
        )
    (query,) = server.webhook_queries
    assert "Digits=1" in query and f"AccountSid={ACCOUNT}" in query
    events = [m["event"] for m in server.received]
    assert events[:2] == ["connected", "start"] and "dtmf" in events and "stop" not in events
    assert "mark hello" in output and "presses 9" in output and "Result: OK" in output


def test_command_fails_when_stream_is_refused_or_credentials_missing() -> None:
    refused = pytest.raises(CommandError, match="stream was refused")
    with ThreadedFakeServer(refuse_stream=True) as server, refused:
        run_command(
            f"--url=http://127.0.0.1:{server.port}",
            f"--webhook-url=http://127.0.0.1:{server.port}{WEBHOOK}",
            f"--account-sid={ACCOUNT}",
            f"--auth-token={TOKEN}",
            "--method=GET",
            "--fast",
            "--no-transcribe",
        )
    with pytest.raises(CommandError, match="--account-sid"):
        run_command("--webhook-url=http://127.0.0.1:1/x")


def test_command_keeps_caller_steps_in_command_line_order() -> None:
    from calls.management.commands.simulate_call import Command

    parser = Command().create_parser("manage.py", "simulate_call")
    options = parser.parse_args(
        ["--connector", "abc", "--say", "hi", "--digits", "12", "--wav", "a.wav", "--wait", "3"]
    )
    script = Command._script(options.steps, options.wait)
    assert [type(s).__name__ for s in script] == [
        "WaitForAgent",
        "Say",
        "WaitForAgent",
        "Digits",
        "WaitForAgent",
        "Audio",
        "WaitForAgent",
    ]
    assert script[1].text == "hi" and script[3].digits == "12" and script[0].timeout == 3
