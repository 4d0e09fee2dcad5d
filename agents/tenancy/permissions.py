"""Which workspace an API request acts in, and what the caller's role there allows.

The workspace is the one named by the `X-Stellar-Workspace: <slug>` header, else the user's
first membership. Every API view filters its querysets by it, so another workspace's objects
are simply not found (404), never "forbidden" (which would confirm they exist).
"""

from __future__ import annotations

from typing import Any, Protocol

from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from agents.tenancy.models import Membership, Role, Workspace
from agents.tenancy.selectors import membership_for

WORKSPACE_HEADER = "X-Stellar-Workspace"
CACHE_ATTRIBUTE = "_stellar_membership"


def request_membership(request: Request) -> Membership:
    """The caller's membership in the request's workspace (cached on the request)."""
    cached = getattr(request, CACHE_ATTRIBUTE, None)
    if isinstance(cached, Membership):
        return cached
    slug = request.headers.get(WORKSPACE_HEADER, "").strip()
    if slug:
        workspace = Workspace.objects.filter(slug=slug).first()
        membership = membership_for(user=request.user, workspace=workspace) if workspace else None
        if membership is None:
            raise NotFound(f"You are not a member of a workspace called {slug!r}.")
    else:
        membership = membership_for(user=request.user)
        if membership is None:
            raise PermissionDenied("You are not a member of any workspace.")
    setattr(request, CACHE_ATTRIBUTE, membership)
    return membership


class WorkspaceRole(BasePermission):
    """Every role may read; writing needs at least `write_role`."""

    read_role = Role.VIEWER
    write_role = Role.EDITOR
    message = "Your role in this workspace does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        membership = request_membership(request)
        needed = self.read_role if request.method in SAFE_METHODS else self.write_role
        return membership.has_role(needed)


class EditorWrites(WorkspaceRole):
    """Agents, drafts, actions, versions and phone connectors: editors and up write."""

    write_role = Role.EDITOR
    message = "Viewers can look but not change; ask an admin to make you an editor."


class AdminWrites(WorkspaceRole):
    """Secrets, variables, auth connectors and members: admins and owners write."""

    write_role = Role.ADMIN
    message = "Only admins and owners can change this."


class _HasRequest(Protocol):
    request: Request


class WorkspaceScopedMixin:
    """For API viewsets: `self.membership` and `self.workspace` of the request."""

    @property
    def membership(self: _HasRequest) -> Membership:
        return request_membership(self.request)

    @property
    def workspace(self: _HasRequest) -> Workspace:
        return request_membership(self.request).workspace
