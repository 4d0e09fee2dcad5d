"""Stellar's ASGI application with the Live routes (calls.live_urls, calls.live_routing) wired in.

Used by tests/live_fixtures.py only while stellar/urls.py and stellar/routing.py do not
include them yet; once they do, the fixtures serve `stellar.asgi:application` and this module
can go.
"""

import os
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stellar.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from agents.speech.registry import warm_up  # noqa: E402
from calls.live_routing import websocket_urlpatterns as live_routes  # noqa: E402
from stellar.routing import websocket_urlpatterns  # noqa: E402

settings.ROOT_URLCONF = "tests.live_urlconf"

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter([*websocket_urlpatterns, *live_routes])),
    }
)

if os.environ.get("STELLAR_WARMUP", "1") != "0":
    threading.Thread(target=warm_up, name="speech-warmup", daemon=True).start()
