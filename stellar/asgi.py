"""ASGI entry point: HTTP through Django, websockets routed to the apps' consumers."""

import os
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stellar.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from agents.speech.registry import warm_up  # noqa: E402
from stellar.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)

# Load the speech models once per server process, off the event loop, before the first call.
if os.environ.get("STELLAR_WARMUP", "1") != "0":
    threading.Thread(target=warm_up, name="speech-warmup", daemon=True).start()
