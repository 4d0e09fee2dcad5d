"""Signed, expiring, single-use media-stream tokens bound to one call (the websocket path
segment)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core import signing

_SALT = "stellar.media-stream"
MEDIA_STREAM_PREFIX = "/v1/media/"  # + the token: Twilio drops query strings on stream URLs


def media_stream_path(call_id: int) -> str:
    return MEDIA_STREAM_PREFIX + media_token_for(call_id)


def media_token_for(call_id: int) -> str:
    """A new token each time (the nonce): each opens one stream, once (calls.twilio.stream_claims)."""
    nonce = secrets.token_urlsafe(9)
    return signing.dumps({"call": call_id, "n": nonce}, salt=_SALT, compress=False)


def call_id_from_media_token(token: str, max_age: int | None = None) -> int | None:
    """The call id, or None when the token is forged, malformed or expired."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=max_age or settings.STELLAR_MEDIA_TOKEN_TTL)
    except signing.BadSignature:
        return None
    call_id = data.get("call") if isinstance(data, dict) else None
    return call_id if isinstance(call_id, int) else None
