"""Studio pages: server-rendered, workspace-scoped, in the `studio` URL namespace."""

from django.urls import include, path
from django.views.generic import RedirectView

app_name = "studio"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="studio:agent-list"), name="home"),
    path("", include("agents.definitions.studio_urls")),
    path("", include("agents.testing.studio_urls")),
    path("", include("handovers.studio_urls")),
    path("", include("agents.config.studio_urls")),
    path("", include("agents.tenancy.studio_urls")),
    path("", include("connectors.studio_urls")),
    path("", include("calls.studio_urls")),
]
