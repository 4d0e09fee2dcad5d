"""Throwaway local services for tests and local runs: PostgreSQL, Redis, the Prism Twilio mock
and moto's S3-compatible server (the object store of the spool parts).

Each service is a context manager that starts it on a free loopback port, waits until it
answers, yields where it is, and stops it (its whole process group) on the way out, whatever
the way out is. Nothing is installed or configured system-wide: everything lives in a
directory of its own, removed afterwards.

    with postgres_server() as pg, redis_server() as redis, s3_server() as s3:
        os.environ["DATABASE_URL"] = pg.url
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PRISM_BIN = REPO_ROOT / "node_modules" / ".bin" / "prism"
TWILIO_API_SPEC = (
    REPO_ROOT / "node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_api_v2010.json"
)
LOOPBACK = "127.0.0.1"
# PostgreSQL refuses to run as root; it then runs as this user, on files that user owns.
UNPRIVILEGED_USER = "nobody"


class ServiceError(RuntimeError):
    """A service did not start; the message ends with the tail of its log."""


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int,
    host: str = LOOPBACK,
    timeout: float = 30.0,
    proc: subprocess.Popen | None = None,
) -> None:
    """Return once host:port accepts a TCP connection; raise ServiceError if `proc` dies
    first, TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"process exited with code {proc.returncode} before {port} opened")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing accepted connections on {host}:{port} in {timeout}s")
        time.sleep(0.05)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def die_with_parent(sig: int) -> None:
    """In the child before exec: get `sig` when the parent dies, so that a harness killed
    with SIGKILL leaves nothing running (Linux PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, sig)  # PR_SET_PDEATHSIG


def spawn(
    cmd: list[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    death_signal: int = signal.SIGTERM,
) -> subprocess.Popen:
    """Start `cmd` in a new session (its own process group), output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
            extra_groups=[] if user else None,
            start_new_session=True,
            preexec_fn=lambda: die_with_parent(death_signal),
        )


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Send `sig` to the process, wait up to `timeout` s, then SIGKILL its whole group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers in its group, or itself
    proc.wait()


@contextlib.contextmanager
def _service_dir(workdir: Path | None, name: str) -> Iterator[Path]:
    """`workdir/name`, or a fresh temporary directory removed on exit."""
    if workdir is not None:
        path = Path(workdir) / name
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix=f"stellar-{name}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _started(name: str, proc: subprocess.Popen, log: Path, ready) -> None:
    """Run `ready()`; on failure stop `proc` and raise ServiceError with the log tail."""
    try:
        ready()
    except BaseException as exc:
        stop(proc, signal.SIGKILL, timeout=5)
        if isinstance(exc, Exception):
            raise ServiceError(f"{name} did not start: {exc}\n--- {log}\n{log_tail(log)}") from exc
        raise


# --- PostgreSQL ---------------------------------------------------------------------------


def pg_bin_dir() -> Path:
    """The directory holding initdb and postgres: from PATH, else Debian's newest
    /usr/lib/postgresql/<version>/bin (Debian does not put initdb on PATH)."""
    on_path = shutil.which("initdb")
    candidates = [Path(os.path.realpath(on_path)).parent] if on_path else []
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    candidates += [Path(p) for p in reversed(versions)]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    raise ServiceError("PostgreSQL is not installed (no initdb): apt-get install -y postgresql")


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    dbname: str
    data_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{self.dbname}"


