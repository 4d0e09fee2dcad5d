"""Pages of Listen & intervene and the Playground (names live in the `live` namespace)."""

from django.urls import path

from calls.live import views as live_views

app_name = "live"
urlpatterns = [
    path("conversations/<int:call_id>/listen/", live_views.listen_view, name="listen"),
    path("agents/<int:agent_id>/playground/", live_views.playground_view, name="playground"),
    path(
        "agents/<int:agent_id>/playground/sessions/",
        live_views.playground_start_view,
        name="playground-start",
    ),
]
