"""The send-text-message action: through the call session's `ctx.send_sms(to, body)`.

The recipient may come from the caller (a tool argument), so it must pass the destination
policy (`stellar.kernel.phone.check_destination`): an allowed country, never a premium-rate,
shared-cost, personal or UAN number. Secrets are never texted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.exceptions import ValidationError

from agents.actions.context import CallContext
from agents.actions.result import ActionResult
from agents.actions.secret_slots import SecretSlots
from agents.actions.template_limits import run_bounded
from agents.actions.templating import compile_template, render_text, secret_slots, template_values
from stellar.kernel.phone import check_destination

DEFAULT_TO = "{{ call.from }}"
SEND_TIMEOUT_SECONDS = 15.0


def _rendered(
    to_source: str, body_source: str, values: dict[str, Any], slots: SecretSlots
) -> tuple[str, str]:
    compile_template(to_source)
    compile_template(body_source)
    to = render_text(to_source, values, slots, "text messages").strip()
    body = render_text(body_source, values, slots, "text messages").strip()
    return to, body


async def send_sms(
    action: dict[str, Any], ctx: CallContext, arguments: dict[str, Any]
) -> ActionResult:
    config = action.get("config") or {}
    to_source = config.get("to") or DEFAULT_TO
    body_source = config.get("body") or ""
    slots = secret_slots(ctx)
    values = template_values(ctx, arguments, slots)
    to, body = await run_bounded(lambda: _rendered(to_source, body_source, values, slots))
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
        to = check_destination(to)
    except ValidationError as exc:
        return ActionResult(ok=False, inputs=inputs, outcome=f"Refused: {exc.messages[0]}")
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
