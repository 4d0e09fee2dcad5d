"""Run one agent action for a call: the single entry point for both brains.

Everything that leaves this module (say, inputs, outcome, log lines) has had every secret
value, credential and access token of the call replaced by "••••••".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from agents.actions.api_call import api_call
from agents.actions.auth import connector_secret_values
from agents.actions.context import CallContext
from agents.actions.redaction import MASK, redact
from agents.actions.result import ActionResult, spoken_length
from agents.actions.sms import send_sms
from agents.actions.template_limits import TemplateLimitError, run_bounded
from agents.actions.templating import TemplateError, render_text, secret_slots, template_values

logger = logging.getLogger(__name__)

# httpx logs every request URL at INFO, and a URL template may hold a secret.
HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2")
_running_for: ContextVar[CallContext | None] = ContextVar("stellar_action_ctx", default=None)

Handler = Callable[[dict[str, Any], CallContext, dict[str, Any]], Awaitable[ActionResult]]
__all__ = ["MASK", "call_secrets", "redact", "run_action"]


async def _spoken(
    action: dict[str, Any], ctx: CallContext, arguments: dict[str, Any], key: str
) -> str:
    """The action's `key` template rendered off the event loop, refused if it holds a secret."""
    slots = secret_slots(ctx)
    values = template_values(ctx, arguments, slots)
    source = (action.get("config") or {}).get(key)
    text = await run_bounded(lambda: render_text(source, values, slots, "spoken text"))
    return text.strip()


async def static_response(
    action: dict[str, Any], ctx: CallContext, arguments: dict[str, Any]
) -> ActionResult:
    text = await _spoken(action, ctx, arguments, "response")
    return ActionResult(ok=True, say=text, outcome="Said the static response.")


async def end_call(
    action: dict[str, Any], ctx: CallContext, arguments: dict[str, Any]
) -> ActionResult:
    text = await _spoken(action, ctx, arguments, "goodbye")
    return ActionResult(ok=True, say=text, outcome="Ended the call.", end_call=True)


# Kinds with an effect outside the call; a dry run (agent tests) only says what it would do.
SIDE_EFFECT_KINDS = {"api_call": "make the API call", "send_sms": "send the text message"}


def _dry_run(action: dict[str, Any]) -> ActionResult:
    doing = SIDE_EFFECT_KINDS[action.get("kind", "")]
    return ActionResult(ok=True, outcome=f"Dry run: would {doing} ({action.get('name', '')}).")


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
        elif ctx.dry_run and kind in SIDE_EFFECT_KINDS:
            result = _dry_run(action)
        else:
            result = await handler(action, ctx, dict(arguments or {}))
    except (TemplateError, TemplateLimitError) as exc:
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
    result.say, shortened_from = spoken_length(redact(result.say, secrets))
    if shortened_from:
        result.outcome += f" (The answer was cut from {shortened_from:,} characters.)"
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
