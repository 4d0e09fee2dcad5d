"""Reads of tenancy: who is a member of which workspace, with which role."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from agents.tenancy.models import Membership, Workspace


def membership_for(
    *, user: Any, workspace: Workspace | None = None, workspace_id: int | None = None
) -> Membership | None:
    """The user's membership in the workspace (by object or id), or in their first workspace
    when neither is given; None for anonymous users and non-members. The one membership check."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    qs = user_membership_list(user=user)
    if workspace is not None:
        qs = qs.filter(workspace=workspace)
    if workspace_id is not None:
        qs = qs.filter(workspace_id=workspace_id)
    return qs.first()


def membership_list(*, workspace: Workspace) -> QuerySet[Membership]:
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by("id")


def user_membership_list(*, user: Any) -> QuerySet[Membership]:
    """Every workspace the user belongs to (with the workspace), oldest membership first."""
    return Membership.objects.select_related("workspace").filter(user=user).order_by("id")
