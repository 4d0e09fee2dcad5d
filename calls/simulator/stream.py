"""One `<Connect><Stream>` media websocket, driven like Twilio drives it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from calls.simulator.playback import PlaybackBuffer, last_voiced_frame
from calls.simulator.result import (
    AgentUtterance,
    CallerUtterance,
    ClearRecord,
    MarkRecord,
    StreamEvent,
    StreamRecord,
)
from calls.simulator.script import Audio, Digits, HangUp, Say, Step, Wait, WaitForAgent
from calls.simulator.signing import compute_signature, new_sid
from calls.simulator.twiml import StreamSpec
from stellar.kernel.audio import FRAME_BYTES, FRAME_MS, PHONE_RATE, frames, ulaw_to_pcm16
from stellar.kernel.urls import url_is_loopback

if TYPE_CHECKING:
    from calls.simulator.session import CallSimulator

SILENCE_FRAME = b"\xff" * FRAME_BYTES


class StreamSession:
    """One `<Connect><Stream>` websocket: sender, receiver and script tasks."""

    def __init__(self, sim: CallSimulator, spec: StreamSpec, index: int) -> None:
        self.sim = sim
        self.spec = spec
        self.cfg = sim.config
        k = self.cfg.speedup
        self.frame_dt = FRAME_MS / 1000 / k
        self.playback = PlaybackBuffer(rate=PHONE_RATE * k)
        url = spec.url
        parts = urlsplit(url)
        if parts.query:
            sim.warn(f"<Stream url> has a query string, which Twilio strips: {url}")
            url = urlunsplit(parts._replace(query="", fragment=""))
        if parts.scheme != "wss":
            sim.warn(f"<Stream url> is not wss:// (Twilio requires it): {url}")
        for name, value in spec.parameters.items():
            if len(name) + len(value) >= 500:
                sim.warn(f"<Parameter {name}> name+value is 500 chars or more")
        self.url = url
        self.record = StreamRecord(
            index=index,
            url=url,
            connect_url=sim.origins.to_connect(url),
            stream_sid=new_sid("MZ"),
            custom_parameters=dict(spec.parameters),
            started_at=sim.now(),
        )
        self._connection: ClientConnection | None = None
        self._seq = 0
        self._chunk = 0
        self._lock = asyncio.Lock()
        self._started = asyncio.Event()
        self._closed = asyncio.Event()
        self._hangup = asyncio.Event()
        self._outgoing: deque[tuple[bytes, CallerUtterance, bool, bool, asyncio.Event | None]] = (
            deque()
        )
        self._pending_marks: deque[MarkRecord] = deque()
        self._warned: set[str] = set()
        self._utterances: list[CallerUtterance] = []

    @property
    def _ws(self) -> ClientConnection:
        """The open websocket (everything that uses it runs after `run` connected it)."""
        if self._connection is None:
            raise RuntimeError("the media stream is not connected")
        return self._connection

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> StreamRecord:
        """Open the websocket, run the call's script on it, then collect what played."""
        sim, rec = self.sim, self.record
        sim.result.streams.append(rec)
        headers = {"x-twilio-signature": compute_signature(self.cfg.auth_token, self.url, {})}
        proxy: Literal[True] | None = None if url_is_loopback(rec.connect_url) else True
        # Only for wss: websockets refuses `ssl` with ws://, and `ssl=None` with wss://.
        tls: dict[str, Any] = (
            {"ssl": self.cfg.ssl_context}
            if self.cfg.ssl_context and rec.connect_url.startswith("wss")
            else {}
        )
        try:
            self._connection = await websockets.connect(
                rec.connect_url,
                additional_headers=headers,
                user_agent_header="Twilio.TmeWs/1.0",
                open_timeout=10,
                proxy=proxy,
                compression=None,
                **tls,
            )
        except InvalidStatus as exc:
            rec.refused_status = exc.response.status_code
            return self._refused(f"HTTP {exc.response.status_code}")
        except (InvalidHandshake, InvalidURI, OSError, TimeoutError) as exc:
            return self._refused(f"{type(exc).__name__}: {exc}")
        params = ", ".join(f"{k}={v}" for k, v in rec.custom_parameters.items())
        sim.note(
            "twilio", f"stream {rec.stream_sid} open {self.url}" + (f" ({params})" * bool(params))
        )
        async with self._ws:
            tasks = [
                asyncio.create_task(self._receiver()),
                asyncio.create_task(self._guarded(self._sender())),
                asyncio.create_task(self._guarded(self._script())),
            ]
            try:
                await asyncio.wait_for(asyncio.shield(tasks[0]), self.cfg.max_stream_seconds)
            except TimeoutError:
                sim.warn(f"stream still open after {self.cfg.max_stream_seconds:g} s: hanging up")
                rec.ended_by = "timeout"
                self._hangup.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(tasks[0]), 15)
            finally:
                self._closed.set()
                for task in tasks:
                    task.cancel()
                outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    rec.error = f"{type(outcome).__name__}: {outcome}"
                    sim.fail(f"simulator stream task crashed: {rec.error}")
        self._finish()
        return rec

    async def _guarded(self, coro: Coroutine[Any, Any, None]) -> None:
        """A crash in the sender or script must end the stream, not leave it hanging."""
        try:
            await coro
        except Exception:
            self._closed.set()
            with contextlib.suppress(Exception):
                await self._ws.close(code=1011)
            raise

    def _refused(self, why: str) -> StreamRecord:
        rec = self.record
        rec.ended_by = "refused"
        rec.ended_at = self.sim.now()
        rec.error = why
        self.sim.fail(f"media stream {self.url} refused (Twilio 31920): {why}", "stream-refused")
        return rec

    def _finish(self) -> None:
        """Keep only what actually played before the stream ended; split it by marks."""
        rec, sim, pb = self.record, self.sim, self.playback
        end = rec.ended_at if rec.ended_at is not None else sim.now()
        rec.agent_audio = pb.played_audio(end)
        for u in pb.utterances(end):
            sim.result.agent_utterances.append(
                AgentUtterance(
                    stream_index=rec.index,
                    mark=u.mark,
                    cleared=u.cleared,
                    started_at=u.started_at,
                    ended_at=u.ended_at,
                    pcm=ulaw_to_pcm16(u.audio).copy(),
                )
            )
        for i, utt in enumerate(self._utterances):
            if utt.ended_at is None:
                continue
            nxt = self._utterances[i + 1].started_at if i + 1 < len(self._utterances) else None
            at = pb.first_arrival_after(utt.ended_at)
            if at is not None and (nxt is None or at < nxt):
                utt.response_at = at
        who = {"caller": "caller hung up", "server": "server closed it"}.get(
            rec.ended_by, rec.ended_by
        )
        sim.note("twilio", f"stream {rec.stream_sid} ended: {who} (code {rec.close_code})", end)

    # -- sending -----------------------------------------------------------------------

    async def _send(self, message: dict[str, Any]) -> None:
        """Send one JSON message with Twilio's running sequenceNumber, and log it."""
        async with self._lock:
            event = message["event"]
            if event != "connected":
                self._seq += 1
                message = {"event": event, "sequenceNumber": str(self._seq), **message}
            await self._ws.send(json.dumps(message))
            logged = message
            if event == "media":
                media = dict(message["media"])
                media["payload"] = f"<{FRAME_BYTES} bytes>"
                logged = {**message, "media": media}
            self.record.events.append(StreamEvent(self.sim.now(), "sent", event, logged))

    async def _send_mark(self, name: str, cleared: bool = False) -> None:
        """Echo a mark back: its audio played (or was cleared)."""
        if self._pending_marks:
            mark = self._pending_marks.popleft()
            mark.echoed_at = self.sim.now()
            mark.cleared = cleared
        await self._send(
            {"event": "mark", "streamSid": self.record.stream_sid, "mark": {"name": name}}
        )

    async def _echo_due(self) -> None:
        for name in self.playback.pop_due(self.sim.now()):
            await self._send_mark(name)

    async def _sender(self) -> None:
        """connected, start, then a media frame every 20 ms (speech or silence), then stop."""
        rec, cfg = self.record, self.cfg
        try:
            await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await self._send(
                {
                    "event": "start",
                    "start": {
                        "accountSid": cfg.account_sid,
                        "streamSid": rec.stream_sid,
                        "callSid": cfg.call_sid,
                        "tracks": ["inbound"],
                        "customParameters": dict(rec.custom_parameters),
                        "mediaFormat": {
                            "encoding": "audio/x-mulaw",
                            "sampleRate": PHONE_RATE,
                            "channels": 1,
                        },
                    },
                    "streamSid": rec.stream_sid,
                }
            )
            rec.start_sent_at = self.sim.now()
            self._started.set()
            origin = time.monotonic()
            n = 0
            while not self._closed.is_set() and not self._hangup.is_set():
                await self._echo_due()
                await self._send_media(self._next_frame())
                n += 1
                delay = origin + n * self.frame_dt - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if self._hangup.is_set() and not self._closed.is_set():
                rec.ended_by = rec.ended_by or "caller"  # before the await: the server may close
                await self._send(
                    {
                        "event": "stop",
                        "stop": {"accountSid": cfg.account_sid, "callSid": cfg.call_sid},
                        "streamSid": rec.stream_sid,
                    }
                )
                await self._ws.close()
        except ConnectionClosed:
            pass

    def _next_frame(self) -> bytes:
        """The caller's next 20 ms: queued speech, else line silence."""
        if not self._outgoing:
            return SILENCE_FRAME
        frame, utt, first, last_voiced, done = self._outgoing.popleft()
        now = self.sim.now()
        if first:
            utt.started_at = now
        if last_voiced:
            utt.ended_at = now
        if done is not None:
            done.set()
        return frame

    async def _send_media(self, frame: bytes) -> None:
        self._chunk += 1
        await self._send(
            {
                "event": "media",
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str((self._chunk - 1) * FRAME_MS),
                    "payload": base64.b64encode(frame).decode("ascii"),
                },
                "streamSid": self.record.stream_sid,
            }
        )
        self.record.media_frames_sent += 1

    # -- receiving ---------------------------------------------------------------------

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.sim.warn(text)

    async def _receiver(self) -> None:
        """Collect the server's media/mark/clear until the socket closes."""
        rec = self.record
        try:
            async for message in self._ws:
                await self._on_message(message)
        except ConnectionClosed:
            pass
        finally:
            self._closed.set()
            rec.ended_at = self.sim.now()
            rec.close_code = self._ws.close_code
            rec.close_reason = self._ws.close_reason or ""
            rec.ended_by = rec.ended_by or "server"

    async def _on_message(self, message: str | bytes) -> None:
        rec, now = self.record, self.sim.now()
        if isinstance(message, bytes):
            self._warn_once(
                "binary", "server sent a binary websocket frame (Twilio expects JSON text)"
            )
            return
        try:
            data = json.loads(message)
        except ValueError:
            self._warn_once("json", f"server sent non-JSON text: {message[:80]!r}")
            return
        if not isinstance(data, dict):
            self._warn_once("json", f"server sent a JSON {type(data).__name__}, not an object")
            return
        event = str(data.get("event", ""))
        if data.get("streamSid") != rec.stream_sid:
            self._warn_once(
                f"sid-{event}", f"server {event!r} has streamSid {data.get('streamSid')!r}"
            )
        if event == "media":
            raw_media = data.get("media")
            media = raw_media if isinstance(raw_media, dict) else {}
            try:
                payload = base64.b64decode(str(media.get("payload", "")), validate=True)
            except (binascii.Error, ValueError):
                self._warn_once("b64", "server media payload is not valid base64")
                return
            logged = {**data, "media": {**media, "payload": f"<{len(payload)} bytes>"}}
            rec.events.append(StreamEvent(now, "received", event, logged))
            self.playback.feed(payload, now)
            rec.media_messages_received += 1
            rec.media_bytes_received += len(payload)
            if rec.first_media_at is None:
                rec.first_media_at = now
            return
        rec.events.append(StreamEvent(now, "received", event, data))
        if event == "mark":
            raw_mark = data.get("mark")
            mark = raw_mark if isinstance(raw_mark, dict) else {}
            name = mark.get("name")
            if not isinstance(name, str) or not name:
                self._warn_once("mark", "server mark without a name")
                return
            record = MarkRecord(name=name, received_at=now)
            rec.marks.append(record)
            self._pending_marks.append(record)
            self.playback.add_mark(name, now)
            await self._echo_due()
        elif event == "clear":
            names = self.playback.clear(now)
            clear = self.playback.clears[-1]
            rec.clears.append(
                ClearRecord(at=now, dropped_bytes=clear.dropped_bytes, marks_echoed=names)
            )
            self.sim.note(
                "twilio",
                f"clear: dropped {clear.dropped_bytes / PHONE_RATE:.2f} s of agent audio",
                now,
            )
            for name in names:
                await self._send_mark(name, cleared=True)
        else:
            self._warn_once(f"event-{event}", f"server sent unknown event {event!r}")

    # -- the caller's script -----------------------------------------------------------

    async def _until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Poll `predicate` until true (True), the stream closes or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if self._closed.is_set() or remaining <= 0:
                return False
            await asyncio.sleep(min(0.01, remaining))

    async def _sleep(self, seconds: float) -> None:
        """Caller-side wait (sped up), cut short when the stream closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), max(0.0, seconds / self.cfg.speedup))

    async def _script(self) -> None:
        """Run the call's remaining steps; at the end linger briefly, then hang up."""
        await self._until(self._started.is_set, 30)
        while not self._closed.is_set() and not self._hangup.is_set():
            item = self.sim.next_step()
            if item is None:
                break
            await self._step(*item)
        if self._closed.is_set() or self._hangup.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), self.cfg.end_grace)
        if not self._closed.is_set():
            self.sim.note("caller", "hangs up (end of script)")
            self._hangup.set()

    async def _step(self, step: Step, audio: bytes) -> None:
        sim = self.sim
        if isinstance(step, Say | Audio):
            await self._speak(step, audio)
        elif isinstance(step, Digits):
            utt = CallerUtterance("digits", step.digits, False, self.record.index, sim.now())
            sim.result.caller_utterances.append(utt)
            self._utterances.append(utt)
            for i, digit in enumerate(step.digits):
                if i:
                    await self._sleep(step.gap)
                if self._closed.is_set():
                    return
                await self._send(
                    {
                        "event": "dtmf",
                        "streamSid": self.record.stream_sid,
                        "dtmf": {"track": "inbound_track", "digit": digit},
                    }
                )
                self.record.dtmf_sent.append(digit)
            utt.ended_at = sim.now()
        elif isinstance(step, Wait):
            await self._sleep(step.seconds)
        elif isinstance(step, WaitForAgent):
            await self._wait_for_agent(step)
        elif isinstance(step, HangUp):
            sim.note("caller", "hangs up")
            self._hangup.set()

    async def _speak(self, step: Say | Audio, audio: bytes) -> None:
        """Queue speech frames for the sender and wait until the last one went out."""
        sim, pb = self.sim, self.playback
        if not step.barge_in:
            await self._until(lambda: not pb.is_speaking(sim.now()), 30.0)
        chunks = frames(audio)
        if not chunks or self._closed.is_set():
            return
        text = step.text if isinstance(step, Say) else step.description
        kind = "say" if isinstance(step, Say) else "audio"
        utt = CallerUtterance(kind, text, step.barge_in, self.record.index)
        sim.result.caller_utterances.append(utt)
        self._utterances.append(utt)
        last_voiced = last_voiced_frame(audio)
        if last_voiced < 0:
            last_voiced = len(chunks) - 1
        done = asyncio.Event()
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            self._outgoing.append((chunk, utt, i == 0, i == last_voiced, done if last else None))
        await self._until(done.is_set, len(chunks) * self.frame_dt * 4 + 30.0)

    async def _wait_for_agent(self, step: WaitForAgent) -> None:
        """Until the agent spoke (or a mark came back) and then stayed quiet for `quiet` s."""
        sim, pb = self.sim, self.playback
        speaking_at_start = pb.is_speaking(sim.now())
        voiced0, echoed0 = pb.voiced_arrivals, len(pb.echoed)

        def settled() -> bool:
            now = sim.now()
            heard = speaking_at_start or pb.voiced_arrivals > voiced0 or len(pb.echoed) > echoed0
            return heard and not pb.is_speaking(now) and now - pb.voiced_end >= step.quiet

        if not await self._until(settled, step.timeout) and not self._closed.is_set():
            sim.warn(f"WaitForAgent: agent did not finish speaking within {step.timeout:g} s")
