"""Agent audio to Twilio: 20 ms μ-law frames paced to real time, a mark per utterance, clear."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from calls.runtime.timing import TurnTiming
from stellar.kernel.audio import FRAME_MS

if TYPE_CHECKING:  # only a type here: the benchmarks' clients import this module without Django
    from agents.engine import EndCall, Handover

FRAME_SECONDS = FRAME_MS / 1000
# Audio is sent this far ahead of when it plays, so event-loop stalls under load are absorbed
# by Twilio's buffer instead of heard as gaps; `clear` empties that buffer on barge-in.
LOOKAHEAD_SECONDS = 0.2
_ids = itertools.count(1)

Send = Callable[[dict[str, Any]], Awaitable[None]]  # one JSON message to the stream
FrameSink = Callable[[int, bytes], None]  # (call-clock ms when it plays, μ-law frame)


@dataclass
class Utterance:
    """One thing the agent says; frames may keep arriving while it plays (sentence streaming)."""

    text: str
    frames: list[bytes] = field(default_factory=list)
    id: int = field(default_factory=lambda: next(_ids))
    complete: bool = False
    cancelled: bool = False
    sent: int = 0
    played: int | None = None  # set when cut: frames the caller heard (sent minus in flight)
    start_ms: int | None = None
    end_call: bool = False
    kind: str = ""  # greeting, reply, dtmf, silence, take_over, reconnect, error
    caller_text: str = ""  # the caller's words it answers (asked again if none of it is heard)
    timing: TurnTiming | None = None  # a reply's stages, recorded once it starts playing
    ending: Handover | EndCall | None = None  # carried out once it has played
    recorded: bool = False  # its transcript line is written
    # (frames, characters of `text`) at each point where the audio so far says the text so far:
    # a rendered sentence's end. What was heard of a cut utterance is found between two.
    spans: list[tuple[int, int]] = field(default_factory=list)
    _more: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def mark_name(self) -> str:
        return f"utterance-{self.id}"

    def feed(self, frames: list[bytes]) -> None:
        self.frames.extend(frames)
        self._more.set()

    def finish(self) -> None:
        self.complete = True
        self._more.set()

    @property
    def heard_frames(self) -> int:
        return self.sent if self.played is None else self.played

    def spoken(self, chars: int) -> None:
        """The frames fed so far say `text[:chars]` (a sentence was rendered)."""
        self.spans.append((len(self.frames), min(chars, len(self.text))))

    def heard_text(self) -> str:
        """The words the caller heard: whole rendered sentences that played, then a share of
        the next one's words by the share of its audio that played (the whole text by the
        whole audio when no sentence ends are known)."""
        if not self.cancelled or not self.frames:
            return self.text
        heard = self.heard_frames
        known = self.spans or [(len(self.frames), len(self.text))]
        frames0, chars0 = 0, 0
        for frames, chars in known:
            if heard < frames:
                words = self.text[chars0:chars].split()
                share = (heard - frames0) / max(1, frames - frames0)
                kept = [self.text[:chars0].strip(), *words[: int(len(words) * share)]]
                return " ".join(part for part in kept if part)
            frames0, chars0 = frames, chars
        return self.text[:chars0].strip()


class PacedSender:
    def __init__(
        self,
        *,
        send: Send,
        stream_sid: str,
        clock_ms: Callable[[float], int],
        on_frame: FrameSink,
    ):
        self._send = send
        self._stream_sid = stream_sid
        self._clock_ms = clock_ms
        self._on_frame = on_frame  # (call-clock ms when it plays, μ-law frame): spool, monitor
        self._queue: asyncio.Queue[Utterance] = asyncio.Queue()
        self._next_at = 0.0
        self.current: Utterance | None = None
        self.awaiting_mark: dict[str, Utterance] = {}
        self.max_lag = 0.0

    @property
    def speaking(self) -> bool:
        return self.current is not None or not self._queue.empty() or bool(self.awaiting_mark)

    def say(self, utterance: Utterance) -> None:
        self._queue.put_nowait(utterance)

    def clear(self) -> list[Utterance]:
        """Drop everything not yet played; returns the utterances cut or dropped."""
        cut: list[Utterance] = []
        last_sent = self.current or next(reversed(self.awaiting_mark.values()), None)
        if last_sent is not None:
            in_flight = max(0.0, self._next_at - asyncio.get_running_loop().time())
            last_sent.played = max(0, last_sent.sent - round(in_flight / FRAME_SECONDS))
        if self.current is not None:
            self.current.cancelled = True
            cut.append(self.current)
        while not self._queue.empty():
            utt = self._queue.get_nowait()
            utt.cancelled = True
            cut.append(utt)
        for utt in self.awaiting_mark.values():
            utt.cancelled = True
            cut.append(utt)
        self._next_at = 0.0
        return cut

    def mark_received(self, name: str) -> Utterance | None:
        return self.awaiting_mark.pop(name, None)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            utt = await self._queue.get()
            if utt.cancelled:
                continue
            self.current = utt
            # Cancelled (the call's tasks end when the stream goes, sometimes before the session
            # closes): `current` stays, so the close still finds, and records, what was cut.
            await self._play(loop, utt)
            self.current = None

    async def _play(self, loop: asyncio.AbstractEventLoop, utt: Utterance) -> None:
        index = 0
        while not utt.cancelled:
            if index >= len(utt.frames):
                if utt.complete:
                    break
                utt._more.clear()
                await utt._more.wait()
                continue
            now = loop.time()
            if self._next_at < now:
                self._next_at = now
            if utt.start_ms is None:
                utt.start_ms = self._clock_ms(self._next_at)
            delay = self._next_at - LOOKAHEAD_SECONDS - now
            if delay > 0:
                await asyncio.sleep(delay)
                if utt.cancelled:
                    break
            self.max_lag = max(self.max_lag, loop.time() - (self._next_at - LOOKAHEAD_SECONDS))
            frame = utt.frames[index]
            await self._send(
                {
                    "event": "media",
                    "streamSid": self._stream_sid,
                    "media": {"payload": base64.b64encode(frame).decode()},
                }
            )
            self._on_frame(self._clock_ms(self._next_at), frame)
            self._next_at += FRAME_SECONDS
            index += 1
            utt.sent = index
        if not utt.cancelled:
            self.awaiting_mark[utt.mark_name] = utt
            await self._send(
                {"event": "mark", "streamSid": self._stream_sid, "mark": {"name": utt.mark_name}}
            )
