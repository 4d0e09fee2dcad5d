"""Studio URLs of conversations (names live in the `studio` namespace)."""

from django.urls import include, path

from calls import studio_views as views
from calls.postcall import studio_views as postcall_views

urlpatterns = [
    path("", include("calls.analytics.studio_urls")),
    path("conversations/", views.call_list_view, name="call-list"),
    path("conversations/live/", views.live_badge_view, name="call-live-badge"),
    path("conversations/<int:call_id>/", views.call_detail_view, name="call-detail"),
    path("conversations/<int:call_id>/status/", views.call_status_view, name="call-status"),
    path(
        "conversations/<int:call_id>/recording.wav",
        views.call_recording_view,
        name="call-recording",
    ),
    path(
        "conversations/<int:call_id>/webhook/resend/",
        postcall_views.call_webhook_resend_view,
        name="call-webhook-resend",
    ),
    path(
        "environments/<int:environment_id>/deliveries/",
        postcall_views.environment_deliveries_view,
        name="environment-deliveries",
    ),
]
