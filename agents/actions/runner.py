"""Run one agent action for a call: the single entry point for both brains.

Everything that leaves this module (say, inputs, outcome, log lines) has had every secret
value, credential and access token of the call replaced by "••••••".
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import quote

from agents.actions.api_call import api_call
from agents.actions.auth import connector_secret_values
from agents.actions.context import CallContext
from agents.actions.result import ActionResult
from agents.actions.sms import send_sms
from agents.actions.templating import TemplateError, render, template_values

logger = logging.getLogger(__name__)

MASK = "••••••"
# httpx logs every request URL at INFO, and a URL template may hold a secret.
HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2")
_running_for: ContextVar[CallContext | None] = ContextVar("stellar_action_ctx", default=None)

Handler = Callable[[dict[str, Any], CallContext, dict[str, Any]], Awaitable[ActionResult]]
_T = TypeVar("_T")


async def static_response(
    action: dict[str, Any], ctx: CallContext, arguments: dict[str, Any]
) -> ActionResult:
    text = render((action.get("config") or {}).get("response"), template_values(ctx, arguments))
    return ActionResult(ok=True, say=text.strip(), outcome="Said the static response.")


async def end_call(
    action: dict[str, Any], ctx: CallContext, arguments: dict[str, Any]
) -> ActionResult:
    text = render((action.get("config") or {}).get("goodbye"), template_values(ctx, arguments))
    return ActionResult(ok=True, say=text.strip(), outcome="Ended the call.", end_call=True)


HANDLERS: dict[str, Handler] = {
    "static_response": static_response,
    "api_call": api_call,
    "end_call": end_call,
    "send_sms": send_sms,
}


async def run_action(
    action: dict[str, Any], ctx: CallContext, *, arguments: dict[str, Any] | None = None
) -> ActionResult:
    """Run `action` (one dict of a snapshot's "actions") with the LLM's tool `arguments`."""
    name = action.get("name", "")
    kind = action.get("kind", "")
    secrets = call_secrets(ctx)
    started = time.monotonic()
    handler = HANDLERS.get(kind)
    running = _running_for.set(ctx)
    try:
        if handler is None:
            result = ActionResult(ok=False, outcome=f"Unknown action kind {kind!r}.")
        else:
            result = await handler(action, ctx, dict(arguments or {}))
    except TemplateError as exc:
        result = ActionResult(ok=False, outcome=str(exc))
    except Exception as exc:  # one broken action must not end the call
        result = ActionResult(
            ok=False, outcome=f"The action failed unexpectedly ({type(exc).__name__})."
        )
        logger.error("action %s (%s) raised %s", name, kind, redact(repr(exc), secrets))
    finally:
        _running_for.reset(running)
    secrets = call_secrets(ctx)  # now including any access token fetched on the way
    result.duration_ms = int((time.monotonic() - started) * 1000)
    result.say = redact(result.say, secrets)
    result.inputs = redact(result.inputs, secrets)
    result.outcome = redact(result.outcome, secrets)
    logger.info(
        "action %s (%s) ok=%s in %d ms: %s",
        name,
        kind,
        result.ok,
        result.duration_ms,
        result.outcome,
    )
    return result


def call_secrets(ctx: CallContext) -> dict[str, str]:
    """Every value that must never be stored or logged for this call, by a descriptive key."""
    values = {f"secret:{k}": str(v) for k, v in ctx.secrets.items() if v}
    for i, value in enumerate(connector_secret_values(ctx)):
        values[f"auth:{i}"] = value
    return values


def redact(value: _T, secrets: dict[str, str]) -> _T:
    """`value` with every secret value in its strings (nested dicts/lists/tuples, keys too)
    replaced by "••••••"; longest secrets first so one containing another is fully masked."""
    forms: set[str] = set()
    for secret in secrets.values():
        if secret:
            secret = str(secret)
            # As written, as it appears in a URL, and as it appears inside a JSON string.
            forms.update((secret, quote(secret, safe=""), json.dumps(secret)[1:-1]))
    needles = sorted((f for f in forms if f), key=len, reverse=True)
    if not needles:
        return value
    redacted: _T = _redact(value, needles)  # same shape: str → str, dict → dict, …
    return redacted


def _redact(value: Any, needles: list[str]) -> Any:
    if isinstance(value, str):
        for needle in needles:
            if needle in value:
                value = value.replace(needle, MASK)
        return value
    if isinstance(value, dict):
        return {_redact(k, needles): _redact(v, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item, needles) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(item, needles) for item in value)
    return value


class SecretLogFilter(logging.Filter):
    """Masks the running action's secrets in the HTTP libraries' log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _running_for.get()
        if ctx is not None:
            message = record.getMessage()
            masked = redact(message, call_secrets(ctx))
            if masked != message:
                record.msg, record.args = masked, None
        return True


def _install_log_filter() -> None:
    for name in HTTP_LOGGERS:
        http_logger = logging.getLogger(name)
        if not any(isinstance(f, SecretLogFilter) for f in http_logger.filters):
            http_logger.addFilter(SecretLogFilter())


_install_log_filter()
