"""Members: invite by email (with a link to choose a password), change roles, remove; and the
workspace switcher."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from agents.tenancy.access import StudioRequest, studio_view, workspace_select
from agents.tenancy.login import invitation_send
from agents.tenancy.models import Membership, Role
from agents.tenancy.selectors import membership_list
from agents.tenancy.services import (
    membership_change_role,
    membership_invite,
    membership_remove,
)
from agents.tenancy.studio_forms import InviteForm, RoleForm, service_errors_to_form


def _page(
    request: StudioRequest, form: InviteForm | None = None, status: int = 200
) -> HttpResponse:
    members = membership_list(workspace=request.studio.workspace)
    return render(
        request,
        "studio/members/list.html",
        {
            "members": members,
            "invite_form": form or InviteForm(),
            "roles": Role.choices,
            "owners": sum(m.role == Role.OWNER for m in members),
        },
        status=status,
    )


@require_GET
@studio_view(write_role=Role.ADMIN)
def member_list_view(request: StudioRequest) -> HttpResponse:
    return _page(request)


@require_POST
@studio_view(write_role=Role.ADMIN)
def member_invite_view(request: StudioRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            membership = membership_invite(
                actor_membership=request.studio.membership, **form.cleaned_data
            )
        except (ValidationError, PermissionDenied) as exc:
            if isinstance(exc, PermissionDenied):
                exc = ValidationError({"role": [str(exc)]})
            service_errors_to_form(form, exc)
        else:
            invitation_send(request=request, membership=membership, inviter=request.user)
            messages.success(
                request,
                f"Invited {membership.user.email} as {membership.get_role_display().lower()}. "
                "They got an email with a link to choose a password.",
            )
            return redirect("studio:member-list")
    return _page(request, form, status=400)


def _member(request: StudioRequest, member_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"),
        pk=member_id,
        workspace=request.studio.workspace,
    )


@require_POST
@studio_view(write_role=Role.ADMIN)
def member_role_view(request: StudioRequest, member_id: int) -> HttpResponse:
    membership = _member(request, member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role.")
        return redirect("studio:member-list")
    try:
        membership_change_role(
            membership=membership,
            role=form.cleaned_data["role"],
            actor_membership=request.studio.membership,
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(
            request,
            f"{membership.user.get_username()} is now {membership.get_role_display().lower()}.",
        )
    return redirect("studio:member-list")


@require_POST
@studio_view(write_role=Role.ADMIN)
def member_remove_view(request: StudioRequest, member_id: int) -> HttpResponse:
    membership = _member(request, member_id)
    try:
        membership_remove(membership=membership, actor_membership=request.studio.membership)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, f"{membership.user.get_username()} removed from the workspace.")
    return redirect("studio:member-list")


@require_POST
@login_required
def workspace_switch_view(request: HttpRequest) -> HttpResponse:
    workspace_id = request.POST.get("workspace", "")
    if not workspace_id.isdigit() or not workspace_select(request, int(workspace_id)):
        messages.error(request, "You are not a member of that workspace.")
    return redirect("studio:home")
