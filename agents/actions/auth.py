"""How an API-call action authenticates, from `CallContext.auth[<connector name>]`.

Each entry is {"kind", "header_name", "token_url", "scope", "credentials": {...}} with the
credentials of the call's environment: {"token"} / {"key"} / {"username", "password"} /
{"client_id", "client_secret"}. OAuth2 access tokens are cached on the call context until
shortly before they expire, so one call fetches a token once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from agents.actions.context import CallContext

DEFAULT_API_KEY_HEADER = "X-API-Key"
TOKEN_EXPIRY_MARGIN_SECONDS = 30
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600


class AuthError(Exception):
    """The connector is missing, misconfigured, or its token endpoint refused us."""


@dataclass
class AppliedAuth:
    """Headers to add, an httpx auth for basic, the header names to mask, values to redact."""

    headers: dict[str, str] = field(default_factory=dict)
    httpx_auth: httpx.Auth | None = None
    masked_headers: tuple[str, ...] = ()
    secret_values: list[str] = field(default_factory=list)


def connector_secret_values(ctx: CallContext) -> list[str]:
    """Every credential string of every connector, plus cached access tokens: never logged."""
    values: list[str] = []
    for connector in ctx.auth.values():
        for value in (connector.get("credentials") or {}).values():
            if value:
                values.append(str(value))
    for token, _expires in _token_cache(ctx).values():
        values.append(token)
    return values


async def auth_for(connector_name: str, ctx: CallContext, client: httpx.AsyncClient) -> AppliedAuth:
    connector = ctx.auth.get(connector_name)
    if connector is None:
        raise AuthError(
            f"Auth connector {connector_name!r} has no credentials in the {ctx.environment} "
            "environment."
        )
    kind = connector.get("kind")
    credentials = connector.get("credentials") or {}
    secret_values = [str(v) for v in credentials.values() if v]
    if kind == "bearer":
        token = _required(credentials, "token", connector_name)
        return AppliedAuth(
            headers={"Authorization": f"Bearer {token}"},
            masked_headers=("Authorization",),
            secret_values=secret_values,
        )
    if kind == "api_key":
        header = connector.get("header_name") or DEFAULT_API_KEY_HEADER
        key = _required(credentials, "key", connector_name)
        return AppliedAuth(
            headers={header: key}, masked_headers=(header,), secret_values=secret_values
        )
    if kind == "basic":
        username = _required(credentials, "username", connector_name)
        password = _required(credentials, "password", connector_name)
        return AppliedAuth(
            httpx_auth=httpx.BasicAuth(username, password),
            masked_headers=("Authorization",),
            secret_values=secret_values,
        )
    if kind == "oauth2_cc":
        token = await _client_credentials_token(connector_name, connector, ctx, client)
        return AppliedAuth(
            headers={"Authorization": f"Bearer {token}"},
            masked_headers=("Authorization",),
            secret_values=[*secret_values, token],
        )
    raise AuthError(f"Auth connector {connector_name!r} has an unknown kind {kind!r}.")


async def _client_credentials_token(
    name: str, connector: dict[str, Any], ctx: CallContext, client: httpx.AsyncClient
) -> str:
    cache = _token_cache(ctx)
    cached = cache.get(name)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    credentials = connector.get("credentials") or {}
    token_url = connector.get("token_url") or ""
    if httpx.URL(token_url).scheme not in ("http", "https"):
        raise AuthError(f"Auth connector {name!r} needs an http(s) token URL.")
    form = {
        "grant_type": "client_credentials",
        "client_id": _required(credentials, "client_id", name),
        "client_secret": _required(credentials, "client_secret", name),
    }
    if connector.get("scope"):
        form["scope"] = connector["scope"]
    try:
        response = await client.post(token_url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise AuthError(f"The token endpoint of {name!r} did not answer: {exc}") from None
    if response.status_code != 200:
        raise AuthError(f"The token endpoint of {name!r} answered HTTP {response.status_code}.")
    try:
        payload = response.json()
        token = str(payload["access_token"])
        lifetime = float(payload.get("expires_in") or DEFAULT_TOKEN_LIFETIME_SECONDS)
    except (ValueError, KeyError, TypeError):
        raise AuthError(f"The token endpoint of {name!r} sent no access_token.") from None
    expires = time.monotonic() + max(lifetime - TOKEN_EXPIRY_MARGIN_SECONDS, 0)
    cache[name] = (token, expires)
    return token


def _token_cache(ctx: CallContext) -> dict[str, tuple[str, float]]:
    """Tokens live on the call context (one call, one environment), never across calls."""
    return ctx.oauth_tokens


def _required(credentials: dict[str, Any], key: str, name: str) -> str:
    value = credentials.get(key)
    if not value:
        raise AuthError(f"Auth connector {name!r} is missing its {key}.")
    return str(value)
