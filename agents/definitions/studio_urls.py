"""Studio URLs of the agents app (names live in the `studio` namespace)."""

from django.urls import path

from agents.config import studio_views as environments
from agents.definitions.studio_views import actions, drafts, versions
from agents.tenancy import login as studio_login
from agents.tenancy import studio_views as members

AGENT = "agents/<int:agent_id>"

urlpatterns = [
    # Agents and their draft
    path("agents/", drafts.agent_list_view, name="agent-list"),
    path("agents/new/", drafts.agent_create_view, name="agent-create"),
    path(f"{AGENT}/", drafts.agent_draft_view, name="agent-draft"),
    path(f"{AGENT}/rows/<str:kind>/", drafts.agent_draft_row, name="agent-draft-row"),
    path(f"{AGENT}/delete/", drafts.agent_delete_view, name="agent-delete"),
    # Actions and handovers
    path(f"{AGENT}/actions/", actions.action_list_view, name="action-list"),
    path(f"{AGENT}/actions/new/<str:kind>/", actions.action_create_view, name="action-create"),
    path(f"{AGENT}/actions/<int:action_id>/", actions.action_edit_view, name="action-edit"),
    path(
        f"{AGENT}/actions/<int:action_id>/delete/",
        actions.action_delete_view,
        name="action-delete",
    ),
    path(
        f"{AGENT}/handovers/new/<str:kind>/",
        actions.handover_create_view,
        name="handover-create",
    ),
    path(
        f"{AGENT}/handovers/<int:handover_id>/",
        actions.handover_edit_view,
        name="handover-edit",
    ),
    path(
        f"{AGENT}/handovers/<int:handover_id>/delete/",
        actions.handover_delete_view,
        name="handover-delete",
    ),
    # Versions
    path(f"{AGENT}/versions/", versions.version_list_view, name="version-list"),
    path(f"{AGENT}/versions/publish/", versions.version_publish_view, name="version-publish"),
    path(f"{AGENT}/versions/diff/", versions.version_diff_view, name="version-diff"),
    path(
        f"{AGENT}/versions/<int:version_id>/<str:operation>/",
        versions.version_operation_view,
        name="version-operation",
    ),
    # Environments
    path("environments/", environments.environment_list_view, name="environment-list"),
    path("environments/secrets/", environments.secret_create_view, name="secret-create"),
    path(
        "environments/secrets/<int:secret_id>/value/",
        environments.secret_value_view,
        name="secret-value",
    ),
    path("environments/variables/", environments.variable_create_view, name="variable-create"),
    path(
        "environments/variables/<int:variable_id>/value/",
        environments.variable_value_view,
        name="variable-value",
    ),
    path("environments/auth/", environments.auth_connector_create_view, name="auth-create"),
    path(
        "environments/auth/<int:auth_connector_id>/credentials/",
        environments.auth_credentials_view,
        name="auth-credentials",
    ),
    path(
        "environments/<str:kind>/<int:item_id>/delete/",
        environments.environment_item_delete_view,
        name="environment-item-delete",
    ),
    # Members and workspaces
    path("members/", members.member_list_view, name="member-list"),
    path("members/invite/", members.member_invite_view, name="member-invite"),
    path("members/<int:member_id>/role/", members.member_role_view, name="member-role"),
    path("members/<int:member_id>/remove/", members.member_remove_view, name="member-remove"),
    path("workspace/", members.workspace_switch_view, name="workspace-switch"),
    # Password reset (the login view itself is routed in stellar/urls.py)
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
