"""The real `twilio` REST client for a connector's account (credentials decrypted on use)."""

from __future__ import annotations

from django.conf import settings
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from connectors.models import PhoneConnector


def twilio_client_for(connector: PhoneConnector) -> Client:
    client = Client(
        connector.twilio_account_sid,
        connector.get_auth_token(),
        http_client=TwilioHttpClient(timeout=settings.STELLAR_TWILIO_TIMEOUT),
    )
    if settings.STELLAR_TWILIO_API_BASE_URL:
        client.api.base_url = settings.STELLAR_TWILIO_API_BASE_URL.rstrip("/")
    return client
