"""The Media Streams protocol on its own: frames checked, counted when bad, turned into calls."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from typing import Any

import pytest

from calls.runtime.protocol import MAX_MEDIA_BYTES, MediaStreamProtocol

CALL_SID = "CA" + "1" * 32


class Handler:
    """A call side that records what the protocol made of the frames."""

    def __init__(self, *, fail: bool = False) -> None:
        self.call_sid = CALL_SID
        self.started = False
        self.closed = False
        self.errors: Counter[str] = Counter()
        self.details: list[str] = []
        self.calls: list[tuple[str, Any]] = []
        self.fail = fail

    def count_error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        self.details.append(detail)

    async def start(self, *, stream_sid: str, custom_parameters: dict[str, Any]) -> None:
        self.started = True
        self.calls.append(("start", (stream_sid, custom_parameters)))

    def caller_audio(self, ulaw: bytes, timestamp_ms: int | None = None) -> None:
        if self.fail:
            raise RuntimeError("boom")
        self.calls.append(("audio", ulaw))
        self.calls.append(("timestamp", timestamp_ms))

    def caller_pressed(self, digit: str) -> None:
        self.calls.append(("dtmf", digit))

    def mark_played(self, name: str) -> None:
        self.calls.append(("mark", name))

    async def hang_up(self) -> None:
        self.calls.append(("hang_up", None))


def feed(handler: Handler, *frames: str | dict[str, Any] | None) -> list[str]:
    """Send the frames through a protocol; returns how often `stop` was seen."""
    stops: list[str] = []

    async def on_stop() -> None:
        stops.append("stop")

    protocol = MediaStreamProtocol(handler, max_frame_bytes=4096, on_stop=on_stop)

    async def main() -> None:
        for frame in frames:
            await protocol.receive(
                frame if frame is None or isinstance(frame, str) else json.dumps(frame)
            )

    asyncio.run(main())
    return stops


def start(call_sid: str = CALL_SID, **extra: Any) -> dict[str, Any]:
    return {
        "event": "start",
        "streamSid": "MZ" + "9" * 80,
        "start": {"callSid": call_sid, "customParameters": {"reconnect": "x"}, **extra},
    }


def media(payload: Any, track: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"payload": payload}
    if track is not None:
        body["track"] = track
    return {"event": "media", "media": body}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_frames_that_are_not_protocol_messages_are_counted() -> None:
    handler = Handler()
    stops = feed(handler, None, "x" * 4097, "{not json", "[1, 2]", '"text"', {"event": "nope"})
    assert handler.errors == {
        "binary_frame": 1,
        "oversized_frame": 1,
        "malformed_json": 1,
        "not_an_object": 2,
        "unknown_event": 1,
    }
    assert "4097" in handler.details and "nope" in handler.details
    assert handler.calls == [] and stops == []


def test_start_is_checked_against_the_call_and_happens_once() -> None:
    handler = Handler()
    feed(handler, {"event": "start", "start": "nope"}, {"event": "connected"}, start(), start())
    assert handler.errors == {"bad_start": 1, "second_start": 1}
    stream_sid, custom = handler.calls[0][1]
    assert stream_sid == ("MZ" + "9" * 80)[:64]
    assert custom == {"reconnect": "x"}
    assert len(handler.calls) == 1

    odd = Handler()
    feed(odd, {"event": "start", "start": {"streamSid": "MZ1", "customParameters": [1]}})
    assert odd.calls == [("start", ("MZ1", {}))]  # no callSid to check; parameters not a dict


def test_a_stream_of_another_call_is_hung_up() -> None:
    handler = Handler()
    feed(handler, start(call_sid="CA" + "2" * 32), media(b64(b"\x01" * 160)))
    assert handler.errors == {"start_call_sid_mismatch": 1, "media_before_start": 1}
    assert handler.calls == [("hang_up", None)]
    assert not handler.started


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (media(None), "bad_media"),
        ({"event": "media", "media": "payload"}, "bad_media"),
        (media("not base64!"), "bad_base64"),
        (media(""), "bad_media_size"),
        (media(b64(b"\x01" * (MAX_MEDIA_BYTES + 1))), "bad_media_size"),
    ],
)
def test_bad_media_is_counted_and_dropped(frame: dict[str, Any], error: str) -> None:
    handler = Handler()
    feed(handler, start(), frame)
    assert handler.errors == {error: 1}
    assert [kind for kind, _ in handler.calls] == ["start"]


def test_media_timestamps_reach_the_call_when_they_are_well_formed() -> None:
    handler = Handler()
    frame = media(b64(bytes(160)))
    feed(
        handler,
        start(),
        *({**frame, "media": {**frame["media"], "timestamp": ts}} for ts in ("40", "-20", 7)),
        frame,
    )
    assert [v for kind, v in handler.calls if kind == "timestamp"] == [40, None, None, None]


def test_caller_audio_of_the_inbound_track_goes_to_the_call() -> None:
    handler = Handler()
    audio = bytes(range(160))
    feed(
        handler,
        media(b64(audio)),  # before start
        start(),
        media(b64(audio)),
        media(b64(audio), track="inbound_track"),
        media(b64(b"\x02" * 160), track="outbound"),  # our own audio echoed: ignored
        media(b64(b"\x03" * MAX_MEDIA_BYTES)),
    )
    assert handler.errors == {"media_before_start": 1}
    assert [value for kind, value in handler.calls if kind == "audio"] == [
        audio,
        audio,
        b"\x03" * MAX_MEDIA_BYTES,
    ]


def test_dtmf_digits_are_validated() -> None:
    handler = Handler()
    bad = [{"event": "dtmf"}] + [
        {"event": "dtmf", "dtmf": {"digit": d}} for d in ("", "12", "x", 5)
    ]
    good = [{"event": "dtmf", "dtmf": {"digit": d}} for d in ("7", "#", "D")]
    feed(handler, *bad, *good)
    assert handler.errors == {"bad_dtmf": 5}
    assert handler.calls == [("dtmf", "7"), ("dtmf", "#"), ("dtmf", "D")]


def test_marks_need_a_name_and_a_started_stream() -> None:
    handler = Handler()
    mark = {"event": "mark", "mark": {"name": "utterance-1"}}
    feed(handler, mark, start(), {"event": "mark", "mark": {}}, {"event": "mark"}, mark)
    assert handler.errors == {"bad_mark": 3}
    assert handler.calls[-1] == ("mark", "utterance-1")


def test_stop_is_handed_to_the_consumer() -> None:
    handler = Handler()
    assert feed(handler, start(), {"event": "stop", "stop": {}}) == ["stop"]
    assert not handler.errors


def test_an_error_in_the_call_is_counted_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    handler = Handler(fail=True)
    feed(handler, start(), media(b64(b"\x01" * 160)), media(b64(b"\x01" * 160)))
    assert handler.errors == {"handler_error": 2}
    assert f"call {CALL_SID}: error handling media" in caplog.text
