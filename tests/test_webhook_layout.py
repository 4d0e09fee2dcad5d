"""The webhook path under load (issue 20): one transaction per webhook, the HTTP process class
(STELLAR_PROCESS_ROLE=http) and the connection-pool settings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from django.test import override_settings

from calls.models import Call, CallEvent, CallStatus
from tests.harness.services import REPO_ROOT
from tests.test_voice_webhook import PUBLIC, signed_post
from tests.twilio_call import build_line, voice_params


@pytest.fixture
def public_url():
    with override_settings(STELLAR_PUBLIC_URL=PUBLIC, ALLOWED_HOSTS=["*"]):
        yield


class Boom(Exception):
    pass


@pytest.mark.django_db
@pytest.mark.usefixtures("public_url")
def test_voice_webhook_commits_the_call_and_its_event_together(client, monkeypatch):
    """A failure after the call row was written leaves no half call behind (one transaction,
    hence one commit per webhook): Twilio's retry then starts the call cleanly."""
    line = build_line()
    params = voice_params()

    def failing_event(**_kwargs):
        raise Boom

    monkeypatch.setattr("calls.twilio.inbound.call_event_add", failing_event)
    client.raise_request_exception = True
    with pytest.raises(Boom):
        signed_post(client, line, line.connector.webhook_path, params)
    assert not Call.objects.filter(call_sid=params["CallSid"]).exists()

    monkeypatch.undo()
    response = signed_post(client, line, line.connector.webhook_path, params)
    assert response.status_code == 200
    call = Call.objects.get(call_sid=params["CallSid"])
    assert CallEvent.objects.filter(call=call, kind="webhook").count() == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("public_url")
def test_status_callback_event_and_status_commit_together(client, monkeypatch):
    line = build_line()
    params = voice_params()
    assert signed_post(client, line, line.connector.webhook_path, params).status_code == 200
    path = f"/v1/agents/{line.connector.identifier}/call-status"
    status = {**params, "CallStatus": "completed", "CallDuration": "7"}

    def failing_end(**_kwargs):
        raise Boom

    monkeypatch.setattr("calls.services.call_end", failing_end)
    client.raise_request_exception = True
    with pytest.raises(Boom):
        signed_post(client, line, path, status)
    call = Call.objects.get(call_sid=params["CallSid"])
    assert call.status == CallStatus.RINGING
    assert not CallEvent.objects.filter(call=call, kind="status_callback").exists()

    monkeypatch.undo()
    assert signed_post(client, line, path, status).status_code == 204
    call.refresh_from_db()
    assert call.status == CallStatus.COMPLETED and call.duration_seconds == 7


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (settings and stellar.asgi are read once per process)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "STELLAR_PROC"))}
    base.update(DJANGO_SETTINGS_MODULE="stellar.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_http_role_refuses_websockets_and_loads_no_speech(tmp_path):
    done = _python(
        """
        import asyncio, os, threading
        os.environ["STELLAR_WARMUP"] = "1"  # the shared environment asks for the models
        from stellar.asgi import application
        from agents.speech import registry

        async def handshake():
            sent = []
            messages = [{"type": "websocket.connect"}]

            async def receive():
                return messages.pop(0) if messages else await asyncio.sleep(5)

            async def send(message):
                sent.append(message)

            scope = {"type": "websocket", "path": "/v1/media/x", "headers": [], "query_string": b""}
            await application(scope, receive, send)
            return sent

        print("SENT", [m["type"] for m in asyncio.run(handshake())])
        print("WARMUP", os.environ["STELLAR_WARMUP"])
        print("THREADS", sorted(t.name for t in threading.enumerate()))
        print("LOADED", not registry.not_loaded())
        """,
        STELLAR_PROCESS_ROLE="http",
        STELLAR_VAR_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert lines["SENT"] == "['websocket.close']"  # before accept: Daphne answers 403
    assert lines["WARMUP"] == "0"  # so /readyz does not wait for models never loaded
    assert "speech-warmup" not in lines["THREADS"]
    assert lines["LOADED"] == "False"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STELLAR_PROCESS_ROLE": "media"}, "STELLAR_PROCESS_ROLE='media'"),
        ({"DB_POOL_MAX_SIZE": "5"}, "DB_POOL_MAX_SIZE needs a PostgreSQL DATABASE_URL"),
        (
            {
                "DB_POOL_MAX_SIZE": "5",
                "DB_CONN_MAX_AGE": "60",
                "DATABASE_URL": "postgres://u:p@127.0.0.1:5/x",
            },
            "DB_POOL_MAX_SIZE and DB_CONN_MAX_AGE exclude each other",
        ),
    ],
)
def test_bad_process_settings_are_refused_clearly(tmp_path, env, message):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", **env}
    done = _python("import django; django.setup()", STELLAR_VAR_DIR=str(tmp_path), **env)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and message in done.stderr


def test_pool_settings(tmp_path):
    done = _python(
        """
        from django.conf import settings
        db = settings.DATABASES["default"]
        print(db["CONN_MAX_AGE"], db["OPTIONS"]["pool"])
        """,
        STELLAR_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://u:p@127.0.0.1:5/x",
        DB_POOL_MAX_SIZE="8",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 {'min_size': 2, 'max_size': 8, 'timeout': 10.0}"
