"""ASGI entry point: HTTP through Django, websockets routed to the apps' consumers."""

import logging
import os
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stellar.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.db import connection  # noqa: E402

from agents.speech.registry import warm_up  # noqa: E402
from calls.runtime.speech_render import prerender_answering_versions  # noqa: E402
from stellar.routing import websocket_urlpatterns  # noqa: E402
from stellar.shutdown import graceful  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
# Count open connections; under Daphne, SIGTERM drains live calls (stellar/shutdown.py).
application = graceful(application)


def _warm_up() -> None:
    """Load the speech models once per server process, then render the fixed lines of the
    versions that answer now, off the event loop and before the first call."""
    warm_up()
    try:
        prerender_answering_versions()
    except Exception:
        logging.getLogger(__name__).exception("pre-rendering fixed lines failed")
    finally:
        connection.close()


if os.environ.get("STELLAR_WARMUP", "1") != "0":
    threading.Thread(target=_warm_up, name="speech-warmup", daemon=True).start()
