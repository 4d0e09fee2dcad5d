"""Twilio Media Streams websocket route (the signed token is the last path segment)."""

from django.urls import path

from calls.twilio.media_stream import MediaStreamConsumer

websocket_urlpatterns = [
    path("v1/media/<str:token>", MediaStreamConsumer.as_asgi()),
]
