"""Studio URLs of conversations (names live in the `studio` namespace)."""

from django.urls import path

from calls import studio_views as views

urlpatterns = [
    path("conversations/", views.call_list_view, name="call-list"),
    path("conversations/live/", views.live_badge_view, name="call-live-badge"),
    path("conversations/<int:call_id>/", views.call_detail_view, name="call-detail"),
    path("conversations/<int:call_id>/status/", views.call_status_view, name="call-status"),
    path(
        "conversations/<int:call_id>/recording.wav",
        views.call_recording_view,
        name="call-recording",
    ),
]
