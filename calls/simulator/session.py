"""The call flow: voice webhook → TwiML → media stream → action URLs, as Twilio drives a call."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from dataclasses import dataclass, field

import httpx
import phonenumbers

from calls.simulator.caller import render
from calls.simulator.result import (
    CallResult,
    DialRecord,
    HttpExchange,
    RedirectRecord,
    TimelineEntry,
    TwimlDocument,
    WhisperRecord,
)
from calls.simulator.script import Audio, Say, Step
from calls.simulator.signing import OriginMap, build_request, new_sid
from calls.simulator.stream import StreamSession
from calls.simulator.twiml import (
    ConnectVerb,
    DialVerb,
    HangupVerb,
    NumberUrl,
    PauseVerb,
    PlayVerb,
    RedirectVerb,
    SayVerb,
    TwimlError,
    UnknownVerb,
    Verb,
    parse_twiml,
)
from stellar.kernel.urls import url_is_loopback

DEFAULT_FAST = 8.0  # speed-up used for `realtime=False`
DIAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
_TWIML_TYPES = ("text/xml", "application/xml", "text/html")


@dataclass
class SimulatedCall:
    """How to place the simulated call; `webhook` is a path or a full public URL.

    `public_url` is the origin the server believes Twilio used (STELLAR_PUBLIC_URL): every
    signature is computed over it while requests go to `base_url`. `realtime` is True (1x),
    False (DEFAULT_FAST) or a speed-up factor; only the caller's side (media pacing, playback,
    Wait, Pause) is sped up, waits on the server stay in wall-clock seconds.
    """

    base_url: str
    webhook: str
    account_sid: str
    auth_token: str
    from_: str = "+15005550006"
    to: str = "+15005550001"
    method: str = "POST"
    extra_params: dict[str, str] = field(default_factory=dict)
    call_sid: str = field(default_factory=lambda: new_sid("CA"))
    script: list[Step] = field(default_factory=list)
    realtime: bool | float = True
    public_url: str | None = None
    dial_statuses: list[str] = field(default_factory=list)  # one per <Dial>, then "completed"
    dial_duration: int = 12  # DialCallDuration reported for a completed dial
    end_grace: float = 2.0  # wall-clock seconds the caller stays on after the script ends
    max_documents: int = 10
    max_stream_seconds: float = 600.0
    http_timeout: float = 15.0
    transport: httpx.AsyncBaseTransport | None = None  # tests: httpx.MockTransport
    ssl_context: ssl.SSLContext | None = None  # e.g. to trust a self-signed proxy certificate

    @property
    def speedup(self) -> float:
        """Caller-side time factor."""
        if self.realtime is True:
            return 1.0
        if self.realtime is False:
            return DEFAULT_FAST
        factor = float(self.realtime)
        if factor <= 0:
            raise ValueError("realtime speed-up must be positive")
        return factor

    @property
    def public_origin(self) -> str:
        """The origin signatures are computed over."""
        return (self.public_url or self.base_url).rstrip("/")

    @property
    def webhook_url(self) -> str:
        """The public voice webhook URL (before Twilio adds GET/IVR query params)."""
        if "://" in self.webhook:
            return self.webhook
        path = self.webhook if self.webhook.startswith("/") else "/" + self.webhook
        return self.public_origin + path

    @property
    def origins(self) -> OriginMap:
        """Public → connect origin mapping."""
        return OriginMap(public=self.public_origin, connect=self.base_url.rstrip("/"))


def _country(number: str) -> str:
    """ISO country of an E.164 number, as Twilio fills FromCountry/ToCountry."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


