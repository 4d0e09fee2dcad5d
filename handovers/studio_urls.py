"""Studio URLs of handover actions (the `studio` namespace); they are listed on the agent's
Actions tab, whose pages live in agents/definitions/studio_urls.py."""

from django.urls import path

from agents.definitions.studio_urls import AGENT
from handovers import studio_views as views

urlpatterns = [
    path(
        f"{AGENT}/handovers/new/<str:kind>/",
        views.handover_create_view,
        name="handover-create",
    ),
    path(
        f"{AGENT}/handovers/<int:handover_id>/",
        views.handover_edit_view,
        name="handover-edit",
    ),
    path(
        f"{AGENT}/handovers/<int:handover_id>/delete/",
        views.handover_delete_view,
        name="handover-delete",
    ),
]
