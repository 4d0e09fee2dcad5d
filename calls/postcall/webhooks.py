"""`call.ended` webhooks to a team's own systems: the payload, its signature, and one
delivery attempt at a time (the Celery task in calls.tasks schedules the retries).

Every attempt is a WebhookDelivery row. The attempts of one event share a delivery id, sent
in the `Stellar-Delivery-Id` header, so a receiver that got it twice (a retry after a lost
response, a re-send by hand) can keep one. The body is signed with the environment's secret:
`Stellar-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (docs/webhooks.md).
Requests go through the egress policy (stellar.kernel.egress) and never follow redirects.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from agents.config.webhooks import webhook_secret
from agents.models import EnvironmentWebhook
from calls.models import Call, DeliveryStatus, Recording, WebhookDelivery
from stellar.kernel.egress import EgressRefused, egress_client
from stellar.kernel.metrics import OUTBOUND_WEBHOOK_ATTEMPTS

logger = logging.getLogger(__name__)

EVENT_CALL_ENDED = "call.ended"
SIGNATURE_HEADER = "Stellar-Signature"
DELIVERY_HEADER = "Stellar-Delivery-Id"
EVENT_HEADER = "Stellar-Event"
USER_AGENT = "Stellar-Webhooks/1"
# Client errors the receiver may stop making on its own: a timeout and "slow down".
RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})
MAX_ERROR_CHARS = 500


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Stellar-Signature` header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def _absolute(path: str) -> str:
    return f"{settings.STELLAR_PUBLIC_URL}{path}"


def call_ended_payload(*, call: Call, delivery_id: uuid.UUID) -> dict[str, Any]:
    """What a receiver gets about a finished call; the recording is a Studio link (members
    of the workspace only), never the audio itself."""
    try:
        recording: Recording | None = call.recording
    except Recording.DoesNotExist:
        recording = None
    return {
        "id": str(delivery_id),
        "event": EVENT_CALL_ENDED,
        "created_at": timezone.now().isoformat(),
        "data": {
            "call": {
                "id": call.pk,
                "call_sid": call.call_sid,
                "from": call.from_number,
                "to": call.to_number,
                "direction": call.direction,
                "source": call.source,
                "status": call.status,
                "outcome": call.outcome,
                "transferred_to": call.transferred_to,
                "agent": {"id": call.agent_id, "version": call.version_label},
                "environment": call.environment.kind if call.environment else None,
                "started_at": call.created_at.isoformat(),
                "answered_at": call.answered_at.isoformat() if call.answered_at else None,
                "ended_at": call.ended_at.isoformat() if call.ended_at else None,
                "duration_seconds": call.duration_seconds,
                "summary": call.summary,
                "url": _absolute(reverse("studio:call-detail", args=[call.pk])),
            },
            "transcript": [
                {"speaker": s.speaker, "text": s.text, "start_ms": s.start_ms, "end_ms": s.end_ms}
                for s in call.segments.all()
            ],
            "extracted": call.extracted or {},
            "extracted_by": call.extracted_by or None,
            "recording": (
                {
                    "url": _absolute(reverse("studio:call-recording", args=[call.pk])),
                    "duration_ms": recording.duration_ms,
                }
                if recording is not None
                else None
            ),
        },
    }


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_seconds: float
    window_seconds: float

    @classmethod
    def configured(cls) -> RetryPolicy:
        return cls(
            base_seconds=settings.STELLAR_WEBHOOK_RETRY_BASE_SECONDS,
            max_seconds=settings.STELLAR_WEBHOOK_RETRY_MAX_SECONDS,
            window_seconds=settings.STELLAR_WEBHOOK_RETRY_WINDOW_SECONDS,
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1, 2, ...): doubling."""
        return float(min(self.base_seconds * 2 ** (attempt - 1), self.max_seconds))

    def next_retry(self, *, attempt: int, window_start: datetime, now: datetime) -> datetime | None:
        """When to try again, or None once that would fall outside the retry window."""
        at = now + timedelta(seconds=self.delay(attempt))
        return at if at <= window_start + timedelta(seconds=self.window_seconds) else None


@dataclass(frozen=True)
class Attempt:
    """The outcome of one attempt, for the task that decides what comes next."""

    delivery: WebhookDelivery | None  # None: this attempt had already been made
    retry_at: datetime | None = None


