"""Studio pages of handover actions (to a person's phone, or back to a Twilio Studio flow). They
sit on the agent's Actions tab: `actions_tab_section` adds them to its list (registered in
HandoversConfig.ready()) and the pages share its action form."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_http_methods, require_POST

from agents.definitions.models import Agent
from agents.definitions.studio_views.actions import action_form_post, action_form_render
from agents.definitions.studio_views.drafts import agent_for
from agents.tenancy.access import StudioRequest, studio_view
from agents.tenancy.models import Role
from handovers.models import HandoverAction, HandoverKind
from handovers.services import (
    handover_action_create,
    handover_action_delete,
    handover_action_update,
)
from handovers.studio_forms import HandoverForm

HANDOVER_KIND_HELP = {
    HandoverKind.PHONE: "Transfer the caller to a person's phone number.",
    HandoverKind.STUDIO_FLOW: "Give the call back to the Twilio Studio flow that sent it.",
}


def actions_tab_section(agent: Agent) -> dict[str, Any]:
    """The agent's handovers and the kinds to add, for the Actions tab's template."""
    return {
        "handovers": HandoverAction.objects.filter(agent=agent),
        "handover_kinds": [(k, k.label, HANDOVER_KIND_HELP[k]) for k in HandoverKind],
    }


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def handover_create_view(request: StudioRequest, agent_id: int, kind: str) -> HttpResponse:
    agent = agent_for(request, agent_id)
    if kind not in HandoverKind.values:
        raise Http404("No such kind of handover.")
    form = HandoverForm(request.POST or None, kind=kind)
    done = action_form_post(
        request,
        agent,
        form,
        save=lambda: handover_action_create(agent=agent, **form.handover_fields()),
        saved_message=lambda handover: f"Handover {handover.name} added to the draft.",
    )
    return done or action_form_render(
        request,
        agent,
        form,
        title="New handover",
        kind_label=f"Handover → {HandoverKind(kind).label}",
        is_handover=True,
    )


@require_http_methods(["GET", "POST"])
@studio_view(write_role=Role.EDITOR)
def handover_edit_view(request: StudioRequest, agent_id: int, handover_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    handover = get_object_or_404(HandoverAction, pk=handover_id, agent=agent)
    form = HandoverForm(
        request.POST or None, kind=handover.kind, initial=HandoverForm.initial_for(handover)
    )

    def save() -> HandoverAction:
        try:
            return handover_action_update(action=handover, **form.handover_fields())
        except ValidationError:
            handover.refresh_from_db()  # the page shows the stored handover, not the attempt
            raise

    done = action_form_post(
        request,
        agent,
        form,
        save=save,
        saved_message=lambda saved: f"Handover {saved.name} saved.",
    )
    return done or action_form_render(
        request,
        agent,
        form,
        title=f"Handover {handover.name}",
        kind_label=f"Handover → {handover.get_kind_display()}",
        obj=handover,
        is_handover=True,
    )


@require_POST
@studio_view(write_role=Role.EDITOR)
def handover_delete_view(request: StudioRequest, agent_id: int, handover_id: int) -> HttpResponse:
    agent = agent_for(request, agent_id)
    handover = get_object_or_404(HandoverAction, pk=handover_id, agent=agent)
    handover_action_delete(action=handover)
    messages.success(request, f"Handover {handover.name} removed from the draft.")
    return redirect("studio:action-list", agent_id=agent.pk)
