"""Fixtures for the Live tests: a second Daphne (the Studio side), logged-in users, helpers.

The call runs on conftest's `live_daphne` (server A); supervisors and the Playground use
`studio_daphne` (server B), another process on the same PostgreSQL and Redis, whose Twilio
REST calls go through a recording proxy in front of Prism.

Import the fixtures into a test module: `from tests.live_fixtures import studio_daphne`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import websockets
from django.db import connections
from django.test import Client

from tests.conftest import LiveServer, _log_on_failure, daphne_server, require_env
from tests.e2e import words
from tests.peers.twilio_proxy import TwilioRecordingProxy


@pytest.fixture(scope="session")
def twilio_rest_proxy() -> Iterator[TwilioRecordingProxy]:
    with TwilioRecordingProxy(require_env("STELLAR_TWILIO_API_BASE_URL")) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def _studio_server(django_db_setup, tmp_path_factory, twilio_rest_proxy) -> Iterator[LiveServer]:
    with daphne_server(
        "daphne-studio",
        tmp_path_factory,
        STELLAR_TWILIO_API_BASE_URL=twilio_rest_proxy.root_url,
    ) as server:
        yield server


@pytest.fixture
def studio_daphne(_studio_server, transactional_db, request) -> Iterator[LiveServer]:
    """Server B: another Daphne process on the test database and the same Redis."""
    _studio_server.process.ensure_running()
    with _log_on_failure(request, _studio_server.process):
        yield _studio_server


@pytest.fixture
def live_page(page):
    """conftest's `page`; ORM queries made while Playwright runs get a connection of their
    own (another context), closed here so the test database can be dropped."""
    yield page
    connections.close_all()


def session_cookie(user) -> str:
    """A signed-in session for `user` (stored in the test database both servers use)."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def browser_cookie(server: LiveServer, user) -> dict:
    return {"name": "sessionid", "value": session_cookie(user), "url": server.url}


def sign_in(page, server: LiveServer, user) -> None:
    """The browser page is signed in as `user` on `server` (a Playwright page)."""
    page.context.add_cookies([browser_cookie(server, user)])


@dataclass
class Refused:
    status: int


async def ws_open(server: LiveServer, path: str, *, cookie: str | None, origin: str | None = None):
    """A websocket like a browser's: Origin of the server, session cookie; Refused if denied."""
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    try:
        return await websockets.connect(
            server.ws_url + path,
            additional_headers=headers,
            origin=origin or server.url,
            open_timeout=10,
            proxy=None,
        )
    except websockets.InvalidStatus as exc:
        return Refused(exc.response.status_code)


async def ws_receive_until(ws, predicate, timeout: float = 10.0) -> list[dict]:
    """Messages received until one satisfies `predicate` (included); TimeoutError otherwise."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no matching message in {timeout}s; got {seen[-5:]}")
        message = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        seen.append(message)
        if predicate(message):
            return seen


async def listen_then_take_over(
    server: LiveServer, call_id: int, cookie: str, *, heard: str, destination: str
) -> list[dict]:
    """A supervisor on `server` listens until the live transcript says `heard`, then hands the
    caller to `destination`; every message the listener received (the result last)."""
    ws = await ws_open(server, f"/v1/live/calls/{call_id}", cookie=cookie)
    assert not isinstance(ws, Refused), ws
    async with ws:
        seen = await ws_receive_until(
            ws,
            lambda m: m.get("type") == "monitor.transcript" and heard in words(m.get("text")),
            timeout=40,
        )
        await ws.send(json.dumps({"action": "take_over", "destination": destination}))
        seen += await ws_receive_until(
            ws, lambda m: m.get("type") == "take_over.result", timeout=15
        )
    return seen
