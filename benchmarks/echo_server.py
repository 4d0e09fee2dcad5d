"""Baseline for the concurrency benchmark: bare Daphne + a Channels consumer that parses each
Twilio media frame and echoes a media frame back. Nothing of Stellar is imported.

    taskset -c 1 python -m daphne -p 8100 benchmarks.echo_server:application

Its own minimal settings (no database, no middleware, no channel layer), configured here.
"""

from __future__ import annotations

import base64
import binascii
import json

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="echo-baseline-not-a-secret",  # noqa: S106 - nothing is signed here
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["channels"],
        DATABASES={},
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402

MAX_FRAME = 16384


class EchoConsumer(AsyncWebsocketConsumer):
    stream_sid = ""

    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_FRAME:
            return
        try:
            msg = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        event = msg.get("event")
        if event == "start":
            self.stream_sid = str(msg.get("streamSid", ""))
        elif event == "media":
            media = msg.get("media")
            if not isinstance(media, dict):
                return
            try:
                audio = base64.b64decode(str(media.get("payload", "")), validate=True)
            except (binascii.Error, ValueError):
                return
            reply = {
                "event": "media",
                "streamSid": self.stream_sid,
                "media": {"payload": base64.b64encode(audio).decode()},
            }
            await self.send(text_data=json.dumps(reply, separators=(",", ":")))
        elif event == "stop":
            await self.close()


async def _http(scope, receive, send) -> None:
    """Plain 200 on HTTP (a liveness probe); the baseline itself is the websocket."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"echo"})


application = ProtocolTypeRouter({"http": _http, "websocket": EchoConsumer.as_asgi()})
