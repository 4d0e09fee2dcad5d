"""Websocket routes of every app, gathered in one list for the ASGI router."""

from calls.live.routing import websocket_urlpatterns as live_routes
from calls.twilio.routing import websocket_urlpatterns as calls_routes

websocket_urlpatterns = [*calls_routes, *live_routes]
