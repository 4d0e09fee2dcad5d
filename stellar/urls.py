"""Root URLs: Twilio webhooks (/v1/), the REST API (/api/v1/), Studio, admin, health."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from agents.tenancy.login import ThrottledLoginView, admin_login
from stellar import health

urlpatterns = [
    path("", include("calls.twilio.urls")),
    path("", include("calls.live.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("stellar.api_urls")),  # last: ends with a JSON 404 for the rest
    path("admin/login/", admin_login, name="admin-login"),  # before admin/: throttled
    path("admin/", admin.site.urls),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Pages without our <link rel="icon"> (admin, API docs) still ask for /favicon.ico.
    path(
        "favicon.ico",
        RedirectView.as_view(url=lazy(static, str)("studio/favicon.svg"), permanent=True),
        name="favicon",
    ),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("", include("stellar.studio_urls")),
]
