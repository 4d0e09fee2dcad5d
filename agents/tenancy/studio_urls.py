"""Studio URLs of tenancy: members, the workspace switcher and password reset (the `studio`
namespace; the login view itself is routed in stellar/urls.py)."""

from django.urls import path

from agents.tenancy import login as studio_login
from agents.tenancy import studio_views as members

urlpatterns = [
    path("members/", members.member_list_view, name="member-list"),
    path("members/invite/", members.member_invite_view, name="member-invite"),
    path("members/<int:member_id>/role/", members.member_role_view, name="member-role"),
    path("members/<int:member_id>/remove/", members.member_remove_view, name="member-remove"),
    path("workspace/", members.workspace_switch_view, name="workspace-switch"),
    path(
        "password-reset/",
        studio_login.StudioPasswordResetView.as_view(),
        name="password-reset",
    ),
    path(
        "password-reset/sent/",
        studio_login.StudioPasswordResetDoneView.as_view(),
        name="password-reset-done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        studio_login.StudioPasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "password-reset/done/",
        studio_login.StudioPasswordResetCompleteView.as_view(),
        name="password-reset-complete",
    ),
]
