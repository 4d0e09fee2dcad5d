"""Reads of webhook deliveries, always scoped to a workspace."""

from __future__ import annotations

from django.db.models import QuerySet

from agents.models import Environment, Workspace
from calls.models import WebhookDelivery


def delivery_list(
    *, workspace: Workspace, environment: Environment | None = None, call_id: int | None = None
) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(workspace=workspace)
    if environment is not None:
        deliveries = deliveries.filter(environment=environment)
    if call_id is not None:
        deliveries = deliveries.filter(call_id=call_id)
    return deliveries.select_related("call").order_by("-created_at", "-id")
