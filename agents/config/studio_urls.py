"""Studio URLs of environments: secrets, variables, auth connectors (the `studio` namespace)."""

from django.urls import path

from agents.config import studio_views as environments
from agents.config import webhook_studio_views as webhooks

urlpatterns = [
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
        "environments/<str:kind>/<int:item_id>/hosts/",
        environments.allowed_hosts_view,
        name="environment-item-hosts",
    ),
    path(
        "environments/<str:kind>/<int:item_id>/delete/",
        environments.environment_item_delete_view,
        name="environment-item-delete",
    ),
    path(
        "environments/<int:environment_id>/webhook/",
        webhooks.webhook_set_view,
        name="environment-webhook",
    ),
    path(
        "environments/<int:environment_id>/webhook/rotate/",
        webhooks.webhook_rotate_view,
        name="environment-webhook-rotate",
    ),
    path(
        "environments/<int:environment_id>/webhook/delete/",
        webhooks.webhook_delete_view,
        name="environment-webhook-delete",
    ),
]
