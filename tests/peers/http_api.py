"""A customer's HTTP API for API-call actions: records requests, answers JSON, issues tokens.

    with HttpApiPeer(routes={"/orders/42": Reply(body={"status": "shipped"})}) as api:
        ...  # any other path answers 404 {"error": "not found"}

`POST /oauth/token` is an OAuth2 client-credentials token endpoint for `clients`
({client_id: client_secret}); it accepts the credentials in the form body or as HTTP Basic,
answers {"access_token", "token_type": "Bearer", "expires_in"} and counts what it issued.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from . import LocalHttpServer, RecordedRequest, Reply

TOKEN_PATH = "/oauth/token"
Route = Reply | Callable[[RecordedRequest], Reply]


class HttpApiPeer(LocalHttpServer):
    def __init__(
        self,
        routes: dict[str, Route] | None = None,
        *,
        clients: dict[str, str] | None = None,
        token_lifetime: int = 3600,
    ) -> None:
        super().__init__()
        self.routes = dict(routes or {})
        self.clients = dict(clients or {})
        self.token_lifetime = token_lifetime
        self.issued_tokens: list[str] = []

    def handle(self, request: RecordedRequest, handler: BaseHTTPRequestHandler) -> Reply:
        if request.path == TOKEN_PATH and request.method == "POST":
            return self._token(request)
        route = self.routes.get(request.path)
        if route is None:
            return Reply(404, {"error": "not found"})
        return route(request) if callable(route) else route

    def api_requests(self) -> list[RecordedRequest]:
        """Requests other than token requests."""
        return [r for r in self.requests if r.path != TOKEN_PATH]

    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == TOKEN_PATH]

    def _token(self, request: RecordedRequest) -> Reply:
        form = request.form()
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        if not client_id or self.clients.get(client_id) != client_secret:
            return Reply(401, {"error": "invalid_client"})
        token = f"access-{client_id}-{len(self.issued_tokens) + 1}"
        self.issued_tokens.append(token)
        return Reply(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime},
            headers={"Cache-Control": "no-store"},
        )
