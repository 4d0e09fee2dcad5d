from django.urls import path

from . import views

urlpatterns = [
    path(
        "v1/agents/<str:identifier>/twilio-config", views.twilio_voice_webhook, name="voice-webhook"
    ),
    path("v1/agents/<str:identifier>/call-status", views.twilio_call_status, name="call-status"),
]
