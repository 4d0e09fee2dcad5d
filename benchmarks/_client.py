"""A lean Twilio stand-in for load: signed webhook, media websocket, 20 ms caller frames.

The simulator in calls/simulator is the faithful one (TTS per call, full event log); this one
does the same protocol with pre-rendered frames and O(1) work per message, so one load
generator core can drive ~100 calls without becoming what is measured. Timestamps are
time.monotonic() seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field

import httpx
import websockets
from websockets.exceptions import ConnectionClosed

from calls.simulator.signing import OriginMap, build_request, compute_signature, new_sid
from calls.simulator.twiml import ConnectVerb, parse_twiml

from ._common import DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN, DEMO_WEBHOOK, Speech

FRAME_S = 0.02
SILENCE_B64 = "/" * 213 + "w=="  # base64 of 160 bytes of 0xFF (μ-law silence)
_MEDIA_PREFIX = '{"event":"media"'


@dataclass
class AgentUtt:
    """Agent media frames between two marks (or a clear): arrival times."""

    arrivals: list[float] = field(default_factory=list)
    mark: str | None = None
    cleared: bool = False

    def lags(self) -> list[float]:
        """arrival − (first arrival + i·20 ms), seconds: > 0 is late against the schedule the
        phone started playing on; the server sends up to 40 ms ahead, so on time is ≈ −0.04."""
        if not self.arrivals:
            return []
        t0 = self.arrivals[0]
        return [t - (t0 + i * FRAME_S) for i, t in enumerate(self.arrivals)]

    def gaps(self) -> list[float]:
        """Silences the phone inserts (s): it plays each frame at max(arrival, end of the
        previous frame), starting with the first, so a stall is heard once, as a gap."""
        out, play_end = [], None
        for t in self.arrivals:
            if play_end is not None and t > play_end:
                out.append(t - play_end)
                play_end = t
            play_end = (t if play_end is None else play_end) + FRAME_S
        return out


@dataclass
class CallerTurn:
    text: str
    started_at: float | None = None
    ended_at: float | None = None  # the last voiced frame went out
    response_at: float | None = None  # first agent media after ended_at

    @property
    def latency(self) -> float | None:
        if self.ended_at is None or self.response_at is None:
            return None
        return self.response_at - self.ended_at


@dataclass
class CallStats:
    call_sid: str
    webhook_latency: float | None = None
    connected_at: float | None = None
    ended_at: float | None = None
    error: str | None = None
    closed_by_server: bool = False
    utts: list[AgentUtt] = field(default_factory=list)
    turns: list[CallerTurn] = field(default_factory=list)
    frames_sent: int = 0
    send_lags: list[float] = field(default_factory=list)  # client-side pacing (validity)
    rtts: list[float] = field(default_factory=list)  # echo mode
    clears: int = 0

    @property
    def media_received(self) -> int:
        return sum(len(u.arrivals) for u in self.utts)


def lags_ms(calls: list[CallStats], which: str = "all") -> list[float]:
    """Agent frames' lags (AgentUtt.lags), ms: all, greeting (each call's first utterance,
    played while calls connect) or later."""
    out = []
    for c in calls:
        for i, u in enumerate(c.utts):
            if which == "all" or (which == "greeting") == (i == 0):
                out += [lag * 1000 for lag in u.lags()]
    return out


def jitter_ms(calls: list[CallStats]) -> list[float]:
    """Each agent frame's lag minus the best lag of its utterance, ms."""
    out = []
    for c in calls:
        for u in c.utts:
            lags = u.lags()
            if lags:
                best = min(lags)
                out += [(lag - best) * 1000 for lag in lags]
    return out


def send_lag_ms(calls: list[CallStats]) -> list[float]:
    """The load generator's own lateness against its send schedule, ms (validity check)."""
    return [s * 1000 for c in calls for s in c.send_lags]


