"""What a simulated call observed: requests, TwiML, stream events, dials, and the agent's audio.

All times (`at`, `started_at`, …) are wall-clock seconds since the call started.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.speech.registry import get_stt
from calls.simulator.twiml import Verb
from stellar.kernel.audio import PHONE_RATE


@dataclass
class HttpExchange:
    """One signed Twilio callback (webhook, Connect/Dial action, Redirect) and its reply."""

    kind: str
    method: str
    url: str
    sent_url: str
    params: dict[str, str]
    signature: str
    at: float
    status: int | None = None
    content_type: str = ""
    latency: float | None = None
    body: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Twilio accepts it: 200 with a TwiML content type, parsed without error."""
        return self.error is None and self.status == 200


@dataclass
class TwimlDocument:
    """A parsed TwiML reply and where it came from."""

    url: str
    kind: str
    xml: str
    verbs: list[Verb]


@dataclass
class StreamEvent:
    """One websocket message; media payloads are replaced by their size."""

    at: float
    direction: str  # "sent" (Twilio → server) or "received" (server → Twilio)
    event: str
    data: dict[str, Any]


@dataclass
class MarkRecord:
    """A mark from the server and when we echoed it (after playout, or at a clear)."""

    name: str
    received_at: float
    echoed_at: float | None = None
    cleared: bool = False


@dataclass
class ClearRecord:
    """A `clear` from the server."""

    at: float
    dropped_bytes: int
    marks_echoed: list[str]


@dataclass
class AgentUtterance:
    """Agent audio that actually played, between two marks; `text` once transcribed."""

    stream_index: int
    mark: str | None
    cleared: bool
    started_at: float
    ended_at: float
    pcm: np.ndarray
    text: str | None = None  # what the simulator's own speech recognition heard
    said: str | None = None  # what the server's transcript says the agent said

    @property
    def duration(self) -> float:
        """Seconds of audio at 8 kHz."""
        return len(self.pcm) / PHONE_RATE


@dataclass
class CallerUtterance:
    """Something the caller said or keyed, and how long the agent took to answer it."""

    kind: str  # "say", "audio" or "digits"
    text: str
    barge_in: bool
    stream_index: int
    started_at: float | None = None
    ended_at: float | None = None  # the last speech frame (or digit) sent
    response_at: float | None = None  # first voiced agent media after ended_at

    @property
    def response_delay(self) -> float | None:
        """Seconds from the caller's last speech frame to the agent's first audio after it."""
        if self.ended_at is None or self.response_at is None:
            return None
        return self.response_at - self.ended_at


@dataclass
class StreamRecord:
    """One `<Connect><Stream>` session."""

    index: int
    url: str
    connect_url: str
    stream_sid: str
    custom_parameters: dict[str, str]
    started_at: float
    ended_at: float | None = None
    ended_by: str = ""  # "caller", "server", "refused", "error", "timeout"
    refused_status: int | None = None
    error: str | None = None
    close_code: int | None = None
    close_reason: str = ""
    start_sent_at: float | None = None
    first_media_at: float | None = None
    media_frames_sent: int = 0
    media_messages_received: int = 0
    media_bytes_received: int = 0
    dtmf_sent: list[str] = field(default_factory=list)
    marks: list[MarkRecord] = field(default_factory=list)
    clears: list[ClearRecord] = field(default_factory=list)
    events: list[StreamEvent] = field(default_factory=list)
    agent_audio: bytes = b""  # μ-law that actually played

    @property
    def refused(self) -> bool:
        """The websocket handshake failed."""
        return self.ended_by == "refused"

    @property
    def time_to_first_media(self) -> float | None:
        """Seconds from sending `start` to the first outbound media."""
        if self.first_media_at is None or self.start_sent_at is None:
            return None
        return self.first_media_at - self.start_sent_at

    def sent(self, event: str | None = None) -> list[StreamEvent]:
        """Messages we sent, optionally of one event type."""
        return [e for e in self.events if e.direction == "sent" and event in (None, e.event)]

    def received(self, event: str | None = None) -> list[StreamEvent]:
        """Messages the server sent, optionally of one event type."""
        return [e for e in self.events if e.direction == "received" and event in (None, e.event)]


@dataclass
class DialRecord:
    """A `<Dial>` Twilio would have placed, and the outcome we reported to its action."""

    numbers: tuple[str, ...]
    caller_id: str | None
    timeout: int
    action: str | None
    method: str
    status: str
    dial_call_sid: str
    duration: int
    at: float
    whisper: WhisperRecord | None = None  # the `<Number url>` TwiML the person who answered got
    bridged_at: float | None = None  # when the caller was connected to them

    @property
    def number(self) -> str | None:
        """The first number dialled."""
        return self.numbers[0] if self.numbers else None


@dataclass
class WhisperRecord:
    """What the person who answered heard from `<Number url>` before the caller was bridged."""

    url: str
    method: str
    at: float
    heard: list[str] = field(default_factory=list)  # the `<Say>` texts, in order
    error: str | None = None  # why the whisper TwiML could not be run (the call still bridges)
    declined: bool = False  # the whisper TwiML hung up: the caller is not connected
    ended_at: float | None = None

    @property
    def text(self) -> str:
        """Everything that was said to them, as one string."""
        return " ".join(self.heard)


