"""Per-listener back-pressure of Listen & intervene, without sockets or services.

One call (MonitorFeed) fans out to two listeners' consumers as the channel layer would; one
listener's socket stalls. The stalled listener loses only its own oldest audio (and is told how
much), the fast one gets every message in order, and nothing on the call's side ever waits.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine
from typing import Any

from calls.live.monitor_consumer import MonitorConsumer
from calls.live.outbox import MAX_AUDIO, ListenerOutbox, audio_ms
from calls.runtime.monitor import AUDIO_BATCH_FRAMES, MAX_PENDING, MonitorFeed
from stellar.kernel import metrics

FRAME = b"\xff" * 160  # 20 ms of μ-law silence


def audio(at_ms: int, frames: int = AUDIO_BATCH_FRAMES) -> dict[str, Any]:
    payload = base64.b64encode(FRAME * frames).decode()
    return {"type": "monitor.audio", "track": "caller", "at_ms": at_ms, "payload": payload}


def finishes_without_waiting(coro: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine one step: it must be done at once (it never suspended)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise AssertionError("the coroutine waited")


class Socket:
    """What the consumer sends to its browser; `stalled` holds every send after the first."""

    def __init__(self, *, stalled: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.stalled = stalled
        self.unstall = asyncio.Event()

    async def send_json(self, message: dict[str, Any]) -> None:
        if self.stalled and self.sent:
            await self.unstall.wait()
        self.sent.append(message)


def listener(socket: Socket) -> MonitorConsumer:
    consumer = MonitorConsumer()
    consumer.call_id = 7
    consumer._outbox = ListenerOutbox()
    consumer.send_json = socket.send_json  # type: ignore[method-assign]
    return consumer


class FanOut:
    """The channel layer between the call and its listeners: delivery by message type."""

    def __init__(self, consumers: list[MonitorConsumer]) -> None:
        self.consumers = consumers

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        for consumer in self.consumers:
            # as Channels delivers it (dispatch): no hop to a database thread, no wait at all
            finishes_without_waiting(consumer.dispatch(message))


def test_outbox_keeps_the_newest_audio_and_every_transcript_line() -> None:
    box = ListenerOutbox(max_audio=3)
    dropped = [box.put(audio(at_ms=i * 200)) for i in range(5)]
    box.put({"type": "monitor.transcript", "text": "hello"})
    box.put(audio(at_ms=1000))
    assert dropped == [0, 0, 0, 1, 1] and box.dropped_audio == 3
    assert box.dropped_ms == 3 * AUDIO_BATCH_FRAMES * 20 == 3 * audio_ms(audio(0))

    async def drain() -> list[Any]:
        return [await box.get() for _ in range(len(box))]

    left = asyncio.run(drain())
    assert [m.get("at_ms", m.get("text")) for m in left] == [600, 800, "hello", 1000]


def test_outbox_get_waits_for_the_next_message() -> None:
    async def main() -> None:
        box = ListenerOutbox()
        waiting = asyncio.create_task(box.get())
        await asyncio.sleep(0)
        assert not waiting.done()
        box.put(audio(0))
        assert (await asyncio.wait_for(waiting, 1))["at_ms"] == 0

    asyncio.run(main())


def test_a_slow_listener_drops_its_own_oldest_audio_the_fast_one_gets_everything() -> None:
    async def main() -> None:
        fast, slow = Socket(), Socket(stalled=True)
        consumers = [listener(fast), listener(slow)]
        writers = [asyncio.create_task(c._write()) for c in consumers]
        feed = MonitorFeed(7, FanOut(consumers))
        feed.listener_joined("fast")
        feed.listener_joined("slow")
        dropped0 = metrics.MONITOR_LISTENER_DROPPED._value.get()
        batches = 20
        for i in range(batches * AUDIO_BATCH_FRAMES):
            feed.audio("caller", i * 20, FRAME)  # a plain call: the call's path cannot await
            if i == 50:
                feed.transcript(speaker="caller", text="I need help")
            await asyncio.sleep(0)  # the feed's sender and both writers get their turns
        for _ in range(50):
            await asyncio.sleep(0)

        fast_audio = [m for m in fast.sent if m["type"] == "monitor.audio"]
        assert [m["at_ms"] for m in fast_audio] == [
            n * AUDIO_BATCH_FRAMES * 20 for n in range(batches)
        ]
        assert all(m["dropped_ms"] == 0 and m["delay_ms"] < 1000 for m in fast_audio)
        assert [m["text"] for m in fast.sent if m["type"] == "monitor.transcript"] == [
            "I need help"
        ]

        # the slow socket took the first message, hangs on the second; its queue kept the newest
        stuck = consumers[1]._outbox
        assert len(slow.sent) == 1 and stuck.dropped_audio == batches - 2 - MAX_AUDIO
        assert metrics.MONITOR_LISTENER_DROPPED._value.get() == dropped0 + stuck.dropped_audio
        slow.unstall.set()
        for _ in range(50):
            await asyncio.sleep(0)
        slow_audio = [m for m in slow.sent if m["type"] == "monitor.audio"]
        newest = [n * AUDIO_BATCH_FRAMES * 20 for n in range(batches - MAX_AUDIO, batches)]
        assert [m["at_ms"] for m in slow_audio] == [0, AUDIO_BATCH_FRAMES * 20, *newest]
        assert slow_audio[-1]["dropped_ms"] == stuck.dropped_audio * AUDIO_BATCH_FRAMES * 20
        # the slow listener keeps the transcript line even though its audio was cut
        assert [m["text"] for m in slow.sent if m["type"] == "monitor.transcript"] == [
            "I need help"
        ]
        for writer in writers:
            writer.cancel()

    asyncio.run(asyncio.wait_for(main(), 5))


class StuckLayer:
    """A channel layer whose group_send never returns (Redis unreachable, process stalled)."""

    def __init__(self) -> None:
        self.calls = 0

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.calls += 1
        await asyncio.Event().wait()


def test_the_call_never_waits_on_its_listeners_and_keeps_transcripts_over_audio() -> None:
    async def main() -> None:
        layer = StuckLayer()
        feed = MonitorFeed(7, layer)
        feed.listener_joined("someone")
        feed.transcript(speaker="caller", text="first")  # its send hangs from here on
        await asyncio.sleep(0)
        feed.transcript(speaker="caller", text="kept")
        for i in range(5 * MAX_PENDING * AUDIO_BATCH_FRAMES):
            feed.audio("caller", i * 20, FRAME)
            feed.audio("agent", i * 20, FRAME)
        pending = feed._pending
        assert len(pending) == MAX_PENDING and layer.calls == 1
        assert pending[0] == {"type": "monitor.transcript", "speaker": "caller", "text": "kept"}
        assert all(m["type"] == "monitor.audio" for m in pending[1:])
        caller = [m for m in pending if m.get("track") == "caller"]
        assert caller[-1]["at_ms"] == (5 * MAX_PENDING - 1) * AUDIO_BATCH_FRAMES * 20
        assert feed._sender is not None
        feed._sender.cancel()

    asyncio.run(asyncio.wait_for(main(), 5))


class Recorder:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append(message)


def test_both_tracks_go_out_in_one_publish_per_caller_beat() -> None:
    async def main() -> None:
        layer = Recorder()
        feed = MonitorFeed(7, layer)
        feed.listener_joined("someone")
        beats = 3
        for i in range(beats * AUDIO_BATCH_FRAMES):
            feed.audio("agent", i * 20, FRAME)
            feed.audio("caller", i * 20, FRAME)
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(layer.sent) == beats
        for n, message in enumerate(layer.sent):
            assert message["type"] == "monitor.batch"
            tracks = [(m["track"], m["at_ms"], audio_ms(m)) for m in message["messages"]]
            at = n * AUDIO_BATCH_FRAMES * 20
            assert tracks == [("caller", at, 200), ("agent", at, 200)]
        # an agent talking while no caller audio comes is not held back for long
        for i in range(2 * AUDIO_BATCH_FRAMES):
            feed.audio("agent", 10_000 + i * 20, FRAME)
        await asyncio.sleep(0)
        assert layer.sent[-1]["track"] == "agent" and audio_ms(layer.sent[-1]) == 400

    asyncio.run(asyncio.wait_for(main(), 5))
