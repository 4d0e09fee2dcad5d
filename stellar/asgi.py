"""ASGI entry point: HTTP through Django, websockets routed to the apps' consumers.

With STELLAR_PROCESS_ROLE=http the process serves plain HTTP only (webhooks, Twilio callbacks,
Studio, API): websockets are refused and the speech models are never loaded, so nothing on
the webhook path shares an event loop or the GIL with live calls (docs/deploy.md).
"""

import logging
import os
import threading
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stellar.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from agents.speech.registry import warm_up  # noqa: E402
from calls.runtime.speech_render import prerender_answering_versions  # noqa: E402
from stellar.routing import websocket_urlpatterns  # noqa: E402
from stellar.shutdown import graceful  # noqa: E402

HTTP_ONLY = settings.STELLAR_PROCESS_ROLE == "http"


async def refuse_websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An HTTP-class process takes no media stream or live monitor: a misrouted handshake gets
    403 (nginx routes /v1/media/ and /v1/live/ to the processes of the other class)."""
    message = await receive()
    if message["type"] == "websocket.connect":
        logging.getLogger(__name__).warning(
            "websocket %s refused: STELLAR_PROCESS_ROLE=http serves HTTP only", scope.get("path")
        )
        await send({"type": "websocket.close", "code": 1008})


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": (
            refuse_websocket if HTTP_ONLY else AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
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


if HTTP_ONLY:
    # /readyz (stellar/health.py) must not wait for models this process never loads.
    os.environ["STELLAR_WARMUP"] = "0"
elif os.environ.get("STELLAR_WARMUP", "1") != "0":
    threading.Thread(target=_warm_up, name="speech-warmup", daemon=True).start()
