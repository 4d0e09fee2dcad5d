"""Graceful shutdown of a Daphne process: SIGTERM drains the live calls before the process exits.

Daphne runs on Twisted, whose own SIGTERM handler stops the reactor at once; Daphne then
cancels every open websocket, which cuts each live call mid-sentence. `graceful()` wraps the
ASGI application (counting open connections by kind) and, once the reactor runs, replaces
that handler. On SIGTERM the process:

1. is *draining*: `/readyz` answers 503 `draining` (healthz stays 200: the process is alive);
2. after STELLAR_DRAIN_GRACE_SECONDS (default 0) closes its listening sockets. Connections
   already open carry on; new ones are refused, and a proxy sends them to the other
   processes (nginx retries a refused connection on the next upstream server, webhooks
   included, so Twilio never sees the refusal). Set a grace period when the load balancer
   polls /readyz instead (e.g. its interval x unhealthy threshold);
3. waits until its media streams and in-flight HTTP requests have ended, at most
   STELLAR_DRAIN_SECONDS (default 60) after the signal, then stops the reactor as Daphne
   would have (whatever is still open is cancelled then).

A second SIGTERM, or a SIGINT (Twisted's own handler), stops at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from prometheus_client import REGISTRY, Gauge

from calls.twilio.tokens import MEDIA_STREAM_PREFIX

logger = logging.getLogger(__name__)

CHECK_INTERVAL = 0.25

DRAINING = Gauge("stellar_draining", "1 while this process drains after SIGTERM")
OPEN_CONNECTIONS = Gauge(
    "stellar_open_connections",
    "ASGI connections open on this process (media_stream = live call websockets)",
    ["kind"],
)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


@dataclass
class DrainState:
    draining: bool = False
    started: float = 0.0  # time.monotonic() of the SIGTERM
    deadline: float = 0.0
    listening: bool = True


_state = DrainState()
_open = {"http": 0, "media_stream": 0, "websocket": 0}
_installed = False


class _Reactor(Protocol):
    """The part of Twisted's global reactor used here.

    Twisted declares its reactor interfaces zope-style (methods without `self`), which mypy
    misreads without a zope plugin; this states the same signatures the ordinary way.
    """

    def callWhenRunning(self, callable: Callable[[], object]) -> object: ...
    def callFromThread(self, callable: Callable[[], object]) -> None: ...
    def callLater(self, delay: float, callable: Callable[[], object]) -> object: ...
    def getReaders(self) -> list[object]: ...
    def stop(self) -> None: ...


def _reactor() -> _Reactor:
    """Twisted's global reactor. Imported lazily: importing it installs a reactor, which only
    Daphne should do (it installs the asyncio one before the application is imported)."""
    from twisted.internet import reactor

    return cast(_Reactor, reactor)  # see _Reactor: same object, signatures mypy reads right


def _env_seconds(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        logger.warning(
            "%s=%r is not a number of seconds; using %s", name, os.environ[name], default
        )
        return default


def drain_seconds() -> float:
    """Longest a SIGTERM waits for live calls (STELLAR_DRAIN_SECONDS, default 60)."""
    return _env_seconds("STELLAR_DRAIN_SECONDS", 60.0)


def grace_seconds() -> float:
    """How long a draining process keeps listening (STELLAR_DRAIN_GRACE_SECONDS, default 0)."""
    return _env_seconds("STELLAR_DRAIN_GRACE_SECONDS", 0.0)


def live_calls() -> int:
    """Open media streams on this process (also counting sessions the call path reports)."""
    active = REGISTRY.get_sample_value("stellar_active_calls") or 0.0
    return max(_open["media_stream"], int(active))


def status() -> dict[str, Any]:
    """What /readyz reports about draining."""
    report: dict[str, Any] = {
        "draining": _state.draining,
        "live_calls": live_calls(),
        "http_in_flight": _open["http"],
    }
    if _state.draining:
        report["seconds_left"] = round(max(0.0, _state.deadline - time.monotonic()), 1)
        report["listening"] = _state.listening
    return report


def _kind(scope: Scope) -> str | None:
    if scope["type"] == "http":
        return "http"
    if scope["type"] == "websocket":
        path = scope.get("path", "")
        return "media_stream" if path.startswith(MEDIA_STREAM_PREFIX) else "websocket"
    return None


class ConnectionTracker:
    """ASGI middleware counting the connections open on this process, by kind."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = _kind(scope)
        if kind is None:
            await self.app(scope, receive, send)
            return
        _open[kind] += 1
        OPEN_CONNECTIONS.labels(kind).inc()
        try:
            await self.app(scope, receive, send)
        finally:
            _open[kind] -= 1
            OPEN_CONNECTIONS.labels(kind).dec()


