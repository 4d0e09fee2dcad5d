"""Template filters of the call page's post-call partial (templates/studio/calls/_extracted.html)."""

from __future__ import annotations

from django import template

from calls.models import Call, WebhookDelivery
from calls.postcall.display import extracted_rows as _extracted_rows

register = template.Library()


@register.filter
def extracted_rows(call: Call) -> list[tuple[str, str, str]]:
    return _extracted_rows(call)


@register.filter
def webhook_attempts(call: Call) -> list[WebhookDelivery]:
    """The call's delivery attempts, newest first (the call is already the member's)."""
    return list(call.webhook_deliveries.order_by("-created_at", "-id")[:50])