class CallSimulator:
    """Plays Twilio for one call and returns a `CallResult`."""

    def __init__(self, config: SimulatedCall) -> None:
        self.config = config
        self.origins = config.origins
        self.result = CallResult(
            call_sid=config.call_sid,
            account_sid=config.account_sid,
            from_=config.from_,
            to=config.to,
            speedup=config.speedup,
        )
        self._t0 = time.monotonic()
        self._steps: deque[tuple[Step, bytes]] = deque()
        self._dial_statuses = deque(config.dial_statuses)
        self._http: httpx.AsyncClient | None = None

    # -- helpers -----------------------------------------------------------------------

    def now(self) -> float:
        """Wall-clock seconds since the call started."""
        return time.monotonic() - self._t0

    def note(self, who: str, text: str, at: float | None = None) -> None:
        """Add a line to the transcript timeline."""
        self.result.timeline.append(TimelineEntry(self.now() if at is None else at, who, text))

    def warn(self, text: str) -> None:
        """Something Twilio would tolerate but a test should see."""
        self.result.warnings.append(text)
        self.note("warning", text)

    def fail(self, text: str, ended_by: str = "error") -> None:
        """Something Twilio would report as an error; the call ends."""
        self.result.errors.append(text)
        self.result.ended_by = self.result.ended_by or ended_by
        self.note("error", text)

    def next_step(self) -> tuple[Step, bytes] | None:
        """The script is one cursor shared by every stream of the call (reconnects continue)."""
        return self._steps.popleft() if self._steps else None

    def params(self, status: str) -> dict[str, str]:
        """The parameters Twilio sends with every voice callback."""
        c = self.config
        from_country, to_country = _country(c.from_), _country(c.to)
        return {
            "CallSid": c.call_sid,
            "AccountSid": c.account_sid,
            "From": c.from_,
            "To": c.to,
            "CallStatus": status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            "Caller": c.from_,
            "Called": c.to,
            "FromCountry": from_country,
            "ToCountry": to_country,
            "CallerCountry": from_country,
            "CalledCountry": to_country,
            "FromState": "",
            "FromCity": "",
            "FromZip": "",
            "ToState": "",
            "ToCity": "",
            "ToZip": "",
        }

    # -- the call ----------------------------------------------------------------------

    async def run(self) -> CallResult:
        """Render the caller's audio, then ring the webhook and follow the TwiML."""
        audio: dict[int, bytes] = {}
        for step in self.config.script:  # one at a time: TTS engines are not all thread-safe
            if isinstance(step, Say | Audio) and id(step) not in audio:
                audio[id(step)] = await render(step)
        self._steps = deque((s, audio.get(id(s), b"")) for s in self.config.script)
        self._t0 = time.monotonic()
        c = self.config
        trust_env = not url_is_loopback(c.base_url)
        async with httpx.AsyncClient(
            timeout=c.http_timeout,
            transport=c.transport,
            trust_env=trust_env,
            verify=c.ssl_context or True,
        ) as http:
            self._http = http
            verbs = await self.fetch(
                "webhook", c.method, c.webhook_url, self.params("ringing"), c.extra_params
            )
            while verbs is not None:
                verbs = await self.execute(verbs)
        self.result.duration = self.now()
        self.note("twilio", f"call ended ({self.result.ended_by})")
        return self.result

    async def fetch(
        self,
        kind: str,
        method: str,
        url: str,
        params: dict[str, str],
        query: dict[str, str] | None = None,
        *,
        fatal: bool = True,
    ) -> list[Verb] | None:
        """Make one signed Twilio request and parse its TwiML; None ends the call.

        With `fatal=False` (a `<Number url>` whisper) a failure is only a warning: Twilio logs
        it and carries on with the call, and None means "no TwiML to run"."""
        c = self.config
        problem = self.fail if fatal else self.warn
        if len(self.result.documents) >= c.max_documents:
            self.fail(f"loop guard: more than {c.max_documents} TwiML documents", "loop-guard")
            return None
        req = build_request(
            method, url, params, c.auth_token, query_params=query, origins=self.origins
        )
        exchange = HttpExchange(
            kind=kind,
            method=req.method,
            url=req.url,
            sent_url=req.send_url,
            params=dict(params),
            signature=req.signature,
            at=self.now(),
        )
        self.result.exchanges.append(exchange)
        assert self._http is not None
        started = time.monotonic()
        try:
            if req.method == "GET":
                resp = await self._http.get(req.send_url, headers=req.headers)
            else:
                resp = await self._http.post(req.send_url, data=req.form, headers=req.headers)
        except httpx.HTTPError as exc:
            exchange.latency = time.monotonic() - started
            exchange.error = f"{type(exc).__name__}: {exc}"
            problem(f"{kind} {req.method} {req.url} failed (Twilio 11200): {exchange.error}")
            return None
        exchange.latency = time.monotonic() - started
        exchange.status = resp.status_code
        exchange.content_type = resp.headers.get("content-type", "")
        exchange.body = resp.text
        self.note(
            "twilio",
            f"{kind}: {req.method} {req.url} → {resp.status_code} "
            f"{exchange.content_type} in {exchange.latency * 1000:.0f} ms",
        )
        if resp.status_code != 200:
            exchange.error = f"HTTP {resp.status_code}"
            problem(f"{kind} answered HTTP {resp.status_code} (Twilio 11200)")
            return None
        media_type = exchange.content_type.split(";")[0].strip().lower()
        if media_type not in _TWIML_TYPES:
            exchange.error = f"content type {media_type or 'missing'}"
            problem(f"{kind} answered content type {media_type!r} (Twilio 12300)")
            return None
        try:
            verbs = parse_twiml(resp.text, base_url=req.url)
        except TwimlError as exc:
            exchange.error = str(exc)
            problem(f"{kind} TwiML could not be parsed (Twilio 12100): {exc}")
            return None
        self.result.documents.append(
            TwimlDocument(url=req.url, kind=kind, xml=resp.text, verbs=verbs)
        )
        return verbs

    async def execute(self, verbs: list[Verb]) -> list[Verb] | None:
        """Run one TwiML document; returns the next document's verbs, or None when the call ends."""
        r = self.result
        for verb in verbs:
            if isinstance(verb, SayVerb):
                for _ in range(max(1, verb.loop)):
                    r.twilio_said.append(verb.text)
                self.note("twilio", f'says "{verb.text}"')
            elif isinstance(verb, PlayVerb):
                self.note("twilio", f"plays {verb.url}")
            elif isinstance(verb, PauseVerb):
                self.note("twilio", f"pauses {verb.length:g} s")
                await asyncio.sleep(verb.length / self.config.speedup)
            elif isinstance(verb, HangupVerb):
                self.note("twilio", "rejects the call" if verb.reject else "hangs up")
                r.ended_by = "reject" if verb.reject else "hangup"
                return None
            elif isinstance(verb, ConnectVerb):
                if verb.stream is None:
                    self.warn("<Connect> without <Stream>: skipped")
                    continue
                record = await StreamSession(self, verb.stream, len(r.streams)).run()
                if record.ended_by in ("refused", "error"):
                    r.ended_by = r.ended_by or "stream-failed"
                    return None
                if record.ended_by != "server":
                    r.ended_by = "caller-hangup"
                    return None
                if verb.action:
                    return await self.fetch(
                        "connect-action", verb.method, verb.action, self.params("in-progress")
                    )
            elif isinstance(verb, DialVerb):
                next_verbs = await self._dial(verb)
                if next_verbs is not None or verb.action:
                    return next_verbs
            elif isinstance(verb, RedirectVerb):
                followed = self.origins.is_ours(verb.url)
                r.redirects.append(RedirectRecord(verb.url, verb.method, followed, self.now()))
                self.note(
                    "twilio",
                    f"redirect {verb.method} {verb.url}"
                    + ("" if followed else " (leaves our server)"),
                )
                if not followed:
                    r.ended_by = "redirect-external"
                    return None
                return await self.fetch(
                    "redirect", verb.method, verb.url, self.params("in-progress")
                )
            elif isinstance(verb, UnknownVerb):
                self.warn(f"unsupported TwiML verb <{verb.tag}> skipped")
        r.ended_by = r.ended_by or "twiml-end"
        return None

    async def _dial(self, verb: DialVerb) -> list[Verb] | None:
        """Record the transfer Twilio would place and report the configured outcome."""
        status = self._dial_statuses.popleft() if self._dial_statuses else "completed"
        if status not in DIAL_STATUSES:
            raise ValueError(f"unknown DialCallStatus {status!r}; use one of {DIAL_STATUSES}")
        duration = self.config.dial_duration if status == "completed" else 0
        record = DialRecord(
            numbers=verb.numbers,
            caller_id=verb.caller_id,
            timeout=verb.timeout,
            action=verb.action,
            method=verb.method,
            status=status,
            dial_call_sid=new_sid("CA"),
            duration=duration,
            at=self.now(),
        )
        self.result.dials.append(record)
        self.note(
            "twilio",
            f"dials {', '.join(verb.numbers) or '?'} (callerId {verb.caller_id}, "
            f"timeout {verb.timeout}s) → {status}",
        )
        number_url = verb.url_for(0)  # the first number is the one that answers
        if status == "completed" and number_url is not None:
            record.whisper = await self._whisper(verb, record, number_url)
            if record.whisper.declined:
                record.status = status = "no-answer"
                record.duration = duration = 0
        if status == "completed":
            record.bridged_at = self.now()
            self.note("twilio", f"connects the caller to {record.number}")
        if not verb.action:
            return None
        params = {
            **self.params("in-progress"),
            "DialCallStatus": status,
            "DialCallSid": record.dial_call_sid,
            "DialCallDuration": str(duration),
        }
        return await self.fetch("dial-action", verb.method, verb.action, params)

    async def _whisper(self, verb: DialVerb, record: DialRecord, url: NumberUrl) -> WhisperRecord:
        """Run `<Number url>` TwiML on the answered leg, heard only by the person who answered,
        while the caller still hears ringing; the caller is bridged when it ends.

        As Twilio: the request is about the dialled leg (its own CallSid, ParentCallSid = the
        caller's call) and `<Dial>` is not allowed there (13201, skipped). Modelled, as Twilio's
        documentation leaves it open: `<Hangup>` declines the call (no-answer to the Dial
        action); a failed fetch or unparsable TwiML is a warning (11200/12100/12300) and the
        caller is bridged anyway."""
        c = self.config
        whisper = WhisperRecord(url=url.url, method=url.method, at=self.now())
        params = {
            **self.params("in-progress"),
            "CallSid": record.dial_call_sid,
            "ParentCallSid": c.call_sid,
            "From": verb.caller_id or c.from_,
            "To": record.number or "",
            "Caller": verb.caller_id or c.from_,
            "Called": record.number or "",
            "Direction": "outbound-dial",
        }
        verbs = await self.fetch("whisper", url.method, url.url, params, fatal=False)
        if verbs is None:
            last = self.result.exchanges[-1]
            whisper.error = (last.error if last.kind == "whisper" else None) or "not fetched"
        for v in verbs or []:
            if isinstance(v, SayVerb):
                whisper.heard.extend([v.text] * max(1, v.loop))
                self.note("human", f'hears "{v.text}"')
            elif isinstance(v, PauseVerb):
                await asyncio.sleep(v.length / c.speedup)
            elif isinstance(v, HangupVerb):
                whisper.declined = True
                self.note("human", "hangs up before being connected")
                break
            elif isinstance(v, DialVerb):
                self.warn("<Dial> in <Number url> TwiML is not allowed (Twilio 13201): skipped")
            else:
                self.warn(f"whisper verb {type(v).__name__} not acted on")
        whisper.ended_at = self.now()
        return whisper
