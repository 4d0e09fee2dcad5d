"""Everything Twilio requests over HTTP during a call: the voice webhook, the status callback, and
the <Connect action> / <Dial action> callbacks. All signed, all answered with TwiML or 204."""

from django.urls import path

from calls.twilio import callback_views, webhook_views

urlpatterns = [
    path(
        "v1/agents/<str:identifier>/twilio-config",
        webhook_views.twilio_voice_webhook,
        name="voice-webhook",
    ),
    path(
        "v1/agents/<str:identifier>/call-status",
        webhook_views.twilio_call_status,
        name="call-status",
    ),
    path(
        "v1/calls/<int:call_id>/connect-ended", callback_views.connect_ended, name="connect-ended"
    ),
    path("v1/calls/<int:call_id>/dial-status", callback_views.dial_status, name="dial-status"),
    path(
        "v1/calls/<int:call_id>/whispers/<int:whisper_id>",
        callback_views.handover_whisper,
        name="handover-whisper",
    ),
]
