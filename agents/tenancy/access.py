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
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

from agents.tenancy.models import Membership, Role, Workspace
from agents.tenancy.selectors import membership_for, user_membership_list

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


class StudioRequest(HttpRequest):
    """The request a `studio_view` receives: a signed-in user, the member's access and (from the
    django-htmx middleware) whether htmx sent it. For type checking only; at run time it is
    Django's own request object."""

    user: User
    studio: StudioAccess
    htmx: HtmxDetails


StudioView = Callable[..., HttpResponseBase]


def studio_access_for(request: HttpRequest, write_role: str = Role.EDITOR) -> StudioAccess | None:
    """The workspace chosen in the session if the user still belongs to it, else the first."""
    memberships = list(user_membership_list(user=request.user))
    if not memberships:
        return None
    chosen = request.session.get(SESSION_KEY)
    current = next((m for m in memberships if m.workspace_id == chosen), memberships[0])
    return StudioAccess(membership=current, memberships=memberships, write_role=write_role)


def studio_view(write_role: str = Role.EDITOR) -> Callable[[StudioView], StudioView]:
    """Decorator for Studio views: login, workspace membership, and the role needed to write."""

    def decorator(view: StudioView) -> StudioView:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            access = studio_access_for(request, write_role)
            if access is None:
                return render(request, "studio/no_workspace.html", status=403)
            cast(StudioRequest, request).studio = access
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
    if membership_for(user=request.user, workspace_id=workspace_id) is None:
        return False
    request.session[SESSION_KEY] = workspace_id
    return True
