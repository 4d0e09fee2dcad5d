"""Studio pages of Listen & intervene and the Playground (workspace-scoped like Studio)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from agents.models import Agent, AgentVersion, Environment, EnvironmentKind, Role
from agents.tenancy.access import StudioRequest, studio_view
from calls.live.listen import call_handover_actions
from calls.live.playground import playground_session_create, playground_token_for
from calls.models import Call

DRAFT = "draft"


@require_GET
@studio_view(write_role=Role.EDITOR)
def listen_view(request: StudioRequest, call_id: int) -> HttpResponse:
    call = (
        Call.objects.select_related("agent", "connector")
        .filter(workspace=request.studio.workspace, pk=call_id)
        .first()
    )
    if call is None:
        raise Http404("No such call in this workspace.")
    return render(
        request,
        "live/listen.html",
        {
            "call": call,
            "handover_actions": call_handover_actions(call),
            "can_take_over": request.studio.can_edit,
            "ws_path": f"/v1/live/calls/{call.pk}",
        },
    )


class PlaygroundStartForm(forms.Form):
    environment = forms.ModelChoiceField(queryset=Environment.objects.none(), empty_label=None)
    version = forms.ChoiceField(choices=[(DRAFT, "Draft")])

    def __init__(self, *args: Any, agent: Agent, may_use_production: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # self.fields holds copies of the fields declared above (casts: their declared types).
        environment = cast(forms.ModelChoiceField[Environment], self.fields["environment"])
        environments = Environment.objects.filter(workspace_id=agent.workspace_id)
        if not may_use_production:  # Production is the admins' (playground_role_for)
            environments = environments.exclude(kind=EnvironmentKind.PRODUCTION)
        environment.queryset = environments.order_by("pk")
        # Trying things out happens in Development; otherwise the first (often the only) one.
        default = environments.filter(kind=EnvironmentKind.DEVELOPMENT).first()
        default = default or environment.queryset.first()
        if default is not None and "environment" not in self.initial:
            self.initial["environment"] = default.pk
        self.versions = {str(v.pk): v for v in AgentVersion.objects.filter(agent=agent)}
        version = cast(forms.ChoiceField, self.fields["version"])
        version.choices = [(DRAFT, "Draft (unpublished changes included)")] + [
            (key, f"{v.label} · {v.display_status}") for key, v in self.versions.items()
        ]

    def chosen_version(self) -> AgentVersion | None:
        return self.versions.get(self.cleaned_data["version"])


@require_GET
@studio_view(write_role=Role.EDITOR)
def playground_view(request: StudioRequest, agent_id: int) -> HttpResponse:
    if not request.studio.can_edit:  # a session runs the agent: its actions, its secrets
        return render(
            request, "studio/forbidden.html", {"hint": request.studio.read_only_hint}, status=403
        )
    agent = get_object_or_404(Agent, pk=agent_id, workspace=request.studio.workspace)
    form = PlaygroundStartForm(agent=agent, may_use_production=request.studio.can_admin)
    return render(request, "live/playground.html", {"agent": agent, "form": form})


@require_POST
@studio_view(write_role=Role.EDITOR)
def playground_start_view(request: StudioRequest, agent_id: int) -> JsonResponse:
    """Create the session's call and hand the page its websocket path (JSON for fetch)."""
    agent = get_object_or_404(Agent, pk=agent_id, workspace=request.studio.workspace)
    form = PlaygroundStartForm(
        request.POST, agent=agent, may_use_production=request.studio.can_admin
    )
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    try:
        call = playground_session_create(
            user=request.user,
            agent=agent,
            environment=form.cleaned_data["environment"],
            version=form.chosen_version(),
        )
    except PermissionDenied as exc:
        return JsonResponse({"errors": {"__all__": [str(exc)]}}, status=403)
    except ValidationError as exc:
        return JsonResponse({"errors": {"__all__": exc.messages}}, status=400)
    token = playground_token_for(call=call, user=request.user)
    return JsonResponse(
        {
            "call_id": call.pk,
            "call_sid": call.call_sid,
            "version": call.version_label,
            "ws_path": f"/v1/live/playground/{token}",
            "conversation_url": reverse("studio:call-detail", args=[call.pk]),
        },
        status=201,
    )
