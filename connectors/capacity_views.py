"""The connector page's capacity card: live calls against the caps, today's overflow, the media
processes' load (polled by htmx), and the form that sets the caps and the overflow rule."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from agents.models import Role
from agents.tenancy.access import StudioRequest, studio_view
from agents.tenancy.studio_forms import service_errors_to_form
from connectors.capacity import (
    DEFAULT_OVERFLOW_MESSAGE,
    capacity_status_or_none,
    connector_capacity_set,
    workspace_cap,
)
from connectors.capacity_forms import CapacityForm
from connectors.models import PhoneConnector
from connectors.studio_views import studio_connector

CARD = "studio/connectors/_capacity_card.html"


def capacity_form(connector: PhoneConnector, *, can_admin: bool, data: Any = None) -> CapacityForm:
    initial = {
        "max_concurrent_calls": connector.max_concurrent_calls,
        "workspace_max_concurrent_calls": workspace_cap(connector.workspace_id),
        "overflow_action": connector.overflow_action,
        "overflow_number": connector.overflow_number,
        "overflow_message": connector.overflow_message,
    }
    return CapacityForm(data, initial=initial, can_admin=can_admin, prefix="capacity")


def capacity_card_context(
    connector: PhoneConnector, *, can_write: bool, can_admin: bool, form: CapacityForm | None = None
) -> dict[str, Any]:
    return {
        "connector": connector,
        "capacity": capacity_status_or_none(connector),
        "capacity_form": form or capacity_form(connector, can_admin=can_admin),
        "capacity_can_write": can_write,
        "default_overflow_message": DEFAULT_OVERFLOW_MESSAGE,
    }


@require_GET
@studio_view(write_role=Role.EDITOR)
def connector_capacity_status_view(request: StudioRequest, connector_id: int) -> HttpResponse:
    """htmx: the live numbers only (polled every few seconds)."""
    connector = studio_connector(request, connector_id)
    return render(
        request,
        "studio/connectors/_capacity_status.html",
        {"connector": connector, "capacity": capacity_status_or_none(connector)},
    )


@require_POST
@studio_view(write_role=Role.EDITOR)
def connector_capacity_view(request: StudioRequest, connector_id: int) -> HttpResponse:
    """Save caps and the overflow rule; with htmx the card is re-rendered in place."""
    connector = studio_connector(request, connector_id)
    can_admin = request.studio.can_admin
    form = capacity_form(connector, can_admin=can_admin, data=request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            connector_capacity_set(
                connector=connector,
                max_concurrent_calls=data["max_concurrent_calls"],
                overflow_action=data["overflow_action"],
                overflow_number=data["overflow_number"],
                overflow_message=data["overflow_message"],
                workspace_max_concurrent_calls=data["workspace_max_concurrent_calls"],
                set_workspace_cap=can_admin,
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            if not request.htmx:
                messages.success(request, "Capacity saved.")
                return redirect("studio:connector-detail", connector_id=connector.pk)
            form = capacity_form(connector, can_admin=can_admin)
    context = capacity_card_context(connector, can_write=True, can_admin=can_admin, form=form)
    template = CARD if request.htmx else "studio/connectors/capacity.html"
    return render(request, template, context, status=200 if not form.errors else 400)
