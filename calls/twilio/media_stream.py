"""Twilio Media Streams websocket: the door (token, signature) and the phone side of a CallSession;
frames go through calls.runtime.protocol, nothing more."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from agents.engine import CallContext
from calls.models import Call
from calls.runtime.control import CallControl
from calls.runtime.factory import call_session
from calls.runtime.monitor import MonitorFeed, control_group
from calls.runtime.protocol import MediaStreamProtocol
from calls.runtime.session import CallSession
from calls.runtime.setup import call_context_for
from calls.selectors import call_with_connector
from calls.twilio.handover import handover_mark_reconnected, handover_request
from calls.twilio.signatures import public_url_for, signature_is_valid
from calls.twilio.stream_claims import StreamLease, token_aclaim
from calls.twilio.tokens import call_id_from_media_token
from connectors.twilio_client import twilio_client_for
from stellar.kernel.logging_json import call_sid_var

logger = logging.getLogger(__name__)

CLOSE_CALL_TAKEN = 4409  # a second socket for a call that is live elsewhere


def send_sms(call: Call, to: str, body: str) -> str:
    """A text from the number the caller dialled, through the call's Twilio account."""
    if call.connector is None:
        raise RuntimeError("The call has no phone connector to send texts with.")
    client = twilio_client_for(call.connector)
    sid: str = client.messages.create(to=to, from_=call.to_number, body=body).sid
    return sid


TWILIO_CONTROL = CallControl(
    request_handover=handover_request,
    mark_reconnected=handover_mark_reconnected,
    send_sms=send_sms,
)


def _call_and_token(call_id: int) -> tuple[Call | None, str]:
    call = call_with_connector(call_id=call_id)
    if call is None or call.connector is None:
        return None, ""
    return call, call.connector.get_auth_token()


# channels ships no types: the wrappers are typed here as what the wrapped functions return.
_load_call: Callable[[int], Awaitable[tuple[Call | None, str]]] = database_sync_to_async(
    _call_and_token
)
_load_context: Callable[[Call], Awaitable[CallContext]] = database_sync_to_async(call_context_for)


class MediaStreamConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels: untyped base
    session: CallSession | None = None
    stream: MediaStreamProtocol | None = None
    lease: StreamLease | None = None

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
        if not await token_aclaim(token, ttl=settings.STELLAR_MEDIA_TOKEN_TTL):
            logger.warning("media stream refused: token of call %s used before", call.call_sid)
            await self.close()
            return
        context = await _load_context(call)
        await self._open(
            call, context, hangup=self.close, monitor=MonitorFeed(call.pk, self.channel_layer)
        )

    async def _open(
        self,
        call: Call,
        context: CallContext,
        *,
        hangup: Callable[[], Awaitable[None]],
        monitor: MonitorFeed,
    ) -> None:
        """Run the call on this socket, unless another socket runs it already; supervisors
        reach it through its control group."""
        lease = StreamLease(call.pk, self.channel_name)
        if not await lease.acquire():
            logger.warning("stream refused: call %s is live on another socket", call.call_sid)
            await self.close(code=CLOSE_CALL_TAKEN)
            return
        self.lease = lease
        self.session = call_session(
            call=call,
            context=context,
            send=self._send_json,
            hangup=hangup,
            monitor=monitor,
            control=TWILIO_CONTROL,
        )
        self.stream = MediaStreamProtocol(
            self.session,
            max_frame_bytes=settings.STELLAR_MAX_FRAME_BYTES,
            on_stop=self._stream_stopped,
        )
        self.control_group = control_group(call.pk)
        await self.channel_layer.group_add(self.control_group, self.channel_name)
        await self.accept()

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Media frames skip Channels' per-message database cleanup.

        Channels runs close_old_connections before every handler, a hop through the process's
        one ORM thread: 50 frames a second per call queued the callers' audio behind all the
        database work of the process (seconds behind at 40 calls). Frames touch no database
        here (writes go through the journal's own thread); connect, disconnect and control
        messages still get the cleanup."""
        if message.get("type") == "websocket.receive":
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.stream is not None:
            if self.lease is not None:
                await self.lease.renew()
            await self.stream.receive(text_data)

    async def _stream_stopped(self) -> None:
        """Twilio's `stop`: the caller hung up (or a REST transfer took the call)."""
        assert self.session is not None
        await self.session.close("Twilio stopped the stream", stopped_by_twilio=True)
        await self.close()

    async def disconnect(self, code: int) -> None:
        if self.lease is not None:
            await self.lease.release()
        if self.session is not None:
            await self.channel_layer.group_discard(self.control_group, self.channel_name)
            await self.session.close(f"Websocket closed ({code})")

    # ---- messages from supervisors' websockets (calls.runtime.monitor protocol) --------------
    async def call_monitor_join(self, message: dict[str, Any]) -> None:
        if self.session is not None:
            self.session.monitor.listener_joined(message["listener"])

    async def call_monitor_leave(self, message: dict[str, Any]) -> None:
        if self.session is not None:
            self.session.monitor.listener_left(message["listener"])

    async def call_take_over(self, message: dict[str, Any]) -> None:
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
