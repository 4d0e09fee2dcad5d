"""The Actions tab: actions of every kind and handover actions (phone or back to Twilio Studio)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.definitions.studio_forms import ActionForm, HandoverForm, service_errors_to_form
from agents.definitions.studio_views.drafts import agent_for, draft_state
from agents.definitions.versions import (
    agent_action_create,
    agent_action_delete,
    agent_action_update,
)
from agents.models import ActionKind, AgentAction, AuthConnector, Role
from agents.tenancy.access import studio_view
from handovers.models import HandoverAction, HandoverKind
from handovers.services import (
    handover_action_create,
    handover_action_delete,
    handover_action_update,
)

ACTION_KIND_HELP = {
    ActionKind.STATIC_RESPONSE: "Say a fixed answer, e.g. opening hours.",
    ActionKind.API_CALL: "Call your API (with an auth connector) and say the result.",
    ActionKind.END_CALL: "Say goodbye and hang up.",
    ActionKind.SEND_SMS: "Text the caller a link or confirmation.",
}
HANDOVER_KIND_HELP = {
    HandoverKind.PHONE: "Transfer the caller to a person's phone number.",
    HandoverKind.STUDIO_FLOW: "Give the call back to the Twilio Studio flow that sent it.",
}


def _auth_connector_names(agent) -> list[str]:
    return list(
        AuthConnector.objects.filter(workspace_id=agent.workspace_id).values_list("name", flat=True)
    )


@require_GET
@studio_view(write_role=Role.EDITOR)
def action_list_view(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    return render(
        request,
        "studio/agents/actions.html",
        {
            "agent": agent,
            "actions": AgentAction.objects.filter(agent=agent),
            "handovers": HandoverAction.objects.filter(agent=agent),
            "action_kinds": [(k, k.label, ACTION_KIND_HELP[k]) for k in ActionKind],
            "handover_kinds": [(k, k.label, HANDOVER_KIND_HELP[k]) for k in HandoverKind],
            "tab": "actions",
            **draft_state(agent),
        },
    )


def _render_form(request, agent, form, *, title, kind_label, obj=None, handover=False):
    return render(
        request,
        "studio/agents/action_form.html",
        {
            "agent": agent,
            "form": form,
            "title": title,
            "kind_label": kind_label,
            "object": obj,
            "is_handover": handover,
            "tab": "actions",
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def action_create_view(request: HttpRequest, agent_id: int, kind: str) -> HttpResponse:
    agent = agent_for(request, agent_id)
    if kind not in ActionKind.values:
        raise Http404("No such kind of action.")
    form = ActionForm(request.POST or None, kind=kind, auth_connectors=_auth_connector_names(agent))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            action = agent_action_create(
                agent=agent,
                name=data["name"],
                description=data["description"],
                kind=kind,
                config=form.config(),
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Action {action.name} added to the draft.")
            return redirect("studio:action-list", agent_id=agent.pk)
    return _render_form(request, agent, form, title="New action", kind_label=ActionKind(kind).label)


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def action_edit_view(request: HttpRequest, agent_id: int, action_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    action = get_object_or_404(AgentAction, pk=action_id, agent=agent)
    form = ActionForm(
        request.POST or None,
        kind=action.kind,
        auth_connectors=_auth_connector_names(agent),
        initial=ActionForm.initial_for(action),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            agent_action_update(
                action=action,
                name=data["name"],
                description=data["description"],
                config=form.config(),
            )
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Action {action.name} saved.")
            return redirect("studio:action-list", agent_id=agent.pk)
    return _render_form(
        request,
        agent,
        form,
        title=f"Action {action.name}",
        kind_label=action.get_kind_display(),
        obj=action,
    )


@require_POST
@studio_view(write_role=Role.EDITOR)
def action_delete_view(request: HttpRequest, agent_id: int, action_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    action = get_object_or_404(AgentAction, pk=action_id, agent=agent)
    agent_action_delete(action=action)
    messages.success(request, f"Action {action.name} removed from the draft.")
    return redirect("studio:action-list", agent_id=agent.pk)


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def handover_create_view(request: HttpRequest, agent_id: int, kind: str) -> HttpResponse:
    agent = agent_for(request, agent_id)
    if kind not in HandoverKind.values:
        raise Http404("No such kind of handover.")
    form = HandoverForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        try:
            handover = handover_action_create(agent=agent, **form.handover_fields())
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Handover {handover.name} added to the draft.")
            return redirect("studio:action-list", agent_id=agent.pk)
    label = f"Handover → {HandoverKind(kind).label}"
    return _render_form(request, agent, form, title="New handover", kind_label=label, handover=True)


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def handover_edit_view(request: HttpRequest, agent_id: int, handover_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    handover = get_object_or_404(HandoverAction, pk=handover_id, agent=agent)
    form = HandoverForm(
        request.POST or None, kind=handover.kind, initial=HandoverForm.initial_for(handover)
    )
    if request.method == "POST" and form.is_valid():
        try:
            handover_action_update(action=handover, **form.handover_fields())
        except ValidationError as exc:
            handover.refresh_from_db()
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"Handover {handover.name} saved.")
            return redirect("studio:action-list", agent_id=agent.pk)
    return _render_form(
        request,
        agent,
        form,
        title=f"Handover {handover.name}",
        kind_label=f"Handover → {handover.get_kind_display()}",
        obj=handover,
        handover=True,
    )


@require_POST
@studio_view(write_role=Role.EDITOR)
def handover_delete_view(request: HttpRequest, agent_id: int, handover_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    handover = get_object_or_404(HandoverAction, pk=handover_id, agent=agent)
    handover_action_delete(action=handover)
    messages.success(request, f"Handover {handover.name} removed from the draft.")
    return redirect("studio:action-list", agent_id=agent.pk)
