"""Twilio Media Streams websocket: translate protocol frames ↔ CallSession, nothing more."""

from __future__ import annotations

import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from calls.live.monitor import control_group
from calls.runtime.session import CallSession
from calls.runtime.setup import call_context_for
from calls.selectors import call_with_connector
from calls.twilio.signatures import public_url_for, signature_is_valid
from calls.twilio.tokens import call_id_from_media_token
from stellar.kernel.logging_json import call_sid_var

logger = logging.getLogger(__name__)


@database_sync_to_async
def _load_call(call_id: int):
    call = call_with_connector(call_id=call_id)
    if call is None or call.connector is None:
        return None, ""
    return call, call.connector.get_auth_token()


_load_context = database_sync_to_async(call_context_for)


class MediaStreamConsumer(AsyncWebsocketConsumer):
    session: CallSession | None = None

    async def connect(self) -> None:
        token = self.scope["url_route"]["kwargs"]["token"]
        call_id = call_id_from_media_token(token)
        if call_id is None:
            logger.warning("media stream refused: bad or expired token")
            await self.close()
            return
        call, auth_token = await _load_call(call_id)
        call_sid_var.set(call.call_sid if call is not None else None)  # on every log line
        headers = dict(self.scope.get("headers", []))
        signature = headers.get(b"x-twilio-signature", b"").decode("latin-1")
        url = public_url_for(self.scope["path"], websocket=True)
        if call is None or not signature_is_valid(
            auth_token=auth_token, url=url, params={}, signature=signature
        ):
            logger.warning("media stream refused: bad signature for call %s", call_id)
            await self.close()
            return
        if call.ended_at is not None:
            logger.warning("media stream refused: call %s already ended", call.call_sid)
            await self.close()
            return
        context = await _load_context(call)
        self.session = CallSession(
            call=call,
            context=context,
            send=self._send_json,
            hangup=self.close,
            channel_layer=self.channel_layer,
        )
        self.control_group = control_group(call.pk)
        await self.channel_layer.group_add(self.control_group, self.channel_name)
        await self.accept()

    async def _send_json(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        session = self.session
        if session is None:
            return
        if text_data is None:
            session.count_error("binary_frame")
            return
        if len(text_data) > settings.STELLAR_MAX_FRAME_BYTES:
            session.count_error("oversized_frame", str(len(text_data)))
            return
        try:
            msg = json.loads(text_data)
        except (ValueError, RecursionError):
            session.count_error("malformed_json")
            return
        if not isinstance(msg, dict):
            session.count_error("not_an_object")
            return
        try:
            await self._dispatch(session, msg)
        except Exception:
            session.count_error("handler_error")
            logger.exception("call %s: error handling %s", session.call.call_sid, msg.get("event"))

    async def _dispatch(self, session: CallSession, msg: dict) -> None:
        event = msg.get("event")
        if event == "media":
            session.on_media(msg)
        elif event == "start":
            await session.on_start(msg)
        elif event == "mark":
            session.on_mark(msg)
        elif event == "dtmf":
            session.on_dtmf(msg)
        elif event == "connected":
            return
        elif event == "stop":
            await session.close("Twilio stopped the stream", stopped_by_twilio=True)
            await self.close()
        else:
            session.count_error("unknown_event", str(event))

    async def disconnect(self, code: int) -> None:
        if self.session is not None:
            await self.channel_layer.group_discard(self.control_group, self.channel_name)
            await self.session.close(f"Websocket closed ({code})")

    # ---- messages from supervisors' websockets (calls.live.monitor protocol) ------------------
    async def call_monitor_join(self, message: dict) -> None:
        if self.session is not None:
            self.session.monitor.listener_joined(message["listener"])

    async def call_monitor_leave(self, message: dict) -> None:
        if self.session is not None:
            self.session.monitor.listener_left(message["listener"])

    async def call_take_over(self, message: dict) -> None:
        ok, detail = False, "The call is not active on this process."
        if self.session is not None:
            ok, detail = await self.session.take_over(
                by=str(message.get("by", "supervisor")),
                action=message.get("action"),
                destination=message.get("destination"),
            )
        if message.get("reply_to"):
            await self.channel_layer.send(
                message["reply_to"], {"type": "call.take_over_result", "ok": ok, "detail": detail}
            )
