"""Stand-ins for the call runtime's unit tests: no socket, no database, no speech model, no wait.

`run_virtual` runs a coroutine on an event loop whose clock jumps to the next timer whenever
nothing is ready, so paced audio and silence timers run in virtual time, in the same order as
for real, without sleeping.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

import numpy as np

from agents.speech.base import STT, TTS, VAD
from calls.models import Call
from calls.runtime.control import CallControl
from calls.runtime.monitor import MonitorFeed
from stellar.kernel.audio import FRAME_BYTES, pcm16_to_ulaw

T = TypeVar("T")


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self._virtual = 1000.0

    def time(self) -> float:
        return self._virtual

    def _run_once(self) -> None:
        if not self._ready and self._scheduled:  # idle until the next timer: skip to it
            self._virtual = max(self._virtual, self._scheduled[0].when())
        super()._run_once()


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Like asyncio.run (tasks still running at the end are cancelled), on a VirtualClockLoop."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(main)


async def until(predicate: Callable[[], bool], *, within: float = 30.0) -> None:
    """Wait (in virtual time) until `predicate()` holds; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"still waiting after {within} s (virtual)")
        await asyncio.sleep(0.005)


class InlineExecutor(Executor):
    """Runs the job at once in the calling thread (speech work, without threads)."""

    def __init__(self) -> None:
        self.jobs = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.jobs += 1
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


# ---- speech ----------------------------------------------------------------------------------


class EnergyVAD(VAD):
    """Loud frame = speech: lets a test place the caller's speech to the frame."""

    def is_speech(self, frame_pcm16_8k: np.ndarray) -> bool:
        return bool(np.abs(frame_pcm16_8k.astype(np.int32)).max() > 1000)


class FakeSTT(STT):
    def __init__(self, text: str = "") -> None:
        self.text = text
        self.calls: list[tuple[int, int, str | None]] = []  # (samples, rate, prompt)

    def transcribe(self, pcm16: np.ndarray, sample_rate: int, prompt: str | None = None) -> str:
        self.calls.append((len(pcm16), sample_rate, prompt))
        return self.text


class FakeTTS(TTS):
    """Each sentence renders `frames_per_sentence` frames of a level given by its length."""

    def __init__(self, frames_per_sentence: int = 5) -> None:
        self.frames_per_sentence = frames_per_sentence
        self.rendered: list[str] = []

    def synthesize_stream(self, text: str, voice: str | None = None) -> Iterator[np.ndarray]:
        for sentence in [s for s in text.replace(". ", ".|").split("|") if s.strip()]:
            self.rendered.append(sentence)
            samples = self.frames_per_sentence * FRAME_BYTES
            yield np.full(samples, 100 + len(sentence), dtype=np.int16)

    def synthesize(self, text: str, voice: str | None = None) -> np.ndarray:
        return np.concatenate(list(self.synthesize_stream(text, voice)) or [np.zeros(0, np.int16)])

    def voices(self) -> list[str]:
        return ["x"]


def tone(ms: int) -> bytes:
    """Caller speech as μ-law (loud enough for EnergyVAD)."""
    return pcm16_to_ulaw(np.full(ms * 8, 5000, dtype=np.int16))


def quiet(ms: int) -> bytes:
    return pcm16_to_ulaw(np.zeros(ms * 8, dtype=np.int16))


def payloads(ulaw: bytes, frames: int = 1) -> list[bytes]:
    """Audio cut into media payloads of `frames` 20 ms frames, like a stream sends it."""
    size = FRAME_BYTES * frames
    return [ulaw[i : i + size] for i in range(0, len(ulaw), size)]


# ---- the rest of the call --------------------------------------------------------------------


class RecordingWriter:
    """The call's ordered writer, recording (function name, kwargs) instead of writing."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.flushes = 0
        self.drained = False

    def submit(self, fn: Callable[..., object], **kwargs: Any) -> None:
        self.writes.append((getattr(fn, "__name__", repr(fn)), kwargs))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for fn, kwargs in self.writes if fn == name]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [w for w in self.named("call_event_add") if w["kind"] == kind]

    async def flush(self, timeout: float = 10.0) -> None:
        self.flushes += 1

    async def drain(self, timeout: float = 10.0) -> None:
        self.drained = True


class RecordingFeed(MonitorFeed):
    """A monitor feed that keeps what it would show listeners."""

    def __init__(self, call_id: int = 7) -> None:
        super().__init__(call_id, None)
        self.shown: list[tuple[str, Any]] = []

    def audio(self, track: str, at_ms: int, ulaw: bytes) -> None:
        self.shown.append(("audio", (track, at_ms, len(ulaw))))

    def transcript(self, **segment: Any) -> None:
        self.shown.append(("transcript", segment))

    def event(self, kind: str, message: str) -> None:
        self.shown.append(("event", (kind, message)))

    def ended(self, reason: str) -> None:
        self.shown.append(("ended", reason))

    def of(self, what: str) -> list[Any]:
        return [value for kind, value in self.shown if kind == what]


class FakeControl:
    """The phone side of a call, recording what the runtime asked of it."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str, str]] = []  # (call sid, to, body)

    def request_handover(self, *, call_id: int, action: dict[str, Any], reason: str = "") -> None:
        raise AssertionError("runs on the call's writer, which only records it here")

    def mark_reconnected(self, *, call_id: int) -> None:
        raise AssertionError("runs on the call's writer, which only records it here")

    def send_sms(self, call: Call, to: str, body: str) -> str:
        self.texts.append((call.call_sid, to, body))
        return f"SM{len(self.texts)}"

    def control(self) -> CallControl:
        return CallControl(
            request_handover=self.request_handover,
            mark_reconnected=self.mark_reconnected,
            send_sms=self.send_sms,
        )


class Outbox:
    """What the call sent to the stream, with the (virtual) time it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append((asyncio.get_running_loop().time(), message))

    def of(self, event: str) -> list[dict[str, Any]]:
        return [m for _, m in self.sent if m["event"] == event]

    def frames(self) -> list[bytes]:
        return [base64.b64decode(m["media"]["payload"]) for m in self.of("media")]


class Hangups:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1


def call_row(**fields: Any) -> Call:
    """An unsaved Call (the runtime never reads the database itself)."""
    defaults: dict[str, Any] = {
        "pk": 7,
        "call_sid": "CA" + "1" * 32,
        "from_number": "+15550001111",
        "to_number": "+15550002222",
        "agent_snapshot": {"name": "Test line", "greeting": "Hello there. How can I help?"},
        "conversation": {},
    }
    return Call(**{**defaults, **fields})
