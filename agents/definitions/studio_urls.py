"""Studio URLs of agent definitions: agents and their draft, actions, versions (the `studio`
namespace). Handover actions have their pages in handovers/studio_urls.py."""

from django.urls import path

from agents.definitions.studio_views import actions, data, drafts, versions

AGENT = "agents/<int:agent_id>"

urlpatterns = [
    # Agents and their draft
    path("agents/", drafts.agent_list_view, name="agent-list"),
    path("agents/new/", drafts.agent_create_view, name="agent-create"),
    path(f"{AGENT}/", drafts.agent_draft_view, name="agent-draft"),
    path(f"{AGENT}/rows/<str:kind>/", drafts.agent_draft_row, name="agent-draft-row"),
    path(f"{AGENT}/delete/", drafts.agent_delete_view, name="agent-delete"),
    # Actions
    path(f"{AGENT}/actions/", actions.action_list_view, name="action-list"),
    path(f"{AGENT}/actions/new/<str:kind>/", actions.action_create_view, name="action-create"),
    path(f"{AGENT}/actions/<int:action_id>/", actions.action_edit_view, name="action-edit"),
    path(
        f"{AGENT}/actions/<int:action_id>/delete/",
        actions.action_delete_view,
        name="action-delete",
    ),
    # Data: extraction fields
    path(f"{AGENT}/data/", data.data_view, name="agent-data"),
    path(
        f"{AGENT}/data/<slug:name>/delete/", data.data_field_delete_view, name="agent-data-delete"
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
]
