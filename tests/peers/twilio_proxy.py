"""A recording proxy in front of the Prism mock of Twilio's REST API: tests see exactly what
the real `twilio` client sent and how Prism (validating against Twilio's spec) answered."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import httpx

from . import LocalHttpServer, RecordedRequest, Reply


class TwilioRecordingProxy(LocalHttpServer):
    """Forwards every request to Prism and remembers (request, Prism's status)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target.rstrip("/")
        self.answers: list[tuple[RecordedRequest, int]] = []

    def handle(self, request: RecordedRequest, handler: BaseHTTPRequestHandler) -> Reply:
        query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k in ("authorization", "content-type", "accept", "user-agent")
        }
        answer = httpx.request(
            request.method,
            self.target + request.path + (f"?{query}" if query else ""),
            headers=headers,
            content=request.body,
            timeout=30,
        )
        self.answers.append((request, answer.status_code))
        return Reply(
            answer.status_code,
            answer.content,
            headers={"Content-Type": answer.headers.get("content-type", "application/json")},
        )
