"""Studio pages for phone connectors: list, add/edit, webhook + console steps, the Twilio
numbers of the account (connect / disconnect) and diagnostics."""

from __future__ import annotations

from typing import TypedDict

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.models import Role
from agents.tenancy.access import StudioRequest, studio_view
from agents.tenancy.studio_forms import service_errors_to_form
from connectors import numbers
from connectors.models import PhoneConnector
from connectors.selectors import connector_list, connector_resolve_version, rollout_change_list
from connectors.services import (
    ROLLOUT_FIELDS,
    connector_create,
    connector_delete,
    connector_rollout_set,
    connector_update,
)
from connectors.studio_forms import ConnectorForm, RolloutForm, VersionPickerForm

FORM_FIELDS = ("name", "agent", "environment", "version_mode", "pinned_version")


ROLLOUT_CHANGES_SHOWN = 20


def studio_connector(request: StudioRequest, connector_id: int) -> PhoneConnector:
    """The workspace's connector, or 404 (the connector pages, rollout and capacity)."""
    return get_object_or_404(
        PhoneConnector.objects.select_related(
            "workspace", "agent", "environment", "pinned_version", "candidate_version"
        ),
        pk=connector_id,
        workspace=request.studio.workspace,
    )


class Answering(TypedDict):
    """Whether (and with which version) a connector answers calls now, for the templates."""

    ok: bool
    label: str
    reason: str


def _answering(connector: PhoneConnector) -> Answering:
    resolution = connector_resolve_version(connector=connector)
    return {
        "ok": resolution.ok,
        "label": numbers.answering_label(resolution),
        "reason": resolution.reason,
    }