def webhook_for(call: Call) -> EnvironmentWebhook | None:
    """The enabled webhook of the call's environment (None: nothing to send)."""
    if call.environment_id is None:
        return None
    return (
        EnvironmentWebhook.objects.filter(
            environment_id=call.environment_id,
            environment__workspace_id=call.workspace_id,
            enabled=True,
        )
        .exclude(url="")
        .first()
    )


def call_ended_delivery_id(call: Call) -> uuid.UUID | None:
    """The delivery id of the call's `call.ended` event, if it was ever sent."""
    first: uuid.UUID | None = (
        WebhookDelivery.objects.filter(call=call, event=EVENT_CALL_ENDED)
        .order_by("created_at", "id")
        .values_list("delivery_id", flat=True)
        .first()
    )
    return first


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> httpx.Response:
    async def send() -> httpx.Response:
        async with egress_client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0))) as c:
            return await c.post(url, content=body, headers=headers)

    return async_to_sync(send)()


def attempt_delivery(
    *,
    call: Call,
    delivery_id: uuid.UUID,
    attempt: int,
    window_start: datetime,
    manual: bool = False,
    policy: RetryPolicy | None = None,
) -> Attempt:
    """POST the event once and log it as a delivery row. Safe to run twice for the same
    attempt (a redelivered task): the second run finds the row and sends nothing."""
    webhook = webhook_for(call)
    policy = policy or RetryPolicy.configured()
    url = webhook.url if webhook is not None else ""
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                workspace_id=call.workspace_id,
                call=call,
                environment_id=call.environment_id,
                event=EVENT_CALL_ENDED,
                delivery_id=delivery_id,
                attempt=attempt,
                manual=manual,
                url=url[:500],
            )
    except IntegrityError:
        return Attempt(delivery=None)
    if webhook is None:
        delivery.status = DeliveryStatus.FAILED
        delivery.error = "The environment has no enabled webhook any more."
        delivery.save(update_fields=["status", "error"])
        return Attempt(delivery=delivery)
    body = json.dumps(
        call_ended_payload(call=call, delivery_id=delivery_id), separators=(",", ":")
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: str(delivery_id),
        EVENT_HEADER: EVENT_CALL_ENDED,
        SIGNATURE_HEADER: sign(webhook_secret(webhook), int(time.time()), body),
    }
    started = time.monotonic()
    retryable = True
    try:
        response = _post(url, body, headers, settings.STELLAR_WEBHOOK_TIMEOUT_SECONDS)
    except EgressRefused as exc:
        delivery.error, retryable = str(exc), False
    except httpx.HTTPError as exc:
        delivery.error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    else:
        code = response.status_code
        delivery.response_code = code
        if 200 <= code < 300:
            delivery.status = DeliveryStatus.SUCCEEDED
        elif 300 <= code < 400:
            delivery.error, retryable = "Redirects are not followed; use the final URL.", False
        else:
            delivery.error = f"HTTP {code}: {response.text[:200]}"[:MAX_ERROR_CHARS]
            retryable = code >= 500 or code in RETRYABLE_CLIENT_ERRORS
    delivery.duration_ms = int((time.monotonic() - started) * 1000)
    retry_at = None
    if delivery.status != DeliveryStatus.SUCCEEDED:
        if retryable:
            retry_at = policy.next_retry(
                attempt=attempt, window_start=window_start, now=timezone.now()
            )
        delivery.status = DeliveryStatus.RETRYING if retry_at else DeliveryStatus.FAILED
        delivery.next_retry_at = retry_at
        logger.warning(
            "webhook %s attempt %s for call %s: %s%s",
            delivery_id,
            attempt,
            call.pk,
            delivery.error,
            f"; retrying at {retry_at.isoformat()}" if retry_at else "",
        )
    delivery.save(
        update_fields=["status", "response_code", "error", "duration_ms", "next_retry_at"]
    )
    OUTBOUND_WEBHOOK_ATTEMPTS.labels(delivery.status).inc()
    return Attempt(delivery=delivery, retry_at=retry_at)


def next_attempt_number(*, delivery_id: uuid.UUID) -> int:
    last = (
        WebhookDelivery.objects.filter(delivery_id=delivery_id)
        .order_by("-attempt")
        .values_list("attempt", flat=True)
        .first()
    )
    return (last or 0) + 1
