"""Conversations in Studio: the call list with filters, the call detail (recording synced
with the transcript, timeline, IVR parameters) and the recording download (with HTTP Range
support, which Django's FileResponse lacks and browsers need to seek in <audio>)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents.models import Agent, Environment, Role, Workspace
from agents.tenancy.access import StudioRequest, studio_view
from calls.models import LIVE_STATUSES, Call, CallStatus, Recording
from calls.recordings.download import recording_response
from calls.selectors import call_detail, call_list
from calls.turn_latency import turn_latency_strips
from connectors.models import PhoneConnector

PAGE_SIZE = 50


class CallFilterForm(forms.Form):
    """The Conversations filters; every choice is limited to the member's workspace."""

    q = forms.CharField(label="Search transcripts", required=False)
    connector = forms.ModelChoiceField(
        queryset=PhoneConnector.objects.none(), required=False, empty_label="All connectors"
    )
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.none(), required=False, empty_label="All agents"
    )
    version = forms.CharField(
        label="Version",
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"placeholder": "v3 or draft"}),
    )
    environment = forms.ModelChoiceField(
        queryset=Environment.objects.none(), required=False, empty_label="All environments"
    )
    status = forms.ChoiceField(
        choices=[("", "Any status"), ("live", "Live now")] + list(CallStatus.choices),
        required=False,
    )
    transferred = forms.ChoiceField(
        label="Handed over",
        choices=[("", "Either"), ("yes", "Transferred"), ("no", "Not transferred")],
        required=False,
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # self.fields holds copies of the fields declared above (casts: their declared types).
        connector = cast(forms.ModelChoiceField[PhoneConnector], self.fields["connector"])
        connector.queryset = PhoneConnector.objects.filter(workspace=workspace)
        agent = cast(forms.ModelChoiceField[Agent], self.fields["agent"])
        agent.queryset = Agent.objects.filter(workspace=workspace)
        environment = cast(forms.ModelChoiceField[Environment], self.fields["environment"])
        environment.queryset = Environment.objects.filter(workspace=workspace)

    def apply(self, calls: QuerySet[Call]) -> QuerySet[Call]:
        """Narrow a workspace's calls by the valid filters (invalid ones are ignored)."""
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("status") == "live":
            calls = calls.filter(status__in=LIVE_STATUSES)
        if data.get("version"):
            calls = calls.filter(version_label__iexact=data["version"].strip())
        if data.get("transferred") == "yes":
            calls = calls.filter(~Q(transferred_to="") | Q(status=CallStatus.TRANSFERRED))
        elif data.get("transferred") == "no":
            calls = calls.filter(transferred_to="").exclude(status=CallStatus.TRANSFERRED)
        if data.get("date_from"):
            calls = calls.filter(created_at__date__gte=data["date_from"])
        if data.get("date_to"):
            calls = calls.filter(created_at__date__lte=data["date_to"])
        if data.get("q"):
            calls = calls.filter(segments__text__icontains=data["q"].strip()).distinct()
        return calls

    def selector_filters(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_valid() else {}
        status = data.get("status")
        return {
            "connector_id": getattr(data.get("connector"), "pk", None),
            "agent_id": getattr(data.get("agent"), "pk", None),
            "environment_id": getattr(data.get("environment"), "pk", None),
            "status": status if status and status != "live" else None,
        }


def _workspace_calls(request: StudioRequest, form: CallFilterForm) -> QuerySet[Call]:
    calls = call_list(workspace=request.studio.workspace, filters=form.selector_filters())
    return form.apply(calls).select_related("agent", "environment")


@require_GET
@studio_view(write_role=Role.EDITOR)
def call_list_view(request: StudioRequest) -> HttpResponse:
    form = CallFilterForm(request.GET or None, workspace=request.studio.workspace)
    calls = _workspace_calls(request, form)
    page = Paginator(calls, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "live_count": Call.objects.filter(
            workspace=request.studio.workspace, status__in=LIVE_STATUSES
        ).count(),
        "filtered": any(v for k, v in request.GET.items() if k != "page"),
    }
    template = "studio/calls/_results.html" if request.htmx else "studio/calls/list.html"
    return render(request, template, context)


@require_GET
@studio_view(write_role=Role.EDITOR)
def live_badge_view(request: StudioRequest) -> HttpResponse:
    """htmx (polled): how many calls of the workspace are live right now."""
    count = Call.objects.filter(
        workspace=request.studio.workspace, status__in=LIVE_STATUSES
    ).count()
    return render(request, "studio/calls/_live_badge.html", {"live_count": count})


@require_GET
@studio_view(write_role=Role.EDITOR)
def call_status_view(request: StudioRequest, call_id: int) -> HttpResponse:
    """htmx (polled while the call is live): the call's status badge, which stops polling once
    the call has ended."""
    call = Call.objects.filter(workspace=request.studio.workspace, pk=call_id).first()
    if call is None:
        raise Http404("No such call in this workspace.")
    listen_link = request.GET.get("listen") != "0"
    return render(request, "studio/calls/_status.html", {"call": call, "listen_link": listen_link})


@require_GET
@studio_view(write_role=Role.EDITOR)
def call_detail_view(request: StudioRequest, call_id: int) -> HttpResponse:
    call = call_detail(workspace=request.studio.workspace, call_id=call_id)
    if call is None:
        raise Http404("No such call in this workspace.")
    try:
        recording = call.recording
    except Recording.DoesNotExist:
        recording = None
    events = list(call.events.all())
    return render(
        request,
        "studio/calls/detail.html",
        {
            "call": call,
            "recording": recording,
            # (key, value) pairs: in a template, `ivr_params.items` would look up a caller's
            # parameter named "items" before the dict method
            "ivr_params": list((call.ivr_params or {}).items()),
            "events": events,
            "segments": list(call.segments.all()),
            "latency": turn_latency_strips(events),
        },
    )


@require_GET
@studio_view(write_role=Role.EDITOR)
def call_recording_view(request: StudioRequest, call_id: int) -> HttpResponseBase:
    """The call's WAV, for members of the call's workspace only; honours one byte range."""
    recording = (
        Recording.objects.select_related("call")
        .filter(call_id=call_id, call__workspace=request.studio.workspace)
        .first()
    )
    if recording is None or not recording.file:
        raise Http404("This call has no recording.")
    return recording_response(request, recording)
