"""The Actions tab: the agent's actions of every kind. Other apps add their kinds of action to
the tab (handovers: phone transfers and the return to a Twilio Studio flow) through
`actions_tab_register`, and their pages use `action_form_post` and `action_form_render`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models
from django.forms import Form
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.config.models import AuthConnector
from agents.definitions.action_models import ActionKind, AgentAction
from agents.definitions.models import Agent
from agents.definitions.studio_forms import ActionForm
from agents.definitions.studio_views.drafts import agent_for, draft_state
from agents.definitions.versions import (
    agent_action_create,
    agent_action_delete,
    agent_action_update,
)
from agents.tenancy.access import StudioRequest, studio_view
from agents.tenancy.models import Role
from agents.tenancy.studio_forms import service_errors_to_form

ACTION_KIND_HELP = {
    ActionKind.STATIC_RESPONSE: "Say a fixed answer, e.g. opening hours.",
    ActionKind.API_CALL: "Call your API (with an auth connector) and say the result.",
    ActionKind.END_CALL: "Say goodbye and hang up.",
    ActionKind.SEND_SMS: "Text the caller a link or confirmation.",
}

# What other apps show on the tab: name → a function of the agent that returns template
# context (handovers: "handovers" and "handover_kinds"). Registered in their AppConfig.ready().
ActionsTabSection = Callable[[Agent], dict[str, Any]]
_ACTIONS_TAB_SECTIONS: dict[str, ActionsTabSection] = {}


def actions_tab_register(name: str, section: ActionsTabSection) -> None:
    """Show more kinds of action on the Actions tab (idempotent per name)."""
    _ACTIONS_TAB_SECTIONS[name] = section


def _auth_connector_names(agent: Agent) -> list[str]:
    return list(
        AuthConnector.objects.filter(workspace_id=agent.workspace_id).values_list("name", flat=True)
    )


@require_GET
@studio_view(write_role=Role.EDITOR)
def action_list_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    context: dict[str, Any] = {
        "agent": agent,
        "actions": AgentAction.objects.filter(agent=agent),
        "action_kinds": [(k, k.label, ACTION_KIND_HELP[k]) for k in ActionKind],
    }
    for section in _ACTIONS_TAB_SECTIONS.values():
        context.update(section(agent))
    return render(
        request,
        "studio/agents/actions.html",
        {**context, "tab": "actions", **draft_state(agent)},
    )


Saved = TypeVar("Saved", bound=models.Model)


def action_form_post(
    request: StudioRequest,
    agent: Agent,
    form: Form,
    *,
    save: Callable[[], Saved],
    saved_message: Callable[[Saved], str],
) -> HttpResponse | None:
    """On a valid POST, `save()` the action (a service's ValidationError shows on the form) and
    go back to the Actions tab; None when the form is to be shown (again)."""
    if request.method == "POST" and form.is_valid():
        try:
            saved = save()
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, saved_message(saved))
            return redirect("studio:action-list", agent_id=agent.pk)
    return None


def action_form_render(
    request: StudioRequest,
    agent: Agent,
    form: Form,
    *,
    title: str,
    kind_label: str,
    obj: models.Model | None = None,
    is_handover: bool = False,
) -> HttpResponse:
    """The page of one action of any kind (400 when the form has errors)."""
    return render(
        request,
        "studio/agents/action_form.html",
        {
            "agent": agent,
            "form": form,
            "title": title,
            "kind_label": kind_label,
            "object": obj,
            "is_handover": is_handover,
            "tab": "actions",
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def action_create_view(request: StudioRequest, agent_id: int, kind: str) -> HttpResponse:
    agent = agent_for(request, agent_id)
    if kind not in ActionKind.values:
        raise Http404("No such kind of action.")
    form = ActionForm(request.POST or None, kind=kind, auth_connectors=_auth_connector_names(agent))
    done = action_form_post(
        request,
        agent,
        form,
        save=lambda: agent_action_create(agent=agent, kind=kind, **form.action_fields()),
        saved_message=lambda action: f"Action {action.name} added to the draft.",
    )
    return done or action_form_render(
        request, agent, form, title="New action", kind_label=ActionKind(kind).label
    )


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def action_edit_view(request: StudioRequest, agent_id: int, action_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    action = get_object_or_404(AgentAction, pk=action_id, agent=agent)
    form = ActionForm(
        request.POST or None,
        kind=action.kind,
        auth_connectors=_auth_connector_names(agent),
        initial=ActionForm.initial_for(action),
    )
    done = action_form_post(
        request,
        agent,
        form,
        save=lambda: agent_action_update(action=action, **form.action_fields()),
        saved_message=lambda saved: f"Action {saved.name} saved.",
    )
    return done or action_form_render(
        request,
        agent,
        form,
        title=f"Action {action.name}",
        kind_label=action.get_kind_display(),
        obj=action,
    )


@require_POST
@studio_view(write_role=Role.EDITOR)
def action_delete_view(request: StudioRequest, agent_id: int, action_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    action = get_object_or_404(AgentAction, pk=action_id, agent=agent)
    agent_action_delete(action=action)
    messages.success(request, f"Action {action.name} removed from the draft.")
    return redirect("studio:action-list", agent_id=agent.pk)
