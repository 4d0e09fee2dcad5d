"""The API-call action: one templated HTTP request through the environment's auth connector.

Returns an unredacted ActionResult; `agents.actions.runner.run_action` redacts it before
anything is stored or logged. Auth header values are masked here already.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx

from agents.actions.auth import AuthError, auth_for
from agents.actions.context import CallContext
from agents.actions.result import ActionResult
from agents.actions.templating import compile_template, render, template_values
from stellar.kernel.egress import egress_client

APOLOGY = "Sorry, I couldn't complete that right now."
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_TIMEOUT_SECONDS = 30.0
MIN_TIMEOUT_SECONDS = 0.1
MAX_RESPONSE_BYTES = 1_000_000
MASK = "••••••"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def timeout_seconds(config: dict[str, Any]) -> float:
    """config["timeout_seconds"] (default 5), kept between 0.1 and 30 seconds."""
    try:
        value = float(config.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS)
    except (TypeError, ValueError):
        value = DEFAULT_TIMEOUT_SECONDS
    return min(max(value, MIN_TIMEOUT_SECONDS), MAX_TIMEOUT_SECONDS)


async def api_call(
    action: dict[str, Any], ctx: CallContext, arguments: dict[str, Any]
) -> ActionResult:
    config = action.get("config") or {}
    headers_config = config.get("headers") or {}
    # Compile everything first: a broken template must not leave a half-made request behind.
    for source in (
        config.get("method"),
        config.get("url"),
        config.get("body"),
        config.get("response_template"),
        *headers_config.values(),
    ):
        if source:
            compile_template(str(source))

    values = template_values(ctx, arguments)
    method = (render(config.get("method") or "GET", values).strip() or "GET").upper()
    url = render_url(str(config.get("url") or ""), values)
    headers = {
        str(name).strip(): render(str(value), values)
        for name, value in headers_config.items()
        if str(name).strip()
    }
    body = render(config.get("body"), values) if config.get("body") else ""
    inputs: dict[str, Any] = {"method": method, "url": url, "headers": dict(headers), "body": body}

    if method not in METHODS:
        return _failed(f"Refused HTTP method {method!r}.", inputs)
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return _failed(f"Refused URL {url!r}: it is not a valid URL.", inputs)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return _failed(f"Refused URL {url!r}: only http and https URLs are allowed.", inputs)
    if body and not _has_header(headers, "content-type"):
        headers["Content-Type"] = "application/json" if _is_json(body) else "text/plain"

    timeout = timeout_seconds(config)
    label = f"{method} {_without_query(parsed)}"
    try:
        async with asyncio.timeout(timeout):
            async with egress_client(timeout=httpx.Timeout(timeout)) as client:
                auth = None
                if config.get("auth_connector"):
                    applied = await auth_for(config["auth_connector"], ctx, client)
                    headers.update(applied.headers)
                    auth = applied.httpx_auth
                    for name in applied.masked_headers:
                        inputs["headers"][name] = MASK
                status, data = await _send(client, method, url, headers, body, auth)
    except AuthError as exc:
        return _failed(str(exc), inputs)
    except (TimeoutError, httpx.TimeoutException):
        return _failed(f"{label} timed out after {timeout:g} s.", inputs)
    except httpx.HTTPError as exc:
        return _failed(f"{label} failed: {type(exc).__name__}: {exc}", inputs)

    outcome = f"HTTP {status} from {label}"
    if not 200 <= status < 300:
        return ActionResult(ok=False, say=APOLOGY, data=data, inputs=inputs, outcome=outcome)
    say = render(config.get("response_template"), {**values, "result": data})
    return ActionResult(ok=True, say=say.strip(), data=data, inputs=inputs, outcome=outcome)


async def _send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    body: str,
    auth: httpx.Auth | None,
) -> tuple[int, Any]:
    request = client.build_request(
        method, url, headers=headers, content=body.encode() if body else None
    )
    response = await client.send(request, auth=auth, stream=True)
    try:
        raw = bytearray()
        async for chunk in response.aiter_bytes():
            raw.extend(chunk)
            if len(raw) > MAX_RESPONSE_BYTES:
                del raw[MAX_RESPONSE_BYTES:]
                break
    finally:
        await response.aclose()
    text = raw.decode(response.encoding or "utf-8", errors="replace")
    try:
        data: Any = json.loads(text) if text.strip() else None
    except ValueError:
        data = text
    return response.status_code, data


def _failed(outcome: str, inputs: dict[str, Any]) -> ActionResult:
    return ActionResult(ok=False, say=APOLOGY, inputs=inputs, outcome=outcome)


def _has_header(headers: dict[str, str], name: str) -> bool:
    return any(k.lower() == name for k in headers)


def _is_json(body: str) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _without_query(url: httpx.URL) -> str:
    """Query strings often carry keys: the timeline shows scheme, host and path only."""
    return str(url.copy_with(query=None, fragment=None))


def _percent_encoded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _percent_encoded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_percent_encoded(v) for v in value]
    return quote(str(value), safe="") if isinstance(value, str) else value


def render_url(template: str, values: dict[str, Any]) -> str:
    """Values in the query string are percent-encoded (a caller's "+1555…" stays a plus);
    the part before "?" is rendered as is, so a base-URL variable keeps its slashes."""
    base, sep, query = template.partition("?")
    rendered = render(base, values).strip()
    if sep:
        rendered += "?" + render(query, _percent_encoded(values)).strip()
    return rendered
