"""The caller's phone as a playback buffer: agent audio plays in real time after it arrives.

Pure and clock-free (every method takes `now`), so mark/clear behaviour is unit-testable.
Twilio semantics modelled here:
- outbound audio queues up and plays at 8000 μ-law bytes/s (times a test speed-up);
- a `mark` is echoed back once all audio sent before it has played;
- `clear` drops the unplayed audio and echoes every pending mark at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from stellar.kernel.audio import FRAME_BYTES, PHONE_RATE, ulaw_to_pcm16

_EPS = 1e-9
VOICED_RMS = 150.0  # int16 RMS above which a 20 ms frame counts as speech, not line silence


def last_voiced_frame(ulaw: bytes, threshold: float = VOICED_RMS) -> int:
    """Index of the last 20 ms frame louder than `threshold`, or -1 when all are silence."""
    if not ulaw:
        return -1
    pcm = ulaw_to_pcm16(ulaw).astype(np.float64)
    n = -(-len(pcm) // FRAME_BYTES)
    padded = np.zeros(n * FRAME_BYTES)
    padded[: len(pcm)] = pcm
    rms = np.sqrt(np.mean(padded.reshape(n, FRAME_BYTES) ** 2, axis=1))
    voiced = np.nonzero(rms > threshold)[0]
    return int(voiced[-1]) if len(voiced) else -1


@dataclass
class _Segment:
    start: float  # when its first byte starts playing
    offset: int  # its first byte's position in the played stream
    data: bytes


@dataclass
class _Pending:
    name: str
    offset: int
    received_at: float
    due: float


@dataclass(frozen=True)
class Arrival:
    """One outbound media message as it reached the phone."""

    at: float
    size: int
    voiced: bool


@dataclass(frozen=True)
class EchoedMark:
    """A mark we returned: where it sits in the played audio and when it was echoed."""

    name: str
    offset: int
    received_at: float
    echoed_at: float
    cleared: bool


@dataclass(frozen=True)
class ClearEvent:
    """A `clear` from the server: how much queued audio it dropped and which marks it flushed."""

    at: float
    offset: int
    dropped_bytes: int
    marks: tuple[str, ...]


@dataclass(frozen=True)
class PlayedUtterance:
    """A stretch of played agent audio between two marks (or a clear)."""

    mark: str | None
    cleared: bool
    start_offset: int
    end_offset: int
    started_at: float
    ended_at: float
    audio: bytes


class PlaybackBuffer:
    """What a phone does with outbound media: queue, play at `rate` bytes/s, honour marks."""

    def __init__(self, rate: float = float(PHONE_RATE)) -> None:
        self.rate = rate
        self.play_end = -float("inf")
        self.voiced_end = -float("inf")
        self.arrivals: list[Arrival] = []
        self.echoed: list[EchoedMark] = []
        self.clears: list[ClearEvent] = []
        self._segments: list[_Segment] = []
        self._pending: deque[_Pending] = deque()
        self._queued = 0
        self.voiced_arrivals = 0

    # -- input from the server ------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> None:
        """Queue outbound audio; it starts playing when everything before it has played."""
        voiced_idx = last_voiced_frame(data)
        self.arrivals.append(Arrival(at=now, size=len(data), voiced=voiced_idx >= 0))
        self.voiced_arrivals += voiced_idx >= 0
        if not data:
            return
        start = max(now, self.play_end)
        self._segments.append(_Segment(start=start, offset=self._queued, data=bytes(data)))
        self._queued += len(data)
        self.play_end = start + len(data) / self.rate
        if voiced_idx >= 0:
            played = min(len(data), (voiced_idx + 1) * FRAME_BYTES)
            self.voiced_end = start + played / self.rate

    def add_mark(self, name: str, now: float) -> None:
        """Remember a mark; it falls due when the audio queued before it has played."""
        due = max(now, self.play_end)
        self._pending.append(_Pending(name, self._queued, now, due))

    def pop_due(self, now: float) -> list[str]:
        """Marks whose audio has finished playing, in order: echo these now."""
        out: list[str] = []
        while self._pending and self._pending[0].due <= now + _EPS:
            p = self._pending.popleft()
            self.echoed.append(EchoedMark(p.name, p.offset, p.received_at, now, cleared=False))
            out.append(p.name)
        return out

    def clear(self, now: float) -> list[str]:
        """Drop unplayed audio and flush every pending mark, like Twilio on `clear`."""
        played = self.played_bytes(now)
        kept: list[_Segment] = []
        for seg in self._segments:
            if seg.offset >= played:
                break
            keep = played - seg.offset
            kept.append(
                seg if keep >= len(seg.data) else _Segment(seg.start, seg.offset, seg.data[:keep])
            )
        dropped = self._queued - played
        self._segments = kept
        self._queued = played
        self.play_end = min(self.play_end, now)
        self.voiced_end = min(self.voiced_end, now)
        names: list[str] = []
        while self._pending:
            p = self._pending.popleft()
            self.echoed.append(
                EchoedMark(p.name, min(p.offset, played), p.received_at, now, cleared=True)
            )
            names.append(p.name)
        self.clears.append(
            ClearEvent(at=now, offset=played, dropped_bytes=dropped, marks=tuple(names))
        )
        return names

    # -- state ----------------------------------------------------------------------------

    @property
    def pending_marks(self) -> list[str]:
        """Marks received whose audio is still playing."""
        return [p.name for p in self._pending]

    @property
    def next_due(self) -> float | None:
        """When the oldest pending mark falls due."""
        return self._pending[0].due if self._pending else None

    def is_playing(self, now: float) -> bool:
        """Whether any queued audio (speech or silence) is still playing."""
        return self.play_end > now + _EPS

    def is_speaking(self, now: float) -> bool:
        """Whether voiced agent audio is still playing."""
        return self.voiced_end > now + _EPS

    def played_bytes(self, now: float) -> int:
        """How many queued bytes have played by `now`."""
        total = 0
        for seg in self._segments:
            if seg.start >= now:
                break
            total = seg.offset + min(len(seg.data), int((now - seg.start) * self.rate + 1e-6))
        return total

    def played_audio(self, now: float) -> bytes:
        """The μ-law audio the caller actually heard by `now`."""
        played = self.played_bytes(now)
        return b"".join(seg.data for seg in self._segments)[:played]

    def first_arrival_after(self, t: float, voiced_only: bool = True) -> float | None:
        """When the first (voiced) agent audio arrived after `t`."""
        for a in self.arrivals:
            if a.at >= t and (a.voiced or not voiced_only) and a.size:
                return a.at
        return None

    def time_at(self, offset: int) -> float:
        """When the byte at `offset` starts playing (end of queue for offsets past it)."""
        for seg in self._segments:
            if offset < seg.offset + len(seg.data):
                return seg.start + max(0, offset - seg.offset) / self.rate
        return self.play_end

    def utterances(self, now: float) -> list[PlayedUtterance]:
        """Split the played audio at echoed marks and clears."""
        played = self.played_bytes(now)
        audio = self.played_audio(now)
        bounds: dict[int, tuple[str | None, bool]] = {}
        for m in self.echoed:
            off = min(m.offset, played)
            name, cleared = bounds.get(off, (None, False))
            bounds[off] = (name or m.name, cleared or m.cleared)
        for c in self.clears:
            off = min(c.offset, played)
            name, _ = bounds.get(off, (None, False))
            bounds[off] = (name, True)
        out: list[PlayedUtterance] = []
        prev = 0
        for off in sorted(bounds):
            if off > prev:
                name, cleared = bounds[off]
                out.append(self._utterance(name, cleared, prev, off, audio))
                prev = off
        if played > prev:
            out.append(self._utterance(None, False, prev, played, audio))
        return out

    def _utterance(
        self, name: str | None, cleared: bool, start: int, end: int, audio: bytes
    ) -> PlayedUtterance:
        return PlayedUtterance(
            mark=name,
            cleared=cleared,
            start_offset=start,
            end_offset=end,
            started_at=self.time_at(start),
            ended_at=self.time_at(end - 1) + 1 / self.rate,
            audio=audio[start:end],
        )
