"""Studio: re-send a call's `call.ended` webhook by hand, and an environment's deliveries."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from agents.models import Environment, Role
from agents.tenancy.access import StudioRequest, studio_view
from calls.models import Call
from calls.postcall.selectors import delivery_list
from calls.tasks import resend_call_ended

PAGE_SIZE = 50


@require_POST
@studio_view(write_role=Role.EDITOR)
def call_webhook_resend_view(request: StudioRequest, call_id: int) -> HttpResponseRedirect:
    call = Call.objects.filter(workspace=request.studio.workspace, pk=call_id).first()
    if call is None:
        raise Http404("No such call in this workspace.")
    try:
        resend_call_ended(call=call)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Re-sending call.ended; the attempt appears below.")
    return redirect("studio:call-detail", call_id=call.pk)


@require_GET
@studio_view(write_role=Role.EDITOR)
def environment_deliveries_view(request: StudioRequest, environment_id: int) -> HttpResponse:
    environment = get_object_or_404(
        Environment, pk=environment_id, workspace=request.studio.workspace
    )
    deliveries = delivery_list(workspace=request.studio.workspace, environment=environment)
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "studio/calls/deliveries.html",
        {"environment": environment, "page": page},
    )