@contextlib.contextmanager
def postgres_server(workdir: Path | None = None, dbname: str = "stellar") -> Iterator[Postgres]:
    """A fresh cluster (trust auth for the `postgres` superuser, fsync off) with database
    `dbname`. As root, it runs as `nobody`: `workdir` must then be reachable by that user."""
    bindir = pg_bin_dir()
    run_as = UNPRIVILEGED_USER if os.geteuid() == 0 else None
    with _service_dir(workdir, "postgres") as root:
        data, sockets, log = root / "data", root / "sockets", root / "postgres.log"
        for path in (data, sockets):
            path.mkdir(mode=0o700)
        log.touch()
        if run_as:
            owner = pwd.getpwnam(run_as)
            for path in (root, data, sockets, log):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        initdb = [
            str(bindir / "initdb"),
            *("-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"),
            *("--no-locale", "--no-sync", "--no-instructions"),
        ]
        with open(log, "ab") as out:
            done = subprocess.run(
                initdb,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root,
                user=run_as,
                group=pwd.getpwnam(run_as).pw_gid if run_as else None,
                extra_groups=[] if run_as else None,
                check=False,
            )
        if done.returncode:
            raise ServiceError(f"initdb failed ({done.returncode})\n--- {log}\n{log_tail(log)}")
        port = free_port()
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(port),
            "unix_socket_directories": str(sockets),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        cmd = [str(bindir / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        # SIGINT is PostgreSQL's "fast shutdown"; SIGTERM would wait for clients to leave.
        proc = spawn(cmd, log, cwd=root, user=run_as, death_signal=signal.SIGINT)
        server = Postgres(LOOPBACK, port, "postgres", dbname, data, log)

        def ready() -> None:
            wait_for_port(port, proc=proc, timeout=60)
            client = [str(bindir / "createdb"), "-h", LOOPBACK, "-p", str(port), "-U", "postgres"]
            deadline = time.monotonic() + 60
            while True:  # the port opens before the server accepts logins
                made = subprocess.run([*client, dbname], capture_output=True, text=True)
                if made.returncode == 0:
                    return
                if "starting up" not in made.stderr or time.monotonic() > deadline:
                    raise ServiceError(f"createdb {dbname}: {made.stderr.strip()}")
                time.sleep(0.1)

        _started("PostgreSQL", proc, log, ready)
        try:
            yield server
        finally:
            stop(proc, signal.SIGINT, timeout=20)


@contextlib.contextmanager
def _serving(
    name: str, cmd: list[str], log: Path, *, cwd: Path, port: int, timeout: float = 30.0
) -> Iterator[None]:
    """Run `cmd` until the block ends; ready once it listens on `port`."""
    proc = spawn(cmd, log, cwd=cwd)
    _started(name, proc, log, lambda: wait_for_port(port, proc=proc, timeout=timeout))
    try:
        yield
    finally:
        stop(proc)


# --- Redis --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redis:
    host: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


@contextlib.contextmanager
def redis_server(workdir: Path | None = None) -> Iterator[Redis]:
    """An empty Redis that keeps nothing on disk."""
    binary = shutil.which("redis-server")
    if not binary:
        raise ServiceError("redis-server is not installed: apt-get install -y redis-server")
    with _service_dir(workdir, "redis") as root:
        port, log = free_port(), root / "redis.log"
        cmd = [
            binary,
            *("--port", str(port), "--bind", LOOPBACK, "--dir", str(root)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        ]
        with _serving("Redis", cmd, log, cwd=root, port=port):
            yield Redis(LOOPBACK, port, log)


# --- Prism (Twilio API mock) --------------------------------------------------------------


@dataclass(frozen=True)
class HttpService:
    host: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class Prism(HttpService):
    spec: Path


@contextlib.contextmanager
def prism_server(
    workdir: Path | None = None, spec: Path = TWILIO_API_SPEC, timeout: float = 120.0
) -> Iterator[Prism]:
    """`prism mock` serving the examples of Twilio's 2010-04-01 REST API (from `npm ci`).
    Prism listens only once the spec is loaded, so an open port means ready."""
    for needed in (PRISM_BIN, spec):
        if not needed.exists():
            raise ServiceError(f"{needed} is missing: run `npm ci` in {REPO_ROOT}")
    with _service_dir(workdir, "prism") as root:
        port, log = free_port(), root / "prism.log"
        cmd = [str(PRISM_BIN), "mock", "-h", LOOPBACK, "-p", str(port), str(spec)]
        with _serving("Prism", cmd, log, cwd=REPO_ROOT, port=port, timeout=timeout):
            yield Prism(LOOPBACK, port, log, spec)


# --- S3-compatible object store (moto in server mode) -------------------------------------

MOTO_BIN = Path(sys.executable).parent / "moto_server"
# moto accepts any credentials; boto3 insists on having some.
S3_TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "stellar-test",
    "AWS_SECRET_ACCESS_KEY": "stellar-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3(HttpService):
    pass


@contextlib.contextmanager
def s3_server(workdir: Path | None = None) -> Iterator[S3]:
    """moto's S3 API (`moto_server`, from requirements-dev.txt), in memory: a real HTTP server
    that the real boto3 client talks to. Buckets are created by whoever uses it."""
    if not MOTO_BIN.exists():
        raise ServiceError(f"{MOTO_BIN} is missing: pip install -r requirements-dev.txt")
    with _service_dir(workdir, "s3") as root:
        port, log = free_port(), root / "moto.log"
        cmd = [str(MOTO_BIN), "-H", LOOPBACK, "-p", str(port)]
        with _serving("moto S3", cmd, log, cwd=root, port=port):
            yield S3(LOOPBACK, port, log)
