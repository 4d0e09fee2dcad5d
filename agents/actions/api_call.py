"""The API-call action: one templated HTTP request through the environment's auth connector.

Returns an unredacted ActionResult; `agents.actions.runner.run_action` redacts it before
anything is stored or logged. Auth header values are masked here already.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx

from agents.actions.auth import AuthError, auth_for
from agents.actions.context import CallContext
from agents.actions.request_values import (
    RequestRefused,
    check_header,
    render_body,
    render_url,
    url_segment,
)
from agents.actions.result import ActionResult
from agents.actions.secret_slots import SecretRefused, host_allowed
from agents.actions.template_limits import run_bounded
from agents.actions.templating import (
    compile_template,
    render,
    render_text,
    secret_slots,
    template_values,
)
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


@dataclass
class _Request:
    """A rendered request: secrets still as markers, so it can be checked and shown masked."""

    method: str
    url: str
    headers: dict[str, str]
    body: str


def _rendered(config: dict[str, Any], values: dict[str, Any]) -> _Request:
    """Compile everything, then render (in the template worker): a broken template must not
    leave a half-made request behind."""
    headers_config = config.get("headers") or {}
    for source in (
        config.get("method"),
        config.get("url"),
        config.get("body"),
        config.get("response_template"),
        *headers_config.values(),
    ):
        if source:
            compile_template(str(source))
    method = (render(config.get("method") or "GET", values).strip() or "GET").upper()
    return _Request(
        method=method,
        url=render_url(str(config.get("url") or ""), values),
        headers={
            str(name).strip(): render(str(value), values)
            for name, value in headers_config.items()
            if str(name).strip()
        },
        body=render_body(str(config["body"]), values) if config.get("body") else "",
    )


async def api_call(
    action: dict[str, Any], ctx: CallContext, arguments: dict[str, Any]
) -> ActionResult:
    config = action.get("config") or {}
    slots = secret_slots(ctx)
    values = template_values(ctx, arguments, slots)
    try:
        request = await run_bounded(lambda: _rendered(config, values))
    except RequestRefused as exc:
        return _failed(str(exc), {})
    inputs: dict[str, Any] = {
        "method": request.method,
        "url": slots.masked(request.url),
        "headers": {k: slots.masked(v) for k, v in request.headers.items()},
        "body": slots.masked(request.body),
    }

    if request.method not in METHODS:
        return _failed(f"Refused HTTP method {request.method[:20]!r}.", inputs)
    try:
        parsed = httpx.URL(request.url)
    except httpx.InvalidURL:
        return _failed(f"Refused URL {inputs['url']!r}: it is not a valid URL.", inputs)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return _failed(
            f"Refused URL {inputs['url']!r}: only http and https URLs are allowed.", inputs
        )
    try:
        slots.check_host(parsed.host, request.url, request.body, *request.headers.values())
        url = slots.fill(request.url, url_segment)
        body = slots.fill(request.body, _json_escaped if _is_json(request.body) else str)
        headers = {k: slots.fill(v) for k, v in request.headers.items()}
        for name, value in headers.items():
            check_header(name, value)
        if httpx.URL(url).host != parsed.host:
            raise RequestRefused("A secret would have changed the request's host.")
    except (SecretRefused, RequestRefused) as exc:
        return _failed(str(exc), inputs)
    if body and not _has_header(headers, "content-type"):
        headers["Content-Type"] = "application/json" if _is_json(body) else "text/plain"

    timeout = timeout_seconds(config)
    label = f"{request.method} {slots.masked(_without_query(parsed))}"
    try:
        async with asyncio.timeout(timeout):
            async with egress_client(timeout=httpx.Timeout(timeout)) as client:
                auth = None
                if config.get("auth_connector"):
                    _check_auth_host(str(config["auth_connector"]), ctx, parsed.host)
                    applied = await auth_for(config["auth_connector"], ctx, client)
                    headers.update(applied.headers)
                    auth = applied.httpx_auth
                    for name in applied.masked_headers:
                        inputs["headers"][name] = MASK
                status, data = await _send(client, request.method, url, headers, body, auth)
    except AuthError as exc:
        return _failed(str(exc), inputs)
    except (TimeoutError, httpx.TimeoutException):
        return _failed(f"{label} timed out after {timeout:g} s.", inputs)
    except httpx.HTTPError as exc:
        return _failed(f"{label} failed: {type(exc).__name__}: {exc}", inputs)

    outcome = f"HTTP {status} from {label}"
    if not 200 <= status < 300:
        return ActionResult(ok=False, say=APOLOGY, data=data, inputs=inputs, outcome=outcome)
    answer_values = {**values, "result": data}
    say = await run_bounded(
        lambda: render_text(config.get("response_template"), answer_values, slots, "answers")
    )
    return ActionResult(ok=True, say=say.strip(), data=data, inputs=inputs, outcome=outcome)


def _check_auth_host(name: str, ctx: CallContext, host: str) -> None:
    """AuthError unless the auth connector's admin allowed `host`."""
    connector = ctx.auth.get(name)
    if connector is not None and not host_allowed(host, connector.get("allowed_hosts") or ()):
        raise AuthError(
            f"The auth connector {name} may not be sent to {host}: an admin can add the host "
            "to the connector's allowed hosts."
        )


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


def _json_escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


def _is_json(body: str) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _without_query(url: httpx.URL) -> str:
    """Query strings often carry keys: the timeline shows scheme, host and path only."""
    return str(url.copy_with(query=None, fragment=None))