@dataclass
class RedirectRecord:
    """A `<Redirect>`; `followed` is False when it left our server (e.g. back to Studio)."""

    url: str
    method: str
    followed: bool
    at: float


@dataclass
class TimelineEntry:
    """A line for the human-readable transcript."""

    at: float
    who: str
    text: str


@dataclass
class Timings:
    """Latency numbers for benchmarks and assertions (wall-clock seconds)."""

    webhook_latency: float | None
    first_agent_media: float | None
    response_delays: list[float | None]


@dataclass(frozen=True)
class ServerRecord:
    """What the server itself recorded of the call (`manage.py simulate_call` reads it from the
    database when it can; the simulator itself needs no Django)."""

    agent: str  # the agent's name, "" when no agent took the call
    version: str  # "v3", "draft"; "" when no version answered
    outcome: str  # why the call ended (for a refused call: why nothing answered)
    agent_lines: list[str] = field(default_factory=list)  # the transcript's agent lines, in order
    problems: list[str] = field(default_factory=list)  # failures on the call's timeline

    @property
    def answered_by(self) -> str:
        """`Support v3`, or `none: <reason>` when no version answered."""
        if not self.version:
            return f"none: {self.outcome or 'no version answered'}"
        return f"{self.agent} {self.version}".strip()


@dataclass
class CallResult:
    """Everything the simulated Twilio saw during one call."""

    call_sid: str
    account_sid: str
    from_: str
    to: str
    speedup: float = 1.0
    exchanges: list[HttpExchange] = field(default_factory=list)
    documents: list[TwimlDocument] = field(default_factory=list)
    twilio_said: list[str] = field(default_factory=list)
    streams: list[StreamRecord] = field(default_factory=list)
    dials: list[DialRecord] = field(default_factory=list)
    redirects: list[RedirectRecord] = field(default_factory=list)
    caller_utterances: list[CallerUtterance] = field(default_factory=list)
    agent_utterances: list[AgentUtterance] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ended_by: str = ""
    duration: float = 0.0
    server: ServerRecord | None = None  # the server's own record, when it could be read

    # -- convenience views ---------------------------------------------------------------

    @property
    def webhook(self) -> HttpExchange | None:
        """The first (voice webhook) request."""
        return self.exchanges[0] if self.exchanges else None

    @property
    def webhook_ok(self) -> bool:
        """The voice webhook answered 200 with parseable TwiML."""
        return self.webhook is not None and self.webhook.ok

    @property
    def stream_refused(self) -> bool:
        """Some `<Stream>` handshake failed."""
        return any(s.refused for s in self.streams)

    @property
    def ok(self) -> bool:
        """No failure Twilio would have reported."""
        return self.webhook_ok and not self.stream_refused and not self.errors

    @property
    def agent_audio(self) -> np.ndarray:
        """All agent audio that played, int16 at 8 kHz."""
        if not self.agent_utterances:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([u.pcm for u in self.agent_utterances]).astype(np.int16)

    @property
    def marks(self) -> list[MarkRecord]:
        """Marks over all streams."""
        return [m for s in self.streams for m in s.marks]

    @property
    def clears(self) -> list[ClearRecord]:
        """Clears over all streams."""
        return [c for s in self.streams for c in s.clears]

    @property
    def media_frames_received(self) -> int:
        """Outbound media messages over all streams."""
        return sum(s.media_messages_received for s in self.streams)

    @property
    def timings(self) -> Timings:
        """Webhook latency, stream start → first agent media, caller → agent delays."""
        first = next((s.time_to_first_media for s in self.streams if s.first_media_at), None)
        return Timings(
            webhook_latency=self.webhook.latency if self.webhook else None,
            first_agent_media=first,
            response_delays=[u.response_delay for u in self.caller_utterances],
        )

    def attach_server_record(self, record: ServerRecord) -> None:
        """Give each agent utterance the words the server says it spoke.

        The server records one transcript line per utterance that played (one mark each), so
        the lines pair with the utterances in order; when the counts differ the pairing would
        be a guess, and the utterances keep only what the simulator heard."""
        self.server = record
        # A call Twilio saw as fine can still have failed inside (e.g. an LLM agent without a
        # base URL answers every turn with an apology): the server's timeline says so.
        self.errors.extend(f"server: {problem}" for problem in record.problems)
        if len(record.agent_lines) != len(self.agent_utterances):
            return
        for utterance, line in zip(self.agent_utterances, record.agent_lines, strict=True):
            utterance.said = line

    # -- speech to text ------------------------------------------------------------------

    def transcribe_agent(self, prompt: str | None = None) -> list[str]:
        """Run the project's STT over every agent utterance (cached on `utterance.text`)."""
        stt = get_stt()
        for u in self.agent_utterances:
            if u.text is None:
                u.text = stt.transcribe(u.pcm, PHONE_RATE, prompt).strip() if len(u.pcm) else ""
        return [u.text or "" for u in self.agent_utterances]

    async def atranscribe_agent(self, prompt: str | None = None) -> list[str]:
        """`transcribe_agent` off the event loop."""
        return await asyncio.to_thread(self.transcribe_agent, prompt)
