"""Studio URLs of phone connectors (names live in the `studio` namespace)."""

from django.urls import path

from connectors import capacity_views
from connectors import studio_views as views

CONNECTOR = "connectors/<int:connector_id>"

urlpatterns = [
    path("connectors/", views.connector_list_view, name="connector-list"),
    path("connectors/new/", views.connector_create_view, name="connector-create"),
    path("connectors/versions/", views.connector_version_options, name="connector-versions"),
    path(f"{CONNECTOR}/", views.connector_detail_view, name="connector-detail"),
    path(f"{CONNECTOR}/edit/", views.connector_edit_view, name="connector-edit"),
    path(f"{CONNECTOR}/rollout/", views.connector_rollout_view, name="connector-rollout"),
    path(f"{CONNECTOR}/delete/", views.connector_delete_view, name="connector-delete"),
    path(
        f"{CONNECTOR}/capacity/", capacity_views.connector_capacity_view, name="connector-capacity"
    ),
    path(
        f"{CONNECTOR}/capacity/status/",
        capacity_views.connector_capacity_status_view,
        name="connector-capacity-status",
    ),
    path(f"{CONNECTOR}/numbers/", views.connector_numbers_view, name="connector-numbers"),
    path(
        f"{CONNECTOR}/numbers/<str:sid>/connect/",
        views.number_connect_view,
        name="number-connect",
    ),
    path(
        f"{CONNECTOR}/numbers/<str:sid>/disconnect/",
        views.number_disconnect_view,
        name="number-disconnect",
    ),
    path(
        f"{CONNECTOR}/diagnostics/",
        views.connector_diagnostics_view,
        name="connector-diagnostics",
    ),
]
