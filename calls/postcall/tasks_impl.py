"""What the post-call Celery tasks (calls.tasks) do, as plain functions."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from calls.models import Call
from calls.postcall.services import call_extract, webhook_delivery_start
from calls.postcall.webhooks import (
    attempt_delivery,
    call_ended_delivery_id,
    next_attempt_number,
    webhook_for,
)

logger = logging.getLogger(__name__)


def process_ended_call(*, call_id: int) -> tuple[uuid.UUID, datetime] | None:
    """Extract, then say whether (and under which delivery id) to send `call.ended`."""
    try:
        call = call_extract(call_id=call_id)
    except Call.DoesNotExist:
        logger.warning("post-call: call %s no longer exists", call_id)
        return None
    return webhook_delivery_start(call=call)


def deliver(
    *, call_id: int, delivery_id: str, attempt: int, window_start: str, manual: bool
) -> datetime | None:
    """One delivery attempt; when to try again (None: delivered, given up, or already done)."""
    call = Call.objects.select_related("environment").filter(pk=call_id).first()
    if call is None:
        logger.warning("webhook: call %s no longer exists", call_id)
        return None
    result = attempt_delivery(
        call=call,
        delivery_id=uuid.UUID(delivery_id),
        attempt=attempt,
        window_start=datetime.fromisoformat(window_start),
        manual=manual,
    )
    return result.retry_at


def resend_start(*, call: Call) -> tuple[uuid.UUID, int, datetime]:
    """The event's delivery id (a new one if it was never sent), the next attempt number and
    the start of a new retry window; a ValidationError when there is nowhere to send it."""
    if webhook_for(call) is None:
        raise ValidationError(
            "The call's environment has no enabled webhook; add one in Environments → Webhooks."
        )
    delivery_id = call_ended_delivery_id(call) or uuid.uuid4()
    return delivery_id, next_attempt_number(delivery_id=delivery_id), timezone.now()
