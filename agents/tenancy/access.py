"""Who is asking, in which workspace, and what their role allows on Studio pages.

Every Studio view is wrapped in `studio_view(write_role=...)`: it requires a login, resolves
the member's workspace (the one picked in the workspace switcher, else their first), and
refuses writes (any non-GET/HEAD request) from roles below `write_role` with a 403 page.
Views then filter every query by `request.studio.workspace`, so another workspace's
objects are simply not found (404).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from agents.models import Membership, Role, Workspace

SESSION_KEY = "studio_workspace_id"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
WRITE_ROLE_HINTS = {
    Role.EDITOR: "Viewers can look but not change; ask an admin to make you an editor.",
    Role.ADMIN: "Only admins and owners can change this.",
}


@dataclass(frozen=True)
class StudioAccess:
    """The request's membership, the other workspaces it may switch to, and its rights."""

    membership: Membership
    memberships: list[Membership] = field(default_factory=list)
    write_role: str = Role.EDITOR

    @property
    def workspace(self) -> Workspace:
        return self.membership.workspace

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def can_write(self) -> bool:
        """May change what this page shows (editor+ for agents, admin+ for secrets)."""
        return self.membership.has_role(self.write_role)

    @property
    def can_edit(self) -> bool:
        return self.membership.has_role(Role.EDITOR)

    @property
    def can_admin(self) -> bool:
        return self.membership.has_role(Role.ADMIN)

    @property
    def read_only_hint(self) -> str:
        return WRITE_ROLE_HINTS.get(Role(self.write_role), "Your role cannot change this.")


def user_memberships(user) -> list[Membership]:
    return list(Membership.objects.select_related("workspace").filter(user=user).order_by("id"))


def studio_access_for(request: HttpRequest, write_role: str = Role.EDITOR) -> StudioAccess | None:
    """The workspace chosen in the session if the user still belongs to it, else the first."""
    memberships = user_memberships(request.user)
    if not memberships:
        return None
    chosen = request.session.get(SESSION_KEY)
    current = next((m for m in memberships if m.workspace_id == chosen), memberships[0])
    return StudioAccess(membership=current, memberships=memberships, write_role=write_role)


def studio_view(write_role: str = Role.EDITOR) -> Callable:
    """Decorator for Studio views: login, workspace membership, and the role needed to write."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            access = studio_access_for(request, write_role)
            if access is None:
                return render(request, "studio/no_workspace.html", status=403)
            request.studio = access  # type: ignore[attr-defined]
            if request.method not in SAFE_METHODS and not access.can_write:
                return render(
                    request,
                    "studio/forbidden.html",
                    {"hint": access.read_only_hint},
                    status=403,
                )
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


def workspace_select(request: HttpRequest, workspace_id: int) -> bool:
    """Remember the workspace the user switched to; False when they are not a member."""
    if not Membership.objects.filter(user=request.user, workspace_id=workspace_id).exists():
        return False
    request.session[SESSION_KEY] = workspace_id
    return True
