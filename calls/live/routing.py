"""Websocket routes of Listen & intervene and the Playground (session-authenticated).

Browsers send their cookies with websockets from any site, so these routes also require an
Origin among ALLOWED_HOSTS (cross-site websocket hijacking).
"""

from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from calls.live.monitor_consumer import MonitorConsumer
from calls.live.playground_consumer import PlaygroundConsumer

websocket_urlpatterns = [
    path(
        "v1/live/calls/<int:call_id>",
        AllowedHostsOriginValidator(MonitorConsumer.as_asgi()),
    ),
    path(
        "v1/live/playground/<str:token>",
        AllowedHostsOriginValidator(PlaygroundConsumer.as_asgi()),
    ),
]
