"""The test suite runs on the real services: PostgreSQL, Redis, Prism, Chromium, Celery."""

from __future__ import annotations

import urllib.request
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection

from tests.conftest import require_env


@pytest.mark.django_db
def test_database_is_postgresql_and_round_trips():
    require_env("DATABASE_URL")
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE harness_probe (id serial, note text)")
        cursor.execute("INSERT INTO harness_probe (note) VALUES (%s)", ["héllo ☎"])
        cursor.execute("SELECT note FROM harness_probe")
        assert cursor.fetchone() == ("héllo ☎",)


def test_channel_layer_is_redis_and_delivers():
    require_env("REDIS_URL")
    from channels.layers import get_channel_layer

    assert settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis.")
    layer = get_channel_layer()
    assert type(layer).__module__.startswith("channels_redis.")

    async def round_trip() -> dict:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "harness.probe", "text": "ping"})
        received = await layer.receive(channel)
        await layer.flush()
        return received

    assert async_to_sync(round_trip)() == {"type": "harness.probe", "text": "ping"}


def test_twilio_client_talks_to_prism(twilio_api_base_url):
    from twilio.rest import Client

    client = Client("AC" + "0" * 32, "token")
    client.api.base_url = twilio_api_base_url  # every api.twilio.com (2010-04-01) request
    numbers = client.incoming_phone_numbers.list(limit=5)
    assert numbers, "Prism answered with no incoming phone numbers"
    assert numbers[0].sid.startswith("PN")
    assert numbers[0].phone_number.startswith("+")
    call = client.calls.create(to="+15005550006", from_="+15005550001", url="https://x.test/v")
    assert call.sid.startswith("CA")


def test_prism_rejects_what_twilio_would_reject(twilio_api_base_url):
    """Prism validates requests against the spec: a call without To is a 4xx, not a 200."""
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    client = Client("AC" + "0" * 32, "token")
    client.api.base_url = twilio_api_base_url
    with pytest.raises(TwilioRestException) as excinfo:
        client.api.v2010.account.calls.create(to=None, from_="+15005550001", url="https://x.test/")
    assert 400 <= excinfo.value.status < 500


def test_chromium_opens_a_page(page):
    page.goto("data:text/html,<title>Stellar harness</title><p>ok</p>")
    assert page.title() == "Stellar harness"


def test_celery_worker_answers_ping(celery_worker_proc):
    from stellar.celery import app

    replies = app.control.ping(destination=[celery_worker_proc.node], timeout=5)
    assert {celery_worker_proc.node: {"ok": "pong"}} in replies


def test_live_daphne_serves_http(live_daphne):
    assert live_daphne.public_url == live_daphne.url == f"http://127.0.0.1:{live_daphne.port}"
    marker = uuid.uuid4().hex
    try:
        with urllib.request.urlopen(f"{live_daphne.url}/no-such-page-{marker}", timeout=10):
            status = 200
    except urllib.error.HTTPError as error:
        status = error.code
    assert status == 404  # Django answered, through Daphne, from another process
