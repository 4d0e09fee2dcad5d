"""The send-text-message action: through the call session's `ctx.send_sms(to, body)`."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.actions.context import CallContext
from agents.actions.result import ActionResult
from agents.actions.templating import compile_template, render, template_values

DEFAULT_TO = "{{ call.from }}"
SEND_TIMEOUT_SECONDS = 15.0


async def send_sms(
    action: dict[str, Any], ctx: CallContext, arguments: dict[str, Any]
) -> ActionResult:
    config = action.get("config") or {}
    to_source = config.get("to") or DEFAULT_TO
    body_source = config.get("body") or ""
    compile_template(to_source)
    compile_template(body_source)
    values = template_values(ctx, arguments)
    to = render(to_source, values).strip()
    body = render(body_source, values).strip()
    inputs = {"to": to, "body": body}
    if ctx.send_sms is None:
        return ActionResult(
            ok=False, inputs=inputs, outcome="Text messages cannot be sent on this call."
        )
    if not to:
        return ActionResult(ok=False, inputs=inputs, outcome="No number to send the text to.")
    if not body:
        return ActionResult(ok=False, inputs=inputs, outcome="The text message is empty.")
    try:
        async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
            sid = await ctx.send_sms(to, body)
    except TimeoutError:
        return ActionResult(ok=False, inputs=inputs, outcome=f"Text to {to} timed out.")
    except Exception as exc:  # the provider's error, whatever its type, is the outcome
        return ActionResult(ok=False, inputs=inputs, outcome=f"Text to {to} failed: {exc}".strip())
    return ActionResult(
        ok=True, data={"sid": sid, "to": to}, inputs=inputs, outcome=f"Text sent to {to}."
    )
