"""The call session wired by its factory, with an injected monitor and phone side, fake speech and
no socket: stream frames in through the protocol, what the call sends and records out."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from agents.engine import CallContext
from calls.models import Call, Speaker
from calls.recordings.spool import AGENT, CALLER
from calls.runtime.factory import call_session
from calls.runtime.protocol import MediaStreamProtocol
from calls.runtime.session import TRANSFER_DID_NOT_GO_THROUGH, CallSession
from calls.runtime.speech_render import SpeechRenderer
from calls.runtime.turns import TAKE_OVER_LINE
from tests.unit.call_runtime_fakes import (
    EnergyVAD,
    FakeControl,
    FakeSTT,
    FakeTTS,
    Hangups,
    InlineExecutor,
    Outbox,
    RecordingFeed,
    RecordingWriter,
    call_row,
    payloads,
    quiet,
    run_virtual,
    until,
)

STREAM_SID = "MZ" + "5" * 32
GREETING = "Hello there. How can I help?"


class Spool:
    def __init__(self) -> None:
        self.records: list[tuple[int, int, int]] = []  # (track, at ms, bytes)
        self.closed = False
        self.full = False

    def write(self, track: int, offset_ms: int, payload: bytes) -> None:
        self.records.append((track, offset_ms, len(payload)))

    def close(self) -> None:
        self.closed = True


class Phone:
    """One call's session and everything around it that a test looks at."""

    def __init__(self, call: Call | None = None) -> None:
        self.call = call or call_row()
        self.outbox = Outbox()
        self.hangups = Hangups()
        self.feed = RecordingFeed(self.call.pk)
        self.writer = RecordingWriter()
        self.phone_side = FakeControl()
        self.tts = FakeTTS(frames_per_sentence=5)
        self.spool = Spool()
        self.context = CallContext()
        pool = InlineExecutor()
        self.session: CallSession = call_session(
            call=self.call,
            context=self.context,
            send=self.outbox.send,
            hangup=self.hangups,
            monitor=self.feed,
            control=self.phone_side.control(),
            vad=EnergyVAD(),
            stt=lambda: FakeSTT("unused"),
            renderer=SpeechRenderer(tts=lambda: self.tts),
            speech_pool=pool,
            prerender_pool=pool,
            writer=self.writer,
            open_spool=lambda: self.spool,
        )
        self.stops = 0
        self.stream = MediaStreamProtocol(
            self.session, max_frame_bytes=10_000, on_stop=self._stopped
        )

    async def _stopped(self) -> None:
        self.stops += 1

    async def send(self, *messages: dict[str, Any] | str) -> None:
        for message in messages:
            await self.stream.receive(message if isinstance(message, str) else json.dumps(message))

    async def start(self) -> None:
        start = {"callSid": self.call.call_sid, "customParameters": {"lang": "en"}}
        await self.send(
            {"event": "connected"}, {"event": "start", "streamSid": STREAM_SID, "start": start}
        )

    async def mark_back(self, count: int) -> str:
        """Wait for the `count`-th mark and send it back, like Twilio once it played."""
        await until(lambda: len(self.outbox.of("mark")) >= count)
        name: str = self.outbox.of("mark")[count - 1]["mark"]["name"]
        await self.send({"event": "mark", "streamSid": STREAM_SID, "mark": {"name": name}})
        return name


def media(ulaw: bytes) -> dict[str, Any]:
    return {"event": "media", "media": {"payload": base64.b64encode(ulaw).decode()}}