@require_GET
@studio_view(write_role=Role.EDITOR)
def connector_list_view(request: StudioRequest) -> HttpResponse:
    rows = [(c, _answering(c)) for c in connector_list(workspace=request.studio.workspace)]
    return render(request, "studio/connectors/list.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def connector_create_view(request: StudioRequest) -> HttpResponse:
    workspace = request.studio.workspace
    initial = {"kind": "twilio", "version_mode": "published"}
    if request.GET.get("agent"):
        initial["agent"] = request.GET["agent"]
    form = ConnectorForm(request.POST or None, workspace=workspace, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            connector = connector_create(
                workspace=workspace,
                twilio_account_sid=data["twilio_account_sid"],
                twilio_auth_token=data["twilio_auth_token"],
                actor_role=request.studio.role,
                **{f: data[f] for f in FORM_FIELDS},
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Connector {connector.name} created.")
            return redirect("studio:connector-detail", connector_id=connector.pk)
    return render(request, "studio/connectors/form.html", {"form": form, "connector": None})


@require_GET
@studio_view(write_role=Role.EDITOR)
def connector_version_options(request: StudioRequest) -> HttpResponse:
    """htmx: the version picker for the agent just chosen in the connector form."""
    form = VersionPickerForm(workspace=request.studio.workspace, agent_id=request.GET.get("agent"))
    return render(request, "studio/connectors/_version_picker.html", {"form": form})


def _rollout_form(
    request: StudioRequest, connector: PhoneConnector, data: object = None
) -> RolloutForm:
    initial = {f: getattr(connector, f) for f in ROLLOUT_FIELDS}
    return RolloutForm(
        data,
        workspace=request.studio.workspace,
        agent_id=connector.agent_id,
        initial=initial,
        prefix="rollout",
    )


def _detail_page(
    request: StudioRequest, connector: PhoneConnector, *, rollout_form: RolloutForm | None = None
) -> HttpResponse:
    return render(
        request,
        "studio/connectors/detail.html",
        {
            "connector": connector,
            "answering": _answering(connector),
            "public_url": numbers.public_url_check(),
            "tab": "setup",
            "rollout_form": rollout_form or _rollout_form(request, connector),
            "rollout_changes": rollout_change_list(connector=connector)[:ROLLOUT_CHANGES_SHOWN],
        },
        status=400 if rollout_form is not None else 200,
    )


@require_GET
@studio_view(write_role=Role.EDITOR)
def connector_detail_view(request: StudioRequest, connector_id: int) -> HttpResponse:
    return _detail_page(request, studio_connector(request, connector_id))


@require_POST
@studio_view(write_role=Role.EDITOR)
def connector_rollout_view(request: StudioRequest, connector_id: int) -> HttpResponse:
    """Save the rollout from the connector page; a refused change re-renders it with errors."""
    connector = studio_connector(request, connector_id)
    form = _rollout_form(request, connector, request.POST)
    if form.is_valid():
        try:
            connector_rollout_set(
                connector=connector,
                changed_by=request.user,
                **{f: form.cleaned_data[f] for f in ROLLOUT_FIELDS},
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Rollout of {connector.name} saved.")
            url = reverse("studio:connector-detail", args=[connector.pk])
            return redirect(f"{url}#rollout")
    return _detail_page(request, connector, rollout_form=form)


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def connector_edit_view(request: StudioRequest, connector_id: int) -> HttpResponse:
    connector = studio_connector(request, connector_id)
    initial = {f: getattr(connector, f) for f in FORM_FIELDS}
    initial.update(
        kind=connector.kind,
        twilio_account_sid=connector.twilio_account_sid,
        enabled=connector.enabled,
        agent=connector.agent_id,
        pinned_version=connector.pinned_version_id,
    )
    form = ConnectorForm(
        request.POST or None, workspace=request.studio.workspace, initial=initial, editing=True
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            connector_update(
                connector=connector,
                twilio_auth_token=data["twilio_auth_token"] or None,
                twilio_account_sid=data["twilio_account_sid"],
                enabled=data["enabled"],
                actor_role=request.studio.role,
                **{f: data[f] for f in FORM_FIELDS},
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Connector {connector.name} saved.")
            return redirect("studio:connector-detail", connector_id=connector.pk)
    return render(
        request,
        "studio/connectors/form.html",
        {"form": form, "connector": connector, "tab": "settings"},
    )


@require_POST
@studio_view(write_role=Role.EDITOR)
def connector_delete_view(request: StudioRequest, connector_id: int) -> HttpResponse:
    connector = studio_connector(request, connector_id)
    try:
        connector_delete(connector=connector)
    except ProtectedError:
        messages.error(request, "This connector is still referenced and cannot be deleted.")
        return redirect("studio:connector-detail", connector_id=connector.pk)
    messages.success(request, f"Connector {connector.name} deleted.")
    return redirect("studio:connector-list")


@require_GET
@studio_view(write_role=Role.EDITOR)
def connector_numbers_view(request: StudioRequest, connector_id: int) -> HttpResponse:
    connector = studio_connector(request, connector_id)
    problem, rows = "", []
    try:
        rows = numbers.number_list(connector=connector)
    except numbers.TwilioProblem as exc:
        problem = str(exc)
    return render(
        request,
        "studio/connectors/numbers.html",
        {"connector": connector, "numbers": rows, "problem": problem, "tab": "numbers"},
    )


def _number_result(
    request: StudioRequest,
    connector: PhoneConnector,
    sid: str,
    number: numbers.NumberView | None,
    *,
    ok: str = "",
    error: str = "",
) -> HttpResponse:
    """The number's row for htmx, or back to the numbers page with a message."""
    if request.htmx:
        if number is None:  # could not even read it: keep the row, show the error
            try:
                number = numbers.number_get(connector=connector, sid=sid)
            except numbers.TwilioProblem as exc:
                error = f"{error} {exc}" if error else str(exc)
        return render(
            request,
            "studio/connectors/_number_row.html",
            {"connector": connector, "number": number, "ok": ok, "error": error, "sid": sid},
        )
    if ok:
        messages.success(request, ok)
    if error:
        messages.error(request, error)
    return redirect("studio:connector-numbers", connector_id=connector.pk)


@require_POST
@studio_view(write_role=Role.EDITOR)
def number_connect_view(request: StudioRequest, connector_id: int, sid: str) -> HttpResponse:
    connector = studio_connector(request, connector_id)
    confirmed = request.POST.get("confirm") == "yes"
    try:
        number = numbers.number_connect(connector=connector, sid=sid, confirmed=confirmed)
    except (numbers.NeedsConfirmation, numbers.TwilioProblem) as exc:
        return _number_result(request, connector, sid, None, error=str(exc))
    ok = f"{number.phone_number} now sends its calls to {connector.name} (HTTP POST)."
    return _number_result(request, connector, sid, number, ok=ok)


@require_POST
@studio_view(write_role=Role.EDITOR)
def number_disconnect_view(request: StudioRequest, connector_id: int, sid: str) -> HttpResponse:
    connector = studio_connector(request, connector_id)
    try:
        number = numbers.number_disconnect(connector=connector, sid=sid)
    except numbers.TwilioProblem as exc:
        return _number_result(request, connector, sid, None, error=str(exc))
    ok = f"{number.phone_number} no longer calls this connector."
    return _number_result(request, connector, sid, number, ok=ok)


@require_GET
@studio_view(write_role=Role.EDITOR)
def connector_diagnostics_view(request: StudioRequest, connector_id: int) -> HttpResponse:
    connector = studio_connector(request, connector_id)
    diagnosis = numbers.connector_diagnostics(
        connector=connector, number_sid=request.GET.get("number", "")
    )
    return render(
        request,
        "studio/connectors/diagnostics.html",
        {"connector": connector, "diagnosis": diagnosis, "tab": "diagnostics"},
    )
