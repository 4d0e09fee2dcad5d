"""The agent's voice on its own: rendered frames paced out, a mark per utterance, `clear`."""

from __future__ import annotations

import asyncio

from calls.runtime.clock import CallClock
from calls.runtime.outbound import FRAME_SECONDS, LOOKAHEAD_SECONDS
from calls.runtime.speaker import AgentSpeaker
from calls.runtime.speech_render import SpeechRenderer
from tests.unit.call_runtime_fakes import FakeTTS, InlineExecutor, Outbox, run_virtual, until

STREAM_SID = "MZ" + "4" * 32


class Line:
    """A speaker on a virtual clock, with what it sent and what it reported as played."""

    def __init__(self, frames_per_sentence: int = 25) -> None:
        self.tts = FakeTTS(frames_per_sentence)
        self.outbox = Outbox()
        self.clock = CallClock()
        self.played: list[tuple[int, bytes]] = []
        self.speaker = AgentSpeaker(
            send=self.outbox.send,
            clock=self.clock,
            renderer=SpeechRenderer(tts=lambda: self.tts),
            voice="x",
            executor=InlineExecutor(),
            prerender_executor=InlineExecutor(),
        )

    async def __aenter__(self) -> Line:
        self.clock.start()
        self.speaker.start(STREAM_SID, lambda at_ms, frame: self.played.append((at_ms, frame)))
        self._task = asyncio.create_task(self.speaker.play())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()


def test_a_line_is_paced_in_real_time_then_marked() -> None:
    async def main() -> None:
        async with Line() as line:
            t0 = asyncio.get_running_loop().time()
            assert not line.speaker.speaking
            utt = await line.speaker.say_line("Hello there. How can I help?", kind="greeting")
            assert line.speaker.speaking
            await until(lambda: bool(line.outbox.of("mark")))

            sent = [(at - t0, m) for at, m in line.outbox.sent]
            media = [(at, m) for at, m in sent if m["event"] == "media"]
            assert len(media) == 50 == len(utt.frames) == utt.sent
            assert line.outbox.frames() == utt.frames
            assert all(m["streamSid"] == STREAM_SID for _, m in sent)
            # frame i plays at i × 20 ms and is sent at most LOOKAHEAD_SECONDS before that
            for i, (at, _) in enumerate(media):
                assert i * FRAME_SECONDS - LOOKAHEAD_SECONDS - 1e-9 <= at <= i * FRAME_SECONDS
            assert media[-1][0] >= 49 * FRAME_SECONDS - LOOKAHEAD_SECONDS - 1e-9
            # each frame reported (spool, monitor) at the call-clock ms it plays (int() of a float)
            assert [round(at_ms, -1) for at_ms, _ in line.played] == [i * 20 for i in range(50)]
            assert utt.start_ms == 0

            # the mark comes after the last frame, and the caller's side reports it back
            assert sent[-1][1] == {
                "event": "mark",
                "streamSid": STREAM_SID,
                "mark": {"name": utt.mark_name},
            }
            assert line.speaker.speaking  # until the stream played it
            assert line.speaker.mark_received("utterance-0") is None
            assert line.speaker.mark_received(utt.mark_name) is utt
            assert not line.speaker.speaking and not utt.cancelled
            assert utt.kind == "greeting" and utt.text == "Hello there. How can I help?"

    run_virtual(main())


def test_a_line_said_before_plays_from_the_cache() -> None:
    async def main() -> None:
        async with Line(frames_per_sentence=2) as line:
            first = await line.speaker.say_line("Goodbye.", kind="x")
            await until(lambda: len(line.outbox.of("mark")) == 1)
            rendered = list(line.tts.rendered)
            second = await line.speaker.say_line("Goodbye.", kind="x")
            await until(lambda: len(line.outbox.of("mark")) == 2)
            assert line.tts.rendered == rendered == ["Goodbye."]
            assert second.frames == first.frames and len(second.frames) == 2
            # one after the other, never overlapping
            marks = [m["mark"]["name"] for m in line.outbox.of("mark")]
            assert marks == [first.mark_name, second.mark_name]

    run_virtual(main())


def test_barge_in_clears_what_did_not_play() -> None:
    async def main() -> None:
        async with Line(frames_per_sentence=100) as line:
            assert await line.speaker.clear() == []  # nothing playing: nothing sent
            assert line.outbox.sent == []

            text = "This answer has exactly eight words in it."
            long = await line.speaker.say_line(text, kind="reply")
            queued = await line.speaker.say_line("And more.", kind="reply")
            await asyncio.sleep(0.5)  # virtual: 25 frames played, ~10 more sent ahead
            cut = await line.speaker.clear()
            assert cut == [long, queued]
            assert long.cancelled and queued.cancelled
            assert line.outbox.sent[-1][1] == {"event": "clear", "streamSid": STREAM_SID}
            sent = len(line.outbox.of("media"))
            assert sent == long.sent and 33 <= sent <= 37
            assert long.played is not None and 24 <= long.played <= 26  # what had played
            assert queued.sent == 0 and queued.heard_frames == 0
            assert long.heard_text() == "This answer"  # the share of the words that played

            await asyncio.sleep(1.0)
            assert len(line.outbox.of("media")) == sent  # nothing more after the clear
            assert line.outbox.of("mark") == []  # and no mark for what was cut
            assert not line.speaker.speaking

    run_virtual(main())


def test_prerender_renders_in_the_background_pool() -> None:
    line = Line()
    line.speaker.prerender(["Opening hours are nine to five.", "Goodbye."])
    assert line.tts.rendered == ["Opening hours are nine to five.", "Goodbye."]