def test_a_call_greets_records_both_tracks_and_closes() -> None:
    async def main() -> None:
        phone = Phone()
        session = phone.session
        assert session.monitor is phone.feed  # the consumer's monitor, not one of its own
        await phone.send("not json", media(quiet(20)))  # before the stream started
        await phone.start()
        assert session.started and session.stream_sid == STREAM_SID
        (started,) = phone.writer.named("call_mark_stream_started")
        assert started["stream_sid"] == STREAM_SID
        assert started["custom_parameters"] == {"lang": "en"}

        await phone.mark_back(1)
        assert phone.tts.rendered[:2] == ["Hello there.", "How can I help?"]
        assert "Are you still there? How can I help you?" in " ".join(phone.tts.rendered)
        assert len(phone.outbox.frames()) == 10  # the greeting: 2 sentences × 5 frames
        assert {m["streamSid"] for _, m in phone.outbox.sent} == {STREAM_SID}
        (greeting,) = phone.feed.of("transcript")
        assert greeting["speaker"] == Speaker.AGENT and greeting["text"] == GREETING
        assert phone.writer.named("transcript_add") == [{"call": phone.call, **greeting}]
        agent_audio = [a for a in phone.feed.of("audio") if a[0] == "agent"]
        assert [round(at_ms, -1) for _, at_ms, _ in agent_audio] == list(range(0, 200, 20))

        for payload in payloads(quiet(200)):
            await phone.send(media(payload))
        await phone.send({"event": "dtmf", "dtmf": {"digit": "5"}})
        await until(lambda: bool(phone.writer.named("call_save_conversation")))
        (dtmf,) = phone.writer.events("dtmf")
        assert (dtmf["digit"], dtmf["at_ms"]) == ("5", 200)
        assert [r for r in phone.spool.records if r[0] == CALLER] == [
            (CALLER, ms, 160) for ms in range(0, 200, 20)
        ]
        assert len([r for r in phone.spool.records if r[0] == AGENT]) == 10

        await phone.send({"event": "stop"})
        assert phone.stops == 1  # the consumer decides what a stop means
        await session.close("Twilio stopped the stream", stopped_by_twilio=True)
        await session.close("again")  # once only
        assert phone.feed.of("ended") == ["Twilio stopped the stream"]
        (ended,) = phone.writer.named("call_stream_ended")
        assert ended["input_errors"] == {"malformed_json": 1, "media_before_start": 1}
        assert ended["caller_hung_up"] is True
        assert phone.spool.closed and phone.writer.drained
        assert phone.hangups.count == 0

    run_virtual(main())


def test_a_take_over_is_handed_to_the_injected_phone_side_after_its_line() -> None:
    async def main() -> None:
        phone = Phone()
        not_yet = await phone.session.take_over(by="ann", action=None, destination="+15550003333")
        assert not_yet == (False, "The call's media stream is not active.")
        await phone.start()
        await until(lambda: bool(phone.outbox.of("mark")))  # the greeting was sent; not played
        assert await phone.session.take_over(by="ann", action=None, destination=None) == (
            False,
            "Choose a handover action or a phone number.",
        )
        ok = await phone.session.take_over(by="ann", action=None, destination="+15550003333")
        assert ok == (True, "Transferring the caller.")
        assert phone.outbox.of("clear")  # the greeting was cut for it
        (taken,) = phone.writer.events("take_over")
        assert (taken["by"], taken["destination"]) == ("ann", "+15550003333")

        await phone.mark_back(2)  # the take-over line played
        assert phone.tts.rendered[-1] == TAKE_OVER_LINE
        await until(lambda: phone.hangups.count == 1)
        (handover,) = phone.writer.named("request_handover")  # FakeControl's, not Twilio's
        assert handover["call_id"] == phone.call.pk
        assert handover["action"]["destination"] == "+15550003333"
        assert handover["reason"] == "Taken over by ann"
        assert ("handover_chosen", "Handing the caller over to +15550003333") in phone.feed.of(
            "event"
        )
        assert phone.writer.flushes == 1  # stored before the stream closes

    run_virtual(main())


def test_a_caller_back_from_a_failed_transfer_is_told_so() -> None:
    async def main() -> None:
        failed = {"handover": {"status": "failed", "action": {"name": "sales"}}}
        phone = Phone(call_row(conversation=failed))
        await phone.start()
        assert phone.writer.named("mark_reconnected") == [{"call_id": phone.call.pk}]
        await phone.mark_back(1)
        (line,) = phone.feed.of("transcript")
        assert line["text"] == TRANSFER_DID_NOT_GO_THROUGH

    run_virtual(main())


def test_texts_go_through_the_injected_phone_side() -> None:
    async def main() -> None:
        phone = Phone()
        assert phone.context.send_sms is not None
        assert await phone.context.send_sms("+15550004444", "Your code is 1234") == "SM1"
        assert phone.phone_side.texts == [
            (phone.call.call_sid, "+15550004444", "Your code is 1234")
        ]

    asyncio.run(main())


def test_a_stream_that_never_started_still_counts_its_bad_frames() -> None:
    async def main() -> None:
        phone = Phone()
        await phone.send({"event": "media"}, {"event": "mark", "mark": {"name": "x"}}, "[]")
        await phone.session.close("Websocket closed (1006)")
        assert phone.writer.named("call_count_input_errors") == [
            {
                "call_id": phone.call.pk,
                "errors": {"media_before_start": 1, "bad_mark": 1, "not_an_object": 1},
            }
        ]
        assert phone.writer.named("call_stream_ended") == [] and phone.feed.of("ended") == []

    run_virtual(main())
