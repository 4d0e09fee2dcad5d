"""TwiML parsing into plain verb objects, so the simulator can follow a document like Twilio."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - the document comes from the server under test
from dataclasses import dataclass, field
from urllib.parse import urljoin


class TwimlError(ValueError):
    """The response is not a TwiML document Twilio would accept (Twilio error 12100)."""


@dataclass(frozen=True)
class SayVerb:
    """`<Say>`: Twilio reads text to the caller."""

    text: str
    voice: str | None = None
    language: str | None = None
    loop: int = 1


@dataclass(frozen=True)
class PlayVerb:
    """`<Play>`: Twilio plays an audio URL (recorded, not fetched)."""

    url: str
    loop: int = 1


@dataclass(frozen=True)
class PauseVerb:
    """`<Pause length>`: silence on the line."""

    length: float = 1.0


@dataclass(frozen=True)
class HangupVerb:
    """`<Hangup/>` (and `<Reject/>`): the call ends."""

    reject: bool = False


@dataclass(frozen=True)
class StreamSpec:
    """`<Stream>` inside `<Connect>`: the media websocket and its custom parameters."""

    url: str
    name: str | None = None
    track: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    status_callback: str | None = None


@dataclass(frozen=True)
class ConnectVerb:
    """`<Connect action method>`: blocks on the stream, then requests `action`."""

    stream: StreamSpec | None
    action: str | None = None
    method: str = "POST"


@dataclass(frozen=True)
class NumberUrl:
    """`<Number url method>`: TwiML Twilio runs for the person who answers, before bridging."""

    url: str
    method: str = "POST"


@dataclass(frozen=True)
class DialVerb:
    """`<Dial>`: bridge the caller to a number; `action` learns the outcome."""

    numbers: tuple[str, ...]
    caller_id: str | None = None
    timeout: int = 30
    action: str | None = None
    method: str = "POST"
    time_limit: int | None = None
    urls: tuple[NumberUrl | None, ...] = ()  # one per number: its whisper/screening URL

    def url_for(self, index: int) -> NumberUrl | None:
        """The `<Number url>` of the number at `index`, if it has one."""
        return self.urls[index] if index < len(self.urls) else None


@dataclass(frozen=True)
class RedirectVerb:
    """`<Redirect method>`: fetch another TwiML document and continue with it."""

    url: str
    method: str = "POST"


@dataclass(frozen=True)
class UnknownVerb:
    """A verb the simulator does not act on; recorded so tests can notice it."""

    tag: str
    attributes: dict[str, str] = field(default_factory=dict)
    text: str = ""


Verb = (
    SayVerb
    | PlayVerb
    | PauseVerb
    | HangupVerb
    | ConnectVerb
    | DialVerb
    | RedirectVerb
    | UnknownVerb
)


def _resolve(url: str | None, base_url: str | None) -> str | None:
    """Twilio resolves relative URLs against the URL of the document that held them."""
    if not url:
        return None
    url = url.strip()
    return urljoin(base_url, url) if base_url else url


def _int(value: str | None, default: int) -> int:
    """Attributes are strings; bad numbers fall back to Twilio's default."""
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _float(value: str | None, default: float) -> float:
    """Like `_int`, for `<Pause length>`."""
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def _method(value: str | None) -> str:
    """Twilio's callbacks default to POST."""
    return (value or "POST").strip().upper()


def _text(el: ET.Element) -> str:
    """Element text including nested SSML children."""
    return " ".join("".join(el.itertext()).split())


def _parse_stream(el: ET.Element, base_url: str | None) -> StreamSpec:
    params = {
        p.get("name", ""): p.get("value", "")
        for p in el
        if p.tag == "Parameter" and p.get("name") is not None
    }
    return StreamSpec(
        url=(el.get("url") or "").strip(),
        name=el.get("name"),
        track=el.get("track"),
        parameters=params,
        status_callback=_resolve(el.get("statusCallback"), base_url),
    )


def _parse_dial(el: ET.Element, base_url: str | None) -> DialVerb:
    numbers: list[str] = []
    urls: list[NumberUrl | None] = []
    for child in el:
        text = _text(child)
        if child.tag == "Number":
            numbers.append(text)
            url = _resolve(child.get("url"), base_url)
            urls.append(NumberUrl(url, _method(child.get("method"))) if url else None)
        elif child.tag in ("Client", "Sip", "Queue", "Conference"):
            numbers.append(f"{child.tag.lower()}:{text}")
            urls.append(None)
    if not numbers and _text(el):
        numbers.append(_text(el))
    time_limit = el.get("timeLimit")
    return DialVerb(
        numbers=tuple(numbers),
        caller_id=el.get("callerId"),
        timeout=_int(el.get("timeout"), 30),
        action=_resolve(el.get("action"), base_url),
        method=_method(el.get("method")),
        time_limit=_int(time_limit, 14400) if time_limit else None,
        urls=tuple(urls),
    )


def _parse_verb(el: ET.Element, base_url: str | None) -> Verb:
    tag = el.tag
    if tag == "Say":
        return SayVerb(
            text=_text(el),
            voice=el.get("voice"),
            language=el.get("language"),
            loop=_int(el.get("loop"), 1),
        )
    if tag == "Play":
        return PlayVerb(url=_resolve(_text(el), base_url) or "", loop=_int(el.get("loop"), 1))
    if tag == "Pause":
        return PauseVerb(length=_float(el.get("length"), 1.0))
    if tag in ("Hangup", "Reject"):
        return HangupVerb(reject=tag == "Reject")
    if tag == "Connect":
        streams = [c for c in el if c.tag == "Stream"]
        return ConnectVerb(
            stream=_parse_stream(streams[0], base_url) if streams else None,
            action=_resolve(el.get("action"), base_url),
            method=_method(el.get("method")),
        )
    if tag == "Dial":
        return _parse_dial(el, base_url)
    if tag == "Redirect":
        url = _resolve(_text(el), base_url)
        if not url:
            raise TwimlError("<Redirect> without a URL")
        return RedirectVerb(url=url, method=_method(el.get("method")))
    return UnknownVerb(tag=tag, attributes=dict(el.attrib), text=_text(el))


def parse_twiml(document: str | bytes, base_url: str | None = None) -> list[Verb]:
    """Parse a TwiML `<Response>` into verbs; relative URLs resolve against `base_url`."""
    try:
        root = ET.fromstring(document)  # noqa: S314 - our own server's reply, expat limits entities
    except ET.ParseError as exc:
        raise TwimlError(f"not well-formed XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"root element is <{root.tag}>, expected <Response>")
    return [_parse_verb(el, base_url) for el in root]
