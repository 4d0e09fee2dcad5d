"""Twilio request signatures, always checked against the public URL Twilio called."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator

logger = logging.getLogger(__name__)


def public_url_for(path_with_query: str, *, websocket: bool = False) -> str:
    """Rebuild the URL Twilio signed from STELLAR_PUBLIC_URL, never from the Host header."""
    base: str = settings.STELLAR_PUBLIC_URL
    if websocket:
        base = (
            "wss://" + base.split("://", 1)[1]
            if base.startswith("https://")
            else ("ws://" + base.split("://", 1)[1])
        )
    return base + path_with_query


def signature_is_valid(
    *, auth_token: str, url: str, params: dict[str, str | list[str]], signature: str
) -> bool:
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def _clean(text: str) -> str:
    """Drop NUL characters: PostgreSQL cannot store them and Twilio never sends them."""
    return text.replace("\x00", "")


def request_params(request: HttpRequest) -> dict[str, str]:
    """Twilio's parameters: query string for GET, form body (plus query extras) for POST."""
    params = {_clean(k): _clean(request.GET.get(k, "")) for k in request.GET}
    if request.method == "POST":
        params.update({_clean(k): _clean(request.POST.get(k, "")) for k in request.POST})
    return params


def request_is_from_twilio(request: HttpRequest, *, auth_token: str) -> bool:
    url = public_url_for(request.get_full_path())
    posted = {k: request.POST.getlist(k) for k in request.POST} if request.method == "POST" else {}
    signed_params: dict[str, str | list[str]] = {
        k: v[0] if len(v) == 1 else v for k, v in posted.items()
    }
    ok = signature_is_valid(
        auth_token=auth_token,
        url=url,
        params=signed_params,
        signature=request.headers.get("X-Twilio-Signature", ""),
    )
    if not ok:
        logger.warning("twilio signature rejected method=%s path=%s", request.method, request.path)
    return ok
