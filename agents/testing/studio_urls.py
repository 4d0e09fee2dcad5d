"""Studio URLs of the Tests tab (the `studio` namespace)."""

from django.urls import path

from agents.testing import studio_views

AGENT = "agents/<int:agent_id>/tests"

urlpatterns = [
    path(f"{AGENT}/", studio_views.tests_view, name="agent-tests"),
    path(f"{AGENT}/run/", studio_views.tests_run_view, name="agent-tests-run"),
    path(f"{AGENT}/runs/<int:run_id>/", studio_views.tests_run_panel, name="agent-tests-run-panel"),
    path(f"{AGENT}/generate/", studio_views.tests_generate_view, name="agent-tests-generate"),
    path(f"{AGENT}/new/", studio_views.test_case_create_view, name="agent-test-create"),
    path(f"{AGENT}/<int:case_id>/", studio_views.test_case_edit_view, name="agent-test-edit"),
    path(
        f"{AGENT}/<int:case_id>/delete/",
        studio_views.test_case_delete_view,
        name="agent-test-delete",
    ),
]