def graceful(application: ASGIApp) -> ASGIApp:
    """Wrap the ASGI application; under Daphne, make SIGTERM drain instead of cutting calls."""
    _install_when_reactor_runs()
    return ConnectionTracker(application)


# --- Twisted side (only under Daphne: it installs the asyncio reactor before our import) ---


def _install_when_reactor_runs() -> None:
    global _installed
    if _installed or "daphne.server" not in sys.modules:
        return  # not served by Daphne (tests, Celery, manage.py): nothing to take over
    _installed = True
    # After startup, i.e. after Twisted installed its own signal handlers.
    _reactor().callWhenRunning(_take_over_sigterm)


def _take_over_sigterm() -> None:
    reactor = _reactor()

    def on_sigterm(signum: int, _frame: object) -> None:
        reactor.callFromThread(_on_sigterm)

    signal.signal(signal.SIGTERM, on_sigterm)
    logger.debug("SIGTERM drains live calls (up to %ss)", drain_seconds())


def _on_sigterm() -> None:
    if _state.draining:
        logger.warning("second SIGTERM: stopping now with %d live call(s)", live_calls())
        _stop()
        return
    now = time.monotonic()
    _state.draining, _state.started = True, now
    _state.deadline = now + drain_seconds()
    DRAINING.set(1)
    logger.warning(
        "SIGTERM: draining %d live call(s) for up to %.0fs; no new connections after %.1fs",
        live_calls(),
        drain_seconds(),
        grace_seconds(),
    )
    reactor = _reactor()
    reactor.callLater(grace_seconds(), _close_listeners)
    reactor.callLater(0, _check)


def _close_listeners() -> None:
    """Stop accepting connections; open ones (live calls) carry on."""
    from twisted.internet import tcp  # twisted stays unimported until Daphne set its reactor

    for reader in _reactor().getReaders():
        if isinstance(reader, tcp.Port):  # also UNIX sockets and fd: endpoints
            # Twisted leaves tcp.Port's methods unannotated.
            logger.info("draining: stopped listening on %s", reader.getHost())  # type: ignore[no-untyped-call]
            reader.stopListening()  # type: ignore[no-untyped-call]
    _state.listening = False


def _check() -> None:
    now = time.monotonic()
    calls, requests = live_calls(), _open["http"]
    if _state.listening and now - _state.started < grace_seconds():
        pass  # keep serving until the load balancer had time to notice /readyz
    elif calls == 0 and requests == 0:
        logger.warning("drained in %.1fs: stopping", now - _state.started)
        _stop()
        return
    elif now >= _state.deadline:
        logger.error(
            "drain time (%.0fs) over: stopping with %d live call(s) and %d request(s)",
            drain_seconds(),
            calls,
            requests,
        )
        _stop()
        return
    _reactor().callLater(CHECK_INTERVAL, _check)


def _stop() -> None:
    from twisted.internet import error  # twisted stays unimported until Daphne set its reactor

    with contextlib.suppress(error.ReactorNotRunning):
        _reactor().stop()
