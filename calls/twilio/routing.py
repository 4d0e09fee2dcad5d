"""Twilio Media Streams websocket route (the signed token is the last path segment)."""

from django.urls import path

from calls.twilio.media_stream import MediaStreamConsumer
from calls.twilio.tokens import MEDIA_STREAM_PREFIX

websocket_urlpatterns = [
    path(MEDIA_STREAM_PREFIX.lstrip("/") + "<str:token>", MediaStreamConsumer.as_asgi()),
]
