"""Twilio-style request building and signing, and public→connect origin mapping."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from twilio.request_validator import RequestValidator

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_HTTP_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_WS_SCHEME = {"http": "ws", "https": "wss"}


def new_sid(prefix: str) -> str:
    """Twilio SIDs are a two-letter prefix plus 32 hex digits."""
    return prefix + secrets.token_hex(16)


def compute_signature(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """Sign exactly like Twilio does, by delegating to the official validator."""
    signature: str = RequestValidator(auth_token).compute_signature(url, dict(params or {}))
    return signature  # (twilio ships no types)


def add_query(url: str, params: Mapping[str, str] | None) -> str:
    """Append params to a URL's query string, keeping any query it already has."""
    if not params:
        return url
    parts = urlsplit(url)
    extra = urlencode(list(params.items()))
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def _origin_key(url: str) -> tuple[str, str, int, str]:
    """Scheme family, host, port and path prefix, so ws/wss match http/https origins."""
    parts = urlsplit(url)
    scheme = _HTTP_SCHEME.get(parts.scheme.lower(), parts.scheme.lower())
    host = (parts.hostname or "").lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, host, port, parts.path.rstrip("/")


@dataclass(frozen=True)
class OriginMap:
    """The origin the server believes Twilio used, and the address we really connect to."""

    public: str
    connect: str

    def is_ours(self, url: str) -> bool:
        """Whether a URL points at our server (through its public or its connect origin)."""
        return self._prefix_of(url) is not None

    def _prefix_of(self, url: str) -> str | None:
        """Which of our origins (public first) a URL lives under, if any."""
        key = _origin_key(url)
        for base in (self.public, self.connect):
            scheme, host, port, prefix = _origin_key(base)
            if key[:3] != (scheme, host, port):
                continue
            if not prefix or key[3] == prefix or key[3].startswith(prefix + "/"):
                return base
        return None

    def to_connect(self, url: str) -> str:
        """Rewrite a public URL (http(s) or ws(s)) onto the address we really connect to."""
        return map_origin(url, self.public, self.connect)


def map_origin(url: str, public: str, connect: str) -> str:
    """Map a URL under the public origin onto the connect origin; others pass unchanged.

    https→wss / http→ws is applied for websocket URLs, so `wss://public/x` becomes
    `ws://127.0.0.1:8000/x` when the connect origin is `http://127.0.0.1:8000`.
    """
    key = _origin_key(url)
    p_scheme, p_host, p_port, p_prefix = _origin_key(public)
    if key[:3] != (p_scheme, p_host, p_port):
        return url
    if p_prefix and not (key[3] == p_prefix or key[3].startswith(p_prefix + "/")):
        return url
    src = urlsplit(url)
    dst = urlsplit(connect)
    is_ws = src.scheme.lower() in ("ws", "wss")
    scheme = dst.scheme.lower()
    if is_ws:
        scheme = _WS_SCHEME.get(scheme, scheme)
    rest = src.path[len(p_prefix) :] if p_prefix else src.path
    path = dst.path.rstrip("/") + rest
    return urlunsplit((scheme, dst.netloc, path, src.query, src.fragment))


@dataclass(frozen=True)
class SignedRequest:
    """One Twilio callback: the URL signed (public), where it goes, and what it carries."""

    method: str
    url: str
    send_url: str
    form: dict[str, str] = field(default_factory=dict)
    signature: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """Headers Twilio sends with every webhook."""
        headers = {
            "X-Twilio-Signature": self.signature,
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
        }
        if self.method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return headers


def build_request(
    method: str,
    url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    query_params: Mapping[str, str] | None = None,
    origins: OriginMap | None = None,
) -> SignedRequest:
    """Lay out params like Twilio (GET: query string; POST: form body) and sign the public URL.

    `query_params` are extra IVR data a Studio "TwiML Redirect" adds to the URL's query string;
    for GET they simply join the other params in the query string.
    """
    method = method.upper()
    if method not in ("GET", "POST"):
        raise ValueError(f"Twilio only uses GET or POST, not {method!r}")
    if method == "GET":
        public = add_query(url, {**dict(params), **dict(query_params or {})})
        form: dict[str, str] = {}
    else:
        public = add_query(url, query_params)
        form = {k: str(v) for k, v in params.items()}
    signature = compute_signature(auth_token, public, form)
    send_url = origins.to_connect(public) if origins else public
    return SignedRequest(
        method=method, url=public, send_url=send_url, form=form, signature=signature
    )