class LeanCall:
    """One call. `run(duration)` streams caller audio for `duration` s, then hangs up."""

    def __init__(
        self,
        base_url: str,
        http: httpx.AsyncClient | None,
        *,
        echo: bool = False,
        public_url: str | None = None,
        webhook: str = DEMO_WEBHOOK,
        account_sid: str = DEMO_ACCOUNT_SID,
        auth_token: str = DEMO_AUTH_TOKEN,
        media_url: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.public_url = (public_url or base_url).rstrip("/")
        # Where the media stream connects (the webhook's process unless routed elsewhere).
        self.media_url = (media_url or base_url).rstrip("/")
        self.http = http
        self.echo = echo
        self.webhook = webhook
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.stats = CallStats(new_sid("CA"))
        self.stream_sid = new_sid("MZ")
        self.ws = None
        self._out: deque[tuple[str, CallerTurn | None, bool]] = deque()
        self._seq = 0
        self._chunk = 0
        self._play_end = 0.0  # when the phone finishes playing what it received
        self._pending_marks: deque[tuple[float, str]] = deque()
        self._current = AgentUtt()
        self._sent_at: deque[float] = deque()  # echo mode
        self.closed = asyncio.Event()
        self.hangup = asyncio.Event()
        self.started = asyncio.Event()
        self.overflowed = False  # the webhook answered with the overflow rule

    # -- webhook + handshake ----------------------------------------------------------------

    async def _webhook(self) -> str:
        params = {
            "CallSid": self.stats.call_sid,
            "AccountSid": self.account_sid,
            "From": "+15005550006",
            "To": "+15005550001",
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        origins = OriginMap(public=self.public_url, connect=self.base_url)
        req = build_request(
            "POST", self.public_url + self.webhook, params, self.auth_token, origins=origins
        )
        assert self.http is not None
        t0 = time.monotonic()
        resp = await self.http.post(req.send_url, data=req.form, headers=req.headers)
        self.stats.webhook_latency = time.monotonic() - t0
        if resp.status_code != 200:
            raise RuntimeError(f"webhook HTTP {resp.status_code}")
        verbs = parse_twiml(resp.text, base_url=req.url)
        connect = next((v for v in verbs if isinstance(v, ConnectVerb) and v.stream), None)
        if connect is None:
            # Turned away (the overflow rule: a message or a forward) or a broken answer.
            self.overflowed = "<Say>" in resp.text or "<Dial>" in resp.text
            raise RuntimeError(
                "overflow" if self.overflowed else f"no <Connect><Stream>: {resp.text[:200]}"
            )
        self._parameters = dict(connect.stream.parameters)
        return connect.stream.url

    async def connect(self, ws_path: str = "/echo") -> None:
        if self.echo:
            public_ws = self.base_url.replace("http", "ws", 1) + ws_path
            connect_url, headers = public_ws, {}
            self._parameters = {}
        else:
            public_ws = await self._webhook()
            connect_url = OriginMap(public=self.public_url, connect=self.media_url).to_connect(
                public_ws
            )
            headers = {"x-twilio-signature": compute_signature(self.auth_token, public_ws, {})}
        self.ws = await websockets.connect(
            connect_url,
            additional_headers=headers,
            user_agent_header="Twilio.TmeWs/1.0",
            open_timeout=30,
            proxy=None,
            compression=None,
            max_queue=None,
        )
        self.stats.connected_at = time.monotonic()

    # -- sending ----------------------------------------------------------------------------

    async def _send_json(self, message: dict) -> None:
        self._seq += 1
        message = {"event": message["event"], "sequenceNumber": str(self._seq), **message}
        await self.ws.send(json.dumps(message))

    async def _start(self) -> None:
        await self.ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1"}))
        await self._send_json(
            {
                "event": "start",
                "start": {
                    "accountSid": self.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.stats.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": self._parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
                "streamSid": self.stream_sid,
            }
        )
        self.started.set()

    def say(self, speech: Speech, turn: CallerTurn | None = None) -> CallerTurn:
        """Queue a caller line; the sender plays it frame by frame."""
        turn = turn or CallerTurn(speech.text)
        self.stats.turns.append(turn)
        for i, payload in enumerate(speech.frames):
            self._out.append((payload, turn if i in (0, speech.last_voiced) else None, i == 0))
        return turn

    @property
    def speaking(self) -> bool:
        return bool(self._out)

    def _media(self, payload: str) -> str:
        self._seq += 1
        self._chunk += 1
        ts = (self._chunk - 1) * 20
        return (
            f'{{"event":"media","sequenceNumber":"{self._seq}","media":{{"track":"inbound",'
            f'"chunk":"{self._chunk}","timestamp":"{ts}","payload":"{payload}"}},'
            f'"streamSid":"{self.stream_sid}"}}'
        )

    async def _sender(self, duration: float) -> None:
        origin = time.monotonic()
        n = 0
        end = origin + duration
        while not self.closed.is_set() and not self.hangup.is_set():
            now = time.monotonic()
            if now >= end:
                break
            self.stats.send_lags.append(now - (origin + n * FRAME_S))
            payload = SILENCE_B64
            if self._out:
                payload, turn, first = self._out.popleft()
                if turn is not None:
                    if first:
                        turn.started_at = now
                    else:
                        turn.ended_at = now
            if self.echo:
                self._sent_at.append(time.monotonic())
            await self.ws.send(self._media(payload))
            self.stats.frames_sent += 1
            await self._echo_marks()
            n += 1
            delay = origin + n * FRAME_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        self.hangup.set()
        if not self.closed.is_set():
            with contextlib.suppress(ConnectionClosed):
                await self._send_json(
                    {
                        "event": "stop",
                        "stop": {"accountSid": self.account_sid, "callSid": self.stats.call_sid},
                        "streamSid": self.stream_sid,
                    }
                )
                await self.ws.close()

    async def _echo_marks(self) -> None:
        now = time.monotonic()
        while self._pending_marks and self._pending_marks[0][0] <= now:
            _due, name = self._pending_marks.popleft()
            await self._send_mark(name)

    async def _send_mark(self, name: str) -> None:
        await self._send_json(
            {"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}}
        )

    # -- receiving --------------------------------------------------------------------------

    async def _receiver(self) -> None:
        stats = self.stats
        try:
            async for message in self.ws:
                now = time.monotonic()
                if isinstance(message, str) and message.startswith(_MEDIA_PREFIX):
                    if self.echo:
                        if self._sent_at:
                            stats.rtts.append(now - self._sent_at.popleft())
                        continue
                    self._on_media(now)
                    continue
                with contextlib.suppress(ValueError, TypeError):
                    self._on_other(json.loads(message), now)
        except ConnectionClosed:
            pass
        finally:
            if not self.hangup.is_set():
                stats.closed_by_server = True
            stats.ended_at = time.monotonic()
            self.closed.set()

    def _on_media(self, now: float) -> None:
        cur = self._current
        if not cur.arrivals:
            self.stats.utts.append(cur)
            for turn in reversed(self.stats.turns):
                if turn.ended_at is not None and turn.response_at is None and turn.ended_at < now:
                    turn.response_at = now
                    break
        cur.arrivals.append(now)
        self._play_end = max(self._play_end, now) + FRAME_S

    def _on_other(self, data: dict, now: float) -> None:
        event = data.get("event")
        if event == "media":  # not in the compact form the server uses
            self._on_media(now)
        elif event == "mark":
            name = str((data.get("mark") or {}).get("name", ""))
            self._current.mark = name
            self._current = AgentUtt()
            self._pending_marks.append((max(now, self._play_end), name))
        elif event == "clear":
            self.stats.clears += 1
            self._current.cleared = True
            self._current = AgentUtt()
            self._play_end = now
            self._pending_marks = deque((now, name) for _due, name in self._pending_marks)

    # -- the call -----------------------------------------------------------------------------

    def agent_playing(self, now: float | None = None) -> bool:
        return self._play_end > (now or time.monotonic())

    async def run(self, duration: float, script=None) -> CallStats:
        """Connect, stream for `duration` s (running `script(self)` alongside), hang up."""
        try:
            if self.ws is None:
                await self.connect()
            await self._start()
            receiver = asyncio.create_task(self._receiver())
            tasks = [asyncio.create_task(self._sender(duration))]
            if script is not None:
                tasks.append(asyncio.create_task(script(self)))
            try:
                await tasks[0]
                self.hangup.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(receiver, 10)
            finally:
                for task in [*tasks, receiver]:
                    task.cancel()
                await asyncio.gather(*tasks, receiver, return_exceptions=True)
        except Exception as exc:  # counted as a failed call, never raised
            self.stats.error = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            if self.ws is not None:
                with contextlib.suppress(Exception):
                    await self.ws.close()
        return self.stats

    async def wait_agent_quiet(self, quiet: float = 0.4, timeout: float = 20.0) -> bool:
        """Until the agent's audio has played out and nothing new came for `quiet` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.closed.is_set():
            now = time.monotonic()
            if not self.agent_playing(now) and now - self._play_end >= quiet:
                return True
            await asyncio.sleep(0.02)
        return False

    async def wait_sent(self, turn: CallerTurn, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self._out and time.monotonic() < deadline and not self.closed.is_set():
            await asyncio.sleep(0.02)

    async def wait_response(self, turn: CallerTurn, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while turn.response_at is None and time.monotonic() < deadline:
            if self.closed.is_set():
                return False
            await asyncio.sleep(0.01)
        return turn.response_at is not None


async def keep_talking(
    call: LeanCall, speech: Speech, *, answer_timeout: float = 10.0, quiet_timeout: float = 15.0
) -> None:
    """The caller talks all the time: a line, the agent's answer, the line again."""
    while not call.closed.is_set() and not call.hangup.is_set():
        turn = call.say(speech)
        await call.wait_sent(turn)
        await call.wait_response(turn, timeout=answer_timeout)
        await call.wait_agent_quiet(quiet=0.3, timeout=quiet_timeout)
