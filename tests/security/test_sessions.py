"""Sessions: a call, its stream and its supervisors are bound to who may have them.

The first case is the exploit from the security review: the voice webhook found a call by CallSid
across all workspaces, so a request signed for one's own connector, carrying another workspace's
CallSid, got that call's IVR parameters and a media token for its stream.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path
from unittest.mock import patch

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings
from django.urls import path

from agents.models import Environment, Membership, Role
from calls.live.listen import take_over_action
from calls.live.monitor_consumer import MonitorConsumer
from calls.live.playground import (
    playground_call_for,
    playground_session_create,
    playground_token_for,
)
from calls.live.playground_consumer import PlaygroundConsumer
from calls.models import Call, CallStatus
from calls.services import call_end
from calls.twilio.routing import websocket_urlpatterns as media_routes
from calls.twilio.signatures import public_url_for
from calls.twilio.tokens import media_stream_path
from connectors.services import connector_update
from stellar import health
from stellar.kernel.logging_json import JsonFormatter, TextFormatter
from tests.factories import api_client, world_make
from tests.twilio_call import build_line, new_call_sid, voice_params

PUBLIC = "https://stellar.example.com"
IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def public_url():
    cache.clear()
    with override_settings(
        STELLAR_PUBLIC_URL=PUBLIC, ALLOWED_HOSTS=["*"], CHANNEL_LAYERS=IN_MEMORY
    ):
        yield
    cache.clear()


def signed_post(client, line, params):
    path = line.connector.webhook_path
    signature = line.validator.compute_signature(PUBLIC + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


# --- the voice webhook: CallSid format and binding -------------------------------------------


@pytest.mark.django_db
def test_another_workspaces_call_sid_on_ones_own_connector_gets_nothing_of_that_call(client):
    # Given a live call of workspace A, with what its IVR collected
    victim = build_line()
    params = voice_params(AccountNumber="NL91ABNA0417164300")
    assert signed_post(client, victim, params).status_code == 200
    # When the owner of workspace B signs a webhook for their own connector with A's CallSid
    attacker = build_line()
    response = signed_post(client, attacker, voice_params(call_sid=params["CallSid"]))
    # Then they get a clean refusal: no IVR parameters, no stream, no media token
    body = response.content.decode()
    assert response.status_code == 400
    assert "NL91ABNA0417164300" not in body and "Stream" not in body
    call = Call.objects.get(call_sid=params["CallSid"])
    assert call.connector_id == victim.connector.pk
    assert not call.events.filter(kind="webhook_retry").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "call_sid",
    ["CA" + "a" * 63, "CA../../recordings/1", "CA" + "A" * 32, "PG" + "0" * 32, ""],
    ids=["65 chars", "path", "upper case", "not a call", "empty"],
)
def test_a_malformed_call_sid_is_a_clean_400_and_stores_nothing(client, call_sid):
    # Given a signed webhook whose CallSid is not Twilio's format
    line = build_line()
    # When it reaches the voice webhook and the status callback
    answer = signed_post(client, line, {**voice_params(), "CallSid": call_sid})
    status_path = line.connector.webhook_path.replace("twilio-config", "call-status")
    status_params = {**voice_params(CallStatus="completed"), "CallSid": call_sid}
    signature = line.validator.compute_signature(PUBLIC + status_path, status_params)
    status = client.post(status_path, status_params, HTTP_X_TWILIO_SIGNATURE=signature)
    # Then both say 400, never 500, and no call row holds it
    assert answer.status_code == 400
    assert status.status_code == 400
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_twilio_retrying_the_webhook_on_the_same_connector_still_answers(client):
    # Given a call Twilio already announced
    line = build_line()
    params = voice_params(call_sid=new_call_sid())
    first = signed_post(client, line, params)
    # When Twilio repeats the webhook for the same connector
    second = signed_post(client, line, params)
    # Then it is answered as before, on the same call
    assert first.status_code == second.status_code == 200
    assert Call.objects.filter(call_sid=params["CallSid"]).count() == 1


# --- the media stream: single-use tokens, one socket per call --------------------------------


def media_socket(line, path: str) -> WebsocketCommunicator:
    signature = line.validator.compute_signature(public_url_for(path, websocket=True), {})
    return WebsocketCommunicator(
        URLRouter(media_routes), path, headers=[(b"x-twilio-signature", signature.encode())]
    )


def answered_call(client, line) -> Call:
    params = voice_params()
    assert signed_post(client, line, params).status_code == 200
    return Call.objects.get(call_sid=params["CallSid"])


async def close_db_thread() -> None:
    await database_sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
def test_a_media_token_opens_one_stream_once(client):
    # Given a call and the stream path Twilio was given
    line = build_line()
    path = media_stream_path(answered_call(client, line).pk)

    async def scenario() -> tuple[bool, bool]:
        first = media_socket(line, path)
        opened, _ = await first.connect()
        await first.disconnect()
        # When the same (signed) path is opened again, after the first stream closed
        replay = media_socket(line, path)
        replayed, _ = await replay.connect()
        await close_db_thread()
        return opened, replayed

    opened, replayed = asyncio.run(scenario())
    # Then the first socket ran the call and the replay is refused
    assert opened
    assert not replayed


@pytest.mark.django_db(transaction=True)
def test_a_second_socket_on_a_live_call_is_refused_until_the_first_closes(client):
    # Given a call whose stream is open
    line = build_line()
    call = answered_call(client, line)

    async def scenario() -> tuple[bool, tuple[bool, int | None], bool]:
        live = media_socket(line, media_stream_path(call.pk))
        opened, _ = await live.connect()
        # When another socket arrives for the same call with a fresh, valid token
        second = media_socket(line, media_stream_path(call.pk))
        refused = await second.connect()
        # (a handover that returns to the agent opens the next stream after this one closed)
        await live.disconnect()
        after = media_socket(line, media_stream_path(call.pk))
        reopened, _ = await after.connect()
        await after.disconnect()
        await close_db_thread()
        return opened, refused, reopened

    opened, refused, reopened = asyncio.run(scenario())
    # Then it is refused while the call is live elsewhere, and accepted once it is not
    assert opened
    assert refused == (False, 4409)
    assert reopened


# --- the Playground: editors only, Production admins only, one socket per token --------------


def member(line, name: str, role: str):
    user = get_user_model().objects.create_user(name)
    Membership.objects.create(workspace=line.agent.workspace, user=user, role=role)
    return user


def environment(line, kind: str) -> Environment:
    return Environment.objects.get(workspace=line.agent.workspace, kind=kind)


@pytest.mark.django_db
def test_a_playground_token_opens_one_socket_once():
    # Given an editor's Playground session and its token
    line = build_line()
    editor = member(line, "ed", Role.EDITOR)
    call = playground_session_create(
        user=editor, agent=line.agent, environment=environment(line, "development")
    )
    token = playground_token_for(call=call, user=editor)
    # When the token is used twice
    first = playground_call_for(token=token, user=editor)
    second = playground_call_for(token=token, user=editor)
    # Then only the first opens the session
    assert first == call
    assert second is None


@pytest.mark.django_db
def test_a_member_demoted_to_viewer_cannot_open_their_playground_socket():
    # Given an editor who started a session, then was made a viewer
    line = build_line()
    editor = member(line, "ed", Role.EDITOR)
    call = playground_session_create(
        user=editor, agent=line.agent, environment=environment(line, "development")
    )
    token = playground_token_for(call=call, user=editor)
    Membership.objects.filter(user=editor).update(role=Role.VIEWER)
    # When they open the socket, Then it is refused: membership alone is not enough
    assert playground_call_for(token=token, user=editor) is None


@pytest.mark.django_db
def test_only_admins_run_the_playground_in_production():
    # Given an editor and an admin of the same workspace
    line = build_line()
    editor, admin = member(line, "ed", Role.EDITOR), member(line, "ad", Role.ADMIN)
    production = environment(line, "production")
    # When each starts a session in Production
    with pytest.raises(PermissionDenied, match="Only admins"):
        playground_session_create(user=editor, agent=line.agent, environment=production)
    call = playground_session_create(user=admin, agent=line.agent, environment=production)
    # Then only the admin's exists
    assert call.environment == production


@pytest.mark.django_db
def test_the_playground_page_needs_the_editor_role_and_hides_production_from_editors(client):
    # Given a viewer, an editor and an admin
    line = build_line()
    pages = {}
    for name, role in (("vi", Role.VIEWER), ("ed", Role.EDITOR), ("ad", Role.ADMIN)):
        client.force_login(member(line, name, role))
        pages[name] = client.get(f"/agents/{line.agent.pk}/playground/")
    # Then the viewer is refused and only the admin is offered Production
    production = environment(line, "production")
    assert pages["vi"].status_code == 403
    assert pages["ed"].status_code == pages["ad"].status_code == 200
    assert f'value="{production.pk}"' not in pages["ed"].content.decode()
    assert f'value="{production.pk}"' in pages["ad"].content.decode()


@pytest.mark.django_db
def test_an_editor_cannot_start_a_production_session_by_posting_its_id(client):
    # Given an editor who knows the Production environment's id
    line = build_line()
    client.force_login(member(line, "ed", Role.EDITOR))
    # When they post it to the start endpoint
    response = client.post(
        f"/agents/{line.agent.pk}/playground/sessions/",
        {"environment": environment(line, "production").pk, "version": "draft"},
    )
    # Then no session is created
    assert response.status_code == 400
    assert not Call.objects.filter(source="playground").exists()


# --- Listen & intervene: rights checked again, live ------------------------------------------


def listener(call_id: int, user) -> WebsocketCommunicator:
    app = URLRouter([path("v1/live/calls/<int:call_id>", MonitorConsumer.as_asgi())])
    comm = WebsocketCommunicator(app, f"/v1/live/calls/{call_id}")
    comm.scope["user"] = user
    return comm


def live_playground_call(line) -> Call:
    owner = line.agent.workspace.memberships.get(role=Role.OWNER).user
    call = playground_session_create(
        user=owner, agent=line.agent, environment=environment(line, "development")
    )
    call.status = CallStatus.IN_PROGRESS
    call.save(update_fields=["status"])
    return call


async def until(comm: WebsocketCommunicator, kind: str) -> dict:
    while True:
        message = await comm.receive_json_from(timeout=3)
        if message.get("type") == kind:
            return message


@pytest.mark.django_db(transaction=True)
def test_a_removed_member_stops_listening_at_once():
    # Given a member listening to a live call
    line = build_line()
    call = live_playground_call(line)
    viewer = member(line, "vi", Role.VIEWER)

    async def scenario() -> tuple[dict, dict]:
        comm = listener(call.pk, viewer)
        connected, _ = await comm.connect()
        assert connected
        await until(comm, "snapshot")
        # When an admin removes them from the workspace
        await database_sync_to_async(Membership.objects.filter(user=viewer).delete)()
        removed = await until(comm, "access.removed")
        closed = await comm.receive_output(timeout=3)
        await close_db_thread()
        return removed, closed

    removed, closed = asyncio.run(scenario())
    # Then their socket is told why and closed
    assert "no longer a member" in removed["reason"]
    assert closed == {"type": "websocket.close", "code": 4403}


@pytest.mark.django_db(transaction=True)
def test_take_over_checks_the_role_as_of_now_not_as_of_connect():
    # Given an editor listening, who may take over
    line = build_line()
    call = live_playground_call(line)
    editor = member(line, "ed", Role.EDITOR)

    async def scenario() -> tuple[bool, dict]:
        comm = listener(call.pk, editor)
        await comm.connect()
        snapshot = await until(comm, "snapshot")
        # When they are made a viewer behind the socket's back (no notification at all)
        await database_sync_to_async(Membership.objects.filter(user=editor).update)(
            role=Role.VIEWER
        )
        await comm.send_json_to({"action": "take_over", "handover": "transfer_to_sales"})
        result = await until(comm, "take_over.result")
        await comm.disconnect()
        await close_db_thread()
        return snapshot["can_take_over"], result

    could, result = asyncio.run(scenario())
    # Then the take-over is refused
    assert could
    assert result["ok"] is False and "cannot take over" in result["detail"]


@pytest.mark.django_db(transaction=True)
def test_a_member_demoted_during_a_playground_session_is_disconnected():
    # Given an editor whose Playground socket is open
    line = build_line()
    editor = member(line, "ed", Role.EDITOR)
    call = playground_session_create(
        user=editor, agent=line.agent, environment=environment(line, "development")
    )
    token = playground_token_for(call=call, user=editor)
    app = URLRouter([path("v1/live/playground/<str:token>", PlaygroundConsumer.as_asgi())])

    async def scenario() -> dict:
        comm = WebsocketCommunicator(app, f"/v1/live/playground/{token}")
        comm.scope["user"] = editor
        connected, _ = await comm.connect()
        assert connected
        # When an admin makes them a viewer
        membership = await database_sync_to_async(Membership.objects.get)(user=editor)
        membership.role = Role.VIEWER
        await database_sync_to_async(membership.save)()
        while True:
            output = await comm.receive_output(timeout=3)
            if output["type"] == "websocket.close":
                break
        await close_db_thread()
        return output

    closed = asyncio.run(scenario())
    # Then the session is closed as forbidden
    assert closed == {"type": "websocket.close", "code": 4403}


# --- the lows: public dev keys, the demo, /readyz, the call page, log lines -------------------

PROJECT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    for name in ("SECRET_KEY", "STELLAR_ENCRYPTION_KEYS", "STELLAR_PRODUCTION"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, str(PROJECT / "manage.py"), *args],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_public_development_keys_refuse_a_public_url():
    # Given no keys of one's own, and a public URL others can reach
    refused = manage("check", STELLAR_PUBLIC_URL="https://voice.example.com")
    # When the same server only listens on loopback, or has its own keys
    local = manage("check", STELLAR_PUBLIC_URL="http://127.0.0.1:8000")
    own = manage(
        "check",
        STELLAR_PUBLIC_URL="https://voice.example.com",
        SECRET_KEY="own-" + Fernet.generate_key().decode() * 2,
        STELLAR_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )
    # Then only the public server with the public keys refuses to start, and says why
    assert refused.returncode != 0
    assert "SECRET_KEY and STELLAR_ENCRYPTION_KEYS" in refused.stderr
    assert local.returncode == 0, local.stderr
    assert own.returncode == 0, own.stderr


@pytest.mark.django_db
def test_the_demo_refuses_a_public_url():
    # Given a server whose public URL others can reach
    public = override_settings(STELLAR_PUBLIC_URL="https://voice.example.com")
    # When the demo (a user with a published password) is loaded, Then it refuses
    with public, pytest.raises(CommandError, match="loopback STELLAR_PUBLIC_URL"):
        call_command("stellar_demo")
    assert not get_user_model().objects.filter(username="demo").exists()


@pytest.mark.django_db
def test_readyz_tells_strangers_only_whether_the_process_is_ready(client):
    # Given a failing check whose error names internal hosts
    def broken() -> str:
        raise ConnectionError("redis://10.1.2.3:6379 refused (redis 7.2.4)")

    with patch.dict(health.CHECKS, {"redis": broken}):
        # When a stranger, a probe on loopback and a staff user ask
        stranger = client.get("/readyz", REMOTE_ADDR="203.0.113.9")
        probe = client.get("/readyz", REMOTE_ADDR="127.0.0.1")
        staff = get_user_model().objects.create_user("ops", is_staff=True)
        client.force_login(staff)
        operator = client.get("/readyz", REMOTE_ADDR="203.0.113.9")
    # Then everyone sees 503, and only the probe and staff see which check failed and why
    assert stranger.status_code == probe.status_code == operator.status_code == 503
    assert stranger.json() == {"status": "not ready"}
    assert "10.1.2.3" in probe.json()["checks"]["redis"]["error"]
    assert "10.1.2.3" in operator.json()["checks"]["redis"]["error"]


@pytest.mark.django_db
def test_an_ivr_parameter_named_items_shows_on_the_call_page(client):
    # Given a call whose IVR sent a parameter named like the dict method
    line = build_line()
    params = voice_params(items="3", Digits="1")
    assert signed_post(client, line, params).status_code == 200
    call = Call.objects.get(call_sid=params["CallSid"])
    client.force_login(line.agent.workspace.memberships.get(role=Role.OWNER).user)
    # When its page is opened
    page = client.get(f"/conversations/{call.pk}/")
    # Then it renders both parameters
    body = page.content.decode()
    assert page.status_code == 200
    assert "<code>items</code></dt><dd>3</dd>" in body
    assert "<code>Digits</code></dt><dd>1</dd>" in body


@pytest.mark.parametrize("formatter", [TextFormatter("%(levelname)s %(message)s"), JsonFormatter()])
def test_a_value_with_newlines_cannot_forge_a_log_line(formatter):
    # Given a value from outside with line breaks and a terminal escape in it
    value = "hello\nERROR stellar.auth admin signed in\r\u2028\x85\x1b[2J"
    record = logging.LogRecord("calls", logging.INFO, "", 0, "playground frame %s", (value,), None)
    # When it is logged
    line = formatter.format(record)
    # Then the record stays one line, with the breaks visible as escapes
    assert line.splitlines() == [line]
    assert "\x1b" not in line
    assert "ERROR stellar.auth admin signed in" in line


# --- Draft mode answering real calls in Production: admins only ------------------------------


@pytest.mark.django_db
def test_an_editor_cannot_let_the_draft_answer_in_production_but_an_admin_can():
    # Given a connector of workspace A and its Production environment
    w = world_make()
    production = Environment.objects.get(workspace=w.a.workspace, kind="production")
    draft_in_production = {"environment": production, "version_mode": "draft"}
    # When an editor, then an admin, switch it to the draft in Production
    with pytest.raises(ValidationError, match="Only admins"):
        connector_update(connector=w.a.connector, actor_role=Role.EDITOR, **draft_in_production)
    w.a.connector.refresh_from_db()
    unchanged = (w.a.connector.environment_id, w.a.connector.version_mode)
    connector_update(connector=w.a.connector, actor_role=Role.ADMIN, **draft_in_production)
    # Then only the admin's change stands
    assert unchanged != (production.pk, "draft")
    w.a.connector.refresh_from_db()
    assert (w.a.connector.environment_id, w.a.connector.version_mode) == (production.pk, "draft")


@pytest.mark.django_db
def test_the_api_refuses_an_editor_the_draft_in_production():
    # Given an editor and an admin of workspace A
    w = world_make()
    production = Environment.objects.get(workspace=w.a.workspace, kind="production")
    url = f"/api/v1/phone-connectors/{w.a.connector.pk}/"
    body = {"environment": production.pk, "version_mode": "draft"}
    # When each asks for the draft in Production through the API
    editor = api_client(w.users["editor"]).patch(url, body, format="json")
    staging = api_client(w.users["editor"]).patch(url, {"version_mode": "draft"}, format="json")
    admin = api_client(w.users["admin"]).patch(url, body, format="json")
    # Then the editor gets a clear 400 (Draft elsewhere is still theirs), the admin gets it done
    assert editor.status_code == 400
    assert "Only admins" in str(editor.data)
    assert staging.status_code == 200
    assert admin.status_code == 200


@pytest.mark.django_db
def test_a_workspace_has_at_most_the_configured_number_of_playground_sessions(settings):
    # Given a cap of two sessions and an editor who opened two
    settings.STELLAR_MAX_PLAYGROUND_SESSIONS = 2
    line = build_line()
    editor = member(line, "ed", Role.EDITOR)
    development = environment(line, "development")

    def start() -> Call:
        return playground_session_create(user=editor, agent=line.agent, environment=development)

    first, _second = start(), start()
    # When they start a third, Then it is refused with the reason
    with pytest.raises(ValidationError, match="already has 2 Playground sessions"):
        start()
    # And once one ends, a new one may start
    call_end(call=first, status=CallStatus.COMPLETED, outcome="done")
    assert start().source == "playground"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "number",
    ["+882 1234 5678", "+44 909 879 0000", "+7 495 123 4567"],
    ids=["satellite", "UK premium rate", "country not allowed"],
)
def test_take_over_dials_only_numbers_the_operator_allows(number):
    # Given a live call, When a supervisor asks to take it over on a number outside the policy
    call = live_playground_call(build_line())
    # Then it is refused before anything is dialled
    with pytest.raises(ValidationError):
        take_over_action(call=call, handover=None, destination=number)


@pytest.mark.django_db
def test_take_over_still_dials_an_ordinary_allowed_number():
    call = live_playground_call(build_line())
    assert take_over_action(call=call, handover=None, destination="+31 6 1234 5678") == (
        None,
        "+31612345678",
    )
