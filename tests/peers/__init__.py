"""Local HTTP peers for tests: real servers on 127.0.0.1 that stand in for outside services.

`LocalHttpServer` is the shared plumbing: a `ThreadingHTTPServer` on a free port served from
a daemon thread, used as a context manager, recording every request it receives. A peer
subclasses it and implements `handle(request) -> Reply | None` (None: the handler wrote the
response itself, e.g. a stream).

    with HttpApiPeer() as api:
        httpx.get(api.url("/orders/1"))
        assert api.requests[0].path == "/orders/1"
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    received_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None  # when the whole response had been written

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON, str/bytes → as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


class LocalHttpServer:
    """Base of the peers: start on enter, stop on exit, `requests` in arrival order."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Subclasses implement this.
    def handle(self, request: RecordedRequest, handler: BaseHTTPRequestHandler) -> Reply | None:
        raise NotImplementedError

    @property
    def root_url(self) -> str:
        assert self._server is not None, "use the peer as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.root_url

    def url(self, path: str) -> str:
        return self.root_url + path

    def start(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with peer._lock:
                    peer.requests.append(request)
                try:
                    reply = peer.handle(request, self)
                    if reply is not None:
                        peer.write_reply(self, reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    request.finished_at = time.monotonic()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()  # releases handlers that are hanging on purpose
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds` in a handler; False when the peer is stopping."""
        return not self.stopping.wait(seconds) if seconds > 0 else not self.stopping.is_set()

    def write_reply(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay and not self.wait(reply.delay):
            handler.close_connection = True
            return
        body, content_type = reply.encoded()
        handler.send_response(reply.status)
        headers = {"Content-Type": content_type, **reply.headers}
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)
        handler.wfile.flush()
