"""Studio: an environment's webhook (URL, on/off, signing secret shown once, rotate, remove).

The secret is rendered only in the response to the request that generated it (never put in
a message, which would sit in the session), and never again.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from agents.config.models import Environment
from agents.config.studio_views import _back, _page
from agents.config.webhooks import webhook_delete, webhook_get, webhook_rotate_secret, webhook_set
from agents.tenancy.access import StudioRequest, studio_view
from agents.tenancy.models import Role

TAB = "webhooks"


def _environment(request: StudioRequest, environment_id: int) -> Environment:
    return get_object_or_404(Environment, pk=environment_id, workspace=request.studio.workspace)


@require_POST
@studio_view(write_role=Role.ADMIN)
def webhook_set_view(request: StudioRequest, environment_id: int) -> HttpResponse:
    environment = _environment(request, environment_id)
    try:
        webhook, secret = webhook_set(
            workspace=request.studio.workspace,
            environment=environment,
            url=request.POST.get("url", ""),
            enabled=request.POST.get("enabled") == "on",
        )
    except ValidationError as exc:
        messages.error(request, f"{environment}: {' '.join(exc.messages)}")
        return _back(TAB)
    if secret:
        return _page(request, TAB, new_secret=(environment, secret))
    messages.success(request, f"{environment} webhook saved: {webhook.url}.")
    return _back(TAB)


@require_POST
@studio_view(write_role=Role.ADMIN)
def webhook_rotate_view(request: StudioRequest, environment_id: int) -> HttpResponse:
    environment = _environment(request, environment_id)
    webhook = webhook_get(workspace=request.studio.workspace, environment=environment)
    if webhook is None:
        messages.error(request, f"{environment} has no webhook.")
        return _back(TAB)
    return _page(request, TAB, new_secret=(environment, webhook_rotate_secret(webhook=webhook)))


@require_POST
@studio_view(write_role=Role.ADMIN)
def webhook_delete_view(request: StudioRequest, environment_id: int) -> HttpResponse:
    environment = _environment(request, environment_id)
    webhook = webhook_get(workspace=request.studio.workspace, environment=environment)
    if webhook is not None:
        webhook_delete(webhook=webhook)
        messages.success(request, f"{environment} webhook removed; calls send nothing now.")
    return _back(TAB)
