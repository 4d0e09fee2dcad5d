"""Websocket routes of the calls app."""

from django.urls import path

from .consumers import MediaStreamConsumer

websocket_urlpatterns = [
    path("v1/media/<str:token>", MediaStreamConsumer.as_asgi()),
]
