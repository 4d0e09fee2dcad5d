"""Fixtures over the real services that `make test` starts (python -m tests.harness -- pytest).

- `require_env(name)`: the value of a service variable; FAILS the test when it is missing
  (no test is ever skipped because a service is missing).
- `live_daphne`: Daphne serving stellar.asgi:application on a free port, on the test database.
- `celery_worker_proc`: a real Celery worker on REDIS_URL and the test database.
- `browser` / `page`: headless Debian Chromium driven by Playwright's sync API.
- `twilio_api_base_url`: the Prism mock of Twilio's REST API.

`live_daphne` and `celery_worker_proc` run in other processes, so they only see committed
data: both depend on `transactional_db`. The processes are started once per session (and
again if one died); each test that uses them gets the tail of their log on failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.harness.services import REPO_ROOT, free_port, log_tail, spawn, stop, wait_for_port

# Outbound requests of workspaces go through the egress policy, which refuses loopback unless
# the operator allows it. The tests' own peers (HTTP APIs, the OpenAI-protocol server) listen
# on loopback, so the tests allow exactly that — for this process and the servers it starts.
LOOPBACK_PEERS = ["127.0.0.0/8", "::1/128"]
os.environ["STELLAR_EGRESS_ALLOW"] = ",".join(LOOPBACK_PEERS)
# Simulated callers run up to 8x faster than real time (`realtime=False`); the servers the tests
# start let caller audio run that far ahead of the wall clock (production: 1.05, see settings).
os.environ.setdefault("STELLAR_INBOUND_AUDIO_RATE", "10")

HOW_TO_RUN = "run the tests with `make test` (python -m tests.harness -- pytest ...)"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_env(name: str) -> str:
    """The value of environment variable `name`; fails the calling test when it is unset."""
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"{name} is not set: {HOW_TO_RUN}", pytrace=False)
    return value


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (item.rep_setup / rep_call) for fixtures."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = (getattr(request.node, f"rep_{when}", None) for when in ("setup", "call"))
    return any(report is not None and report.failed for report in reports)


def subprocess_database_url() -> str:
    """DATABASE_URL of pytest-django's test database, for a subprocess (after django_db_setup)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail(f"the test database is {connection.vendor}, not PostgreSQL: {HOW_TO_RUN}")
    db = connection.settings_dict
    auth = quote(db["USER"] or "postgres", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


# Test servers run on a loaded machine (2 CI cores, Whisper, browsers): load is not what they
# test. The holding line would slip into scripts that check what the agent said next, and
# overload admission would turn the next test's caller away. Both have their own tests
# (tests/unit/test_capacity_hold_line.py, tests/test_caps.py); a test may set them back.
LOADED_MACHINE_ENV = {
    "STELLAR_HOLD_LINE_AFTER_MS": "60000",
    "STELLAR_OVERLOAD_SPEECH_WAIT_MS": "1e9",
    "STELLAR_OVERLOAD_TURN_MS": "1e9",
    "STELLAR_OVERLOAD_LOOP_LAG_MS": "1e9",
}


def _child_env(**overrides: str) -> dict[str, str]:
    """The test process's environment, on the test database, for a server subprocess."""
    env = dict(os.environ)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set only around Playwright in this process
    env.update(
        DATABASE_URL=subprocess_database_url(),
        DJANGO_SETTINGS_MODULE="stellar.settings",
        PYTHONUNBUFFERED="1",
        **LOADED_MACHINE_ENV,
    )
    env.update(overrides)
    return env


@dataclass
class ManagedProcess:
    """A long-running subprocess (server or worker) with its log, restartable if it died."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    log: Path
    ready: Callable[[ManagedProcess], None]
    port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def ensure_running(self) -> None:
        if self.alive():
            return
        if self.proc is not None:
            print(f"{self.name} had exited ({self.proc.returncode}); restarting it")
        self.proc = spawn(self.cmd, self.log, env=self.env, cwd=REPO_ROOT)
        try:
            self.ready(self)
        except Exception as exc:
            self.stop()
            pytest.fail(
                f"{self.name} did not start: {exc}\n--- {self.log}\n{log_tail(self.log, 60)}",
                pytrace=False,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGTERM, timeout=15)

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, offset: int, max_lines: int = 80) -> str:
        with open(self.log, "rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-max_lines:])


@contextlib.contextmanager
def _log_on_failure(request: pytest.FixtureRequest, process: ManagedProcess) -> Iterator[None]:
    """Print what `process` logged during the test when the test failed."""
    offset = process.log_size()
    yield
    if _failed(request):
        print(f"--- {process.name} log during this test ({process.log}):")
        print(process.log_since(offset))


# --- Daphne ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveServer:
    url: str  # http://127.0.0.1:<port>
    port: int
    public_url: str  # STELLAR_PUBLIC_URL of the server: sign Twilio requests with this
    ws_url: str  # ws://127.0.0.1:<port>
    process: ManagedProcess = field(repr=False)


def _wait_for_daphne(process: ManagedProcess) -> None:
    wait_for_port(process.port, proc=process.proc, timeout=90)


@contextlib.contextmanager
def daphne_server(name: str, tmp_path_factory, **env: str) -> Iterator[LiveServer]:
    """A Daphne subprocess on the test database and Redis, started on first use."""
    require_env("DATABASE_URL")
    require_env("REDIS_URL")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = ManagedProcess(
        name=name,
        cmd=[sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        + ["stellar.asgi:application"],
        env=_child_env(STELLAR_PUBLIC_URL=url, **env),
        log=tmp_path_factory.mktemp(name) / "daphne.log",
        ready=_wait_for_daphne,
        port=port,
    )
    try:
        yield LiveServer(url, port, url, f"ws://127.0.0.1:{port}", process)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def _daphne_server(django_db_setup, tmp_path_factory) -> Iterator[LiveServer]:
    with daphne_server("daphne", tmp_path_factory) as server:
        yield server


@pytest.fixture
def live_daphne(_daphne_server, transactional_db, request) -> Iterator[LiveServer]:
    """Daphne serving `stellar.asgi:application` from a subprocess on the test database.

    Started on first use and kept for the session; data must be committed to be seen
    (this fixture brings `transactional_db`). Its log tail is printed when the test fails.
    """
    _daphne_server.process.ensure_running()
    with _log_on_failure(request, _daphne_server.process):
        yield _daphne_server


# --- Celery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CeleryWorker:
    node: str  # its node name, e.g. for app.control.ping(destination=[node])
    process: ManagedProcess = field(repr=False)


def _wait_for_worker(process: ManagedProcess) -> None:
    from stellar.celery import app

    node = process.name
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"exited with code {process.proc.returncode}")
        replies = app.control.ping(destination=[node], timeout=0.5)
        if any(node in reply for reply in replies):
            return
    raise TimeoutError(f"{node} did not answer ping in 90s")


@pytest.fixture(scope="session")
def _celery_worker(django_db_setup, tmp_path_factory) -> Iterator[CeleryWorker]:
    require_env("DATABASE_URL")
    require_env("REDIS_URL")
    node = f"stellar-test-{os.getpid()}@localhost"
    process = ManagedProcess(
        name=node,
        cmd=[sys.executable, "-m", "celery", "-A", "stellar", "worker", "--pool=solo", "-c", "1"]
        + ["--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "info"]
        + ["-n", node],
        # A short visibility timeout so a task lost with a killed worker comes back quickly.
        env=_child_env(
            CELERY_TASK_ALWAYS_EAGER="0", CELERY_VISIBILITY_TIMEOUT="5", CELERY_RESTORE_INTERVAL="1"
        ),
        log=tmp_path_factory.mktemp("celery") / "celery.log",
        ready=_wait_for_worker,
    )
    try:
        yield CeleryWorker(node, process)
    finally:
        process.stop()


@pytest.fixture
def celery_worker_proc(_celery_worker, transactional_db, request) -> Iterator[CeleryWorker]:
    """A real Celery worker (`celery -A stellar worker --pool=solo`) on REDIS_URL and the
    test database. Started on first use and kept for the session; tasks still queued from
    an earlier test are purged first. Its log tail is printed when the test fails."""
    from stellar.celery import app

    _celery_worker.process.ensure_running()
    app.control.purge()
    with _log_on_failure(request, _celery_worker.process):
        yield _celery_worker


# --- Chromium ------------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator:
    """Headless Debian Chromium through Playwright (never `playwright install`).

    Playwright's sync API keeps an asyncio loop running in this thread while it lives, so
    for the test's duration DJANGO_ALLOW_ASYNC_UNSAFE=true lets the ORM be used here, and
    `async_to_sync` cannot be called from the test thread. One launch per test (~2 s)
    keeps that loop out of every other test.
    """
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("STELLAR_TEST_CHROMIUM") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail(f"no Chromium at {executable}: apt-get install -y chromium", pytrace=False)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        # Playwright gives each launch a fresh temporary user-data-dir.
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, request, tmp_path) -> Iterator:
    """A page in a fresh browser context (no cookies); on failure its URL and a screenshot
    path are printed."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
        if _failed(request):
            shot = tmp_path / "failure.png"
            with contextlib.suppress(Exception):  # a crashed page must not hide the failure
                tab.screenshot(path=str(shot), full_page=True)
            print(f"--- page at {tab.url}; screenshot: {shot}")
    finally:
        context.close()


# --- Twilio --------------------------------------------------------------------------------


@pytest.fixture
def twilio_api_base_url() -> str:
    """Base URL of the Prism mock of Twilio's REST API (STELLAR_TWILIO_API_BASE_URL)."""
    return require_env("STELLAR_TWILIO_API_BASE_URL")


@pytest.fixture(autouse=True, scope="session")
def _egress_allows_loopback_peers() -> Iterator[None]:
    """Settings may have been read before this module set the environment variable."""
    from django.conf import settings

    previous = getattr(settings, "STELLAR_EGRESS_ALLOW", [])
    settings.STELLAR_EGRESS_ALLOW = LOOPBACK_PEERS
    yield
    settings.STELLAR_EGRESS_ALLOW = previous


@pytest.fixture(autouse=True, scope="session")
def _load_is_not_under_test() -> Iterator[None]:
    """LOADED_MACHINE_ENV for the calls this process runs itself (communicator tests, the
    runtime's unit tests): their load reports reach the same Redis as the servers'. Tests of
    the overload rules set their thresholds with override_settings."""
    from django.conf import settings

    values = {name: float(value) for name, value in LOADED_MACHINE_ENV.items()}
    previous = {name: getattr(settings, name) for name in values}
    for name, value in values.items():
        setattr(settings, name, value)
    yield
    for name, value in previous.items():
        setattr(settings, name, value)
