"""The production process layout on one machine, as a context manager.

    nginx (TLS, self-signed) ──► Daphne #1 ─┐
        https:// and wss://  └─► Daphne #2 ─┼─► PostgreSQL, Redis (channel layer + broker)
                                 Celery worker, Celery beat ─┘

Every process runs with the production settings (STELLAR_PRODUCTION=1, DEBUG off, a generated
SECRET_KEY, `check --deploy` clean) and STELLAR_PUBLIC_URL set to the nginx origin, so Twilio
signatures are checked exactly as they are behind a real proxy. nginx runs from a temporary
prefix as the current user with `deploy/nginx/stellar.conf`, the file production uses.

    with prod_local(Options(https_port=8443)) as topology:
        print(topology.public_url, [d.url for d in topology.daphnes])

`make prod-local` (python -m tests.prod_local) runs it until Ctrl-C;
tests/test_prod_local_e2e.py starts it around its tests.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.harness.services import (
    REPO_ROOT,
    ServiceError,
    free_port,
    log_tail,
    postgres_server,
    redis_server,
    spawn,
    stop,
    wait_for_port,
)

NGINX_SITE_TEMPLATE = REPO_ROOT / "deploy" / "nginx" / "stellar.conf"
LOOPBACK = "127.0.0.1"
MIME_TYPES = Path("/etc/nginx/mime.types")


class TopologyError(ServiceError):
    """A process of the topology did not start; the message ends with its log tail."""


@dataclass
class Options:
    """What to start and where. Zero ports are picked free; empty URLs start a service."""

    host: str = LOOPBACK  # public host name: certificate, server_name, STELLAR_PUBLIC_URL
    https_port: int = 0
    daphne_ports: list[int] = field(default_factory=list)
    daphnes: int = 2  # used when daphne_ports is empty
    public_url: str = ""  # default https://{host}:{https_port}
    database_url: str = ""  # empty: a fresh PostgreSQL in the work directory
    redis_url: str = ""  # empty: a fresh Redis
    workdir: Path | None = None  # empty: a temporary directory, removed afterwards
    secret_key: str = ""  # empty: generated
    encryption_keys: str = ""  # STELLAR_ENCRYPTION_KEYS; empty: a generated Fernet key
    migrate: bool = True
    demo: bool = True  # manage.py stellar_demo (the demo login)
    log_format: str = "json"  # STELLAR_LOG_FORMAT of every Python process
    drain_seconds: float = 60.0  # STELLAR_DRAIN_SECONDS of the Daphne processes
    worker_concurrency: int = 2
    env: dict[str, str] = field(default_factory=dict)  # extra variables for every process
    python: str = sys.executable
    start_timeout: float = 120.0


@dataclass
class Process:
    """One long-running process of the topology, restartable, with its own log file."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    log: Path
    port: int = 0
    stop_timeout: float = 15.0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self.proc = spawn(self.cmd, self.log, env=self.env, cwd=REPO_ROOT)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGTERM, timeout=self.stop_timeout)

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_text(self, since: int = 0) -> str:
        if not self.log.exists():
            return ""
        with open(self.log, "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def failure(self, what: str) -> TopologyError:
        return TopologyError(f"{self.name} {what}\n--- {self.log}\n{log_tail(self.log, 60)}")


@dataclass
class Topology:
    options: Options
    workdir: Path
    public_url: str  # STELLAR_PUBLIC_URL: what Twilio calls and signs
    https_url: str  # where to connect on this machine (nginx on loopback)
    cert: Path  # the self-signed certificate nginx presents (trust it to connect)
    database_url: str
    redis_url: str
    env: dict[str, str]  # the production environment every Python process gets
    nginx: Process
    daphnes: list[Process]
    worker: Process
    beat: Process

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def wss_url(self) -> str:
        return "wss://" + self.https_url.split("://", 1)[1]

    @property
    def processes(self) -> list[Process]:
        return [self.nginx, *self.daphnes, self.worker, self.beat]

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this topology's certificate (and only it)."""
        return ssl.create_default_context(cafile=str(self.cert))

    def http_client(self, **kwargs) -> httpx.Client:
        return httpx.Client(verify=self.ssl_context(), trust_env=False, **kwargs)

    def metrics(self, daphne: Process) -> str:
        """Prometheus text of one Daphne process (one scrape target per process)."""
        response = httpx.get(daphne.url + "/metrics", timeout=10, trust_env=False)
        response.raise_for_status()
        return response.text

    def dead(self) -> list[Process]:
        return [p for p in self.processes if not p.alive()]

    def ensure_running(self) -> None:
        """Start again any process that exited (e.g. a Daphne a test stopped)."""
        for process in self.dead():
            _start_and_wait(self, [process])

    def manage(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return _manage(self.options.python, self.env, *args, timeout=timeout)


# --- the pieces ------------------------------------------------------------------------------


def _manage(python: str, env: dict[str, str], *args: str, timeout: float = 300):
    done = subprocess.run(
        [python, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise TopologyError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def _manage_in_background(python: str, env: dict[str, str], *args: str):
    """Start `manage.py args`; the returned function waits and raises if it failed."""
    proc = subprocess.Popen(
        [python, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def wait() -> None:
        output, _ = proc.communicate(timeout=300)
        if proc.returncode:
            raise TopologyError(f"manage.py {' '.join(args)} failed:\n{output}")

    return wait


def self_signed_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """cert.pem + key.pem for `host`, 127.0.0.1 and localhost (openssl, 30 days)."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise TopologyError("openssl is not installed: apt-get install -y openssl")
    names = {"DNS:localhost", f"IP:{LOOPBACK}"}
    names.add(f"IP:{host}" if host.replace(".", "").isdigit() or ":" in host else f"DNS:{host}")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "30"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={host}"),
            *("-addext", "subjectAltName=" + ",".join(sorted(names))),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return cert, key


def render_site(
    *,
    listen: str,
    server_name: str,
    cert: Path,
    key: Path,
    static_root: Path,
    access_log: Path,
    upstreams: list[int],
) -> str:
    """deploy/nginx/stellar.conf with its {{placeholders}} filled in."""
    text = NGINX_SITE_TEMPLATE.read_text()
    values = {
        "listen": listen,
        "server_name": server_name,
        "ssl_certificate": str(cert),
        "ssl_certificate_key": str(key),
        "static_root": str(static_root),
        "access_log": str(access_log),
        "upstream_servers": "\n".join(
            f"    server {LOOPBACK}:{port} max_fails=1 fail_timeout=10s;" for port in upstreams
        ),
    }
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    if "{{" in text:
        raise TopologyError(f"unfilled placeholder in {NGINX_SITE_TEMPLATE}")
    return text


def nginx_main_conf(prefix: Path, site: Path) -> str:
    """A whole nginx.conf for an unprivileged, foreground nginx living in `prefix`."""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / 'temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers would run as `nobody`: keep the user that owns these files.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    mime = f"    include {MIME_TYPES};\n" if MIME_TYPES.exists() else ""
    return (
        f"daemon off;\n{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"{mime}    default_type application/octet-stream;\n"
        f"{temp}\n"
        f"    include {site};\n"
        "}\n"
    )


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        raise TopologyError("nginx is not installed: apt-get install -y nginx")
    return found


# Variables of the caller's shell (e.g. from `make run`) that would undo the production layout.
NOT_INHERITED = frozenset(
    {
        "DJANGO_DEBUG",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "CELERY_BROKER_URL",
        "CELERY_TASK_ALWAYS_EAGER",
        "STELLAR_STATIC_ROOT",
        "STELLAR_MEDIA_ROOT",
        "STELLAR_SPOOL_DIR",
        "STELLAR_WARMUP",
        "STELLAR_DRAIN_GRACE_SECONDS",
    }
)


def production_env(
    options: Options, *, database_url: str, redis_url: str, public_url: str, var_dir: Path
) -> dict[str, str]:
    """The environment of every Python process: the caller's (speech, LLM, S3, Twilio mock
    settings pass through) with the production settings of this topology on top."""
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        DJANGO_SETTINGS_MODULE="stellar.settings",
        PYTHONUNBUFFERED="1",
        STELLAR_PRODUCTION="1",
        DJANGO_DEBUG="0",
        SECRET_KEY=options.secret_key or secrets.token_urlsafe(50),
        STELLAR_ENCRYPTION_KEYS=options.encryption_keys or Fernet.generate_key().decode(),
        STELLAR_PUBLIC_URL=public_url,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        STELLAR_VAR_DIR=str(var_dir),
        STELLAR_LOG_FORMAT=options.log_format,
        STELLAR_DRAIN_SECONDS=f"{options.drain_seconds:g}",
    )
    env.update(options.env)
    return env


def _wait_ready(topology: Topology, process: Process, deadline: float) -> None:
    """Daphne: /readyz 200 (database, Redis, models); worker: `ready.`; nginx: TLS /healthz."""
    while True:
        if not process.alive():
            raise process.failure(f"exited with code {process.proc.returncode} while starting")
        if time.monotonic() > deadline:
            raise process.failure("was not ready in time")
        if _is_ready(topology, process):
            return
        time.sleep(0.2)


def _is_ready(topology: Topology, process: Process) -> bool:
    try:
        if process in topology.daphnes:
            return httpx.get(process.url + "/readyz", timeout=5, trust_env=False).status_code == 200
        if process is topology.nginx:
            with topology.http_client(timeout=5) as client:
                return client.get(topology.https_url + "/healthz").status_code == 200
    except httpx.HTTPError:
        return False
    if process is topology.worker:
        return " ready." in process.log_text()
    return "beat: Starting" in process.log_text() or "Starting..." in process.log_text()


def _start_and_wait(topology: Topology, processes: list[Process]) -> None:
    for process in processes:
        process.start()
    deadline = time.monotonic() + topology.options.start_timeout
    for process in processes:
        _wait_ready(topology, process, deadline)


def stop_all(topology: Topology) -> None:
    """nginx first (no new traffic), then every Daphne at once (each drains its live calls),
    then the Celery worker (finishes its task) and beat."""
    topology.nginx.stop()
    for group in (topology.daphnes, [topology.worker, topology.beat]):
        running = [p for p in group if p.alive()]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in running:
            process.stop()  # waits (a Daphne drains), then kills what is left of its group


@contextlib.contextmanager
def prod_local(options: Options | None = None) -> Iterator[Topology]:
    """Start the whole topology, yield it, stop every process (nginx first) on the way out."""
    options = options or Options()
    with contextlib.ExitStack() as stack:
        if options.workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="stellar-prod-local-"))
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        else:
            workdir = Path(options.workdir).resolve()
            if workdir.exists() and any(workdir.iterdir()):
                raise TopologyError(f"--workdir {workdir} is not empty: give a new directory")
            workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o755)  # PostgreSQL runs as `nobody` when we are root
        logs = workdir / "logs"
        logs.mkdir(exist_ok=True)

        database_url = options.database_url or stack.enter_context(postgres_server(workdir)).url
        redis_url = options.redis_url or stack.enter_context(redis_server(workdir)).url

        https_port = options.https_port or free_port()
        daphne_ports = list(options.daphne_ports) or [free_port() for _ in range(options.daphnes)]
        public_url = (options.public_url or f"https://{options.host}:{https_port}").rstrip("/")
        if urlsplit(public_url).scheme != "https":
            raise TopologyError(
                f"the public URL must be https:// (Twilio requires it): {public_url}"
            )
        var_dir = workdir / "var"
        env = production_env(
            options,
            database_url=database_url,
            redis_url=redis_url,
            public_url=public_url,
            var_dir=var_dir,
        )

        # `check --deploy` and collectstatic alongside the migrations (each ~2 s of startup).
        side_jobs = [
            _manage_in_background(
                options.python, env, "check", "--deploy", "--fail-level", "WARNING"
            ),
            _manage_in_background(options.python, env, "collectstatic", "--noinput"),
        ]
        if options.migrate:
            _manage(options.python, env, "migrate", "--noinput")
        if options.demo:
            _manage(options.python, env, "stellar_demo")
        for job in side_jobs:
            job()

        nginx_dir = workdir / "nginx"
        (nginx_dir / "temp").mkdir(parents=True, exist_ok=True)
        cert, key = self_signed_certificate(nginx_dir, options.host)
        site = nginx_dir / "stellar.conf"
        site.write_text(
            render_site(
                listen=f"{LOOPBACK}:{https_port}",
                server_name=options.host,
                cert=cert,
                key=key,
                static_root=var_dir / "staticfiles",
                access_log=logs / "nginx-access.log",
                upstreams=daphne_ports,
            )
        )
        conf = nginx_dir / "nginx.conf"
        conf.write_text(nginx_main_conf(nginx_dir, site))
        nginx_cmd = [nginx_binary(), "-p", str(nginx_dir), "-c", str(conf), "-e", "stderr"]
        checked = subprocess.run([*nginx_cmd, "-t"], capture_output=True, text=True)
        if checked.returncode:
            raise TopologyError(f"nginx -t failed for {conf}:\n{checked.stderr}")

        py = options.python
        daphnes = [
            Process(
                name=f"daphne-{i}",
                cmd=[py, "-m", "daphne", "-b", LOOPBACK, "-p", str(port), "--proxy-headers"]
                + ["--access-log", str(logs / f"daphne-{i}.access.log")]
                + ["stellar.asgi:application"],
                env=env,
                log=logs / f"daphne-{i}.log",
                port=port,
                stop_timeout=options.drain_seconds + 15,
            )
            for i, port in enumerate(daphne_ports, start=1)
        ]
        node = f"prod-local-{os.getpid()}@{options.host}"
        worker = Process(
            name="celery-worker",
            cmd=[py, "-m", "celery", "-A", "stellar", "worker", "-l", "info", "-n", node]
            + ["-c", str(options.worker_concurrency), "--without-gossip", "--without-mingle"],
            env=env,
            log=logs / "celery-worker.log",
            stop_timeout=30,
        )
        beat = Process(
            name="celery-beat",
            cmd=[py, "-m", "celery", "-A", "stellar", "beat", "-l", "info"]
            + ["-s", str(workdir / "celerybeat-schedule"), "--pidfile", str(workdir / "beat.pid")],
            env=env,
            log=logs / "celery-beat.log",
        )
        nginx = Process(
            name="nginx",
            cmd=nginx_cmd,
            env=dict(os.environ),
            log=logs / "nginx.log",
            port=https_port,
        )
        topology = Topology(
            options=options,
            workdir=workdir,
            public_url=public_url,
            https_url=f"https://{LOOPBACK}:{https_port}",
            cert=cert,
            database_url=database_url,
            redis_url=redis_url,
            env=env,
            nginx=nginx,
            daphnes=daphnes,
            worker=worker,
            beat=beat,
        )
        stack.callback(stop_all, topology)
        _start_and_wait(topology, [*daphnes, worker, beat])
        _start_and_wait(topology, [nginx])
        wait_for_port(https_port, proc=nginx.proc)
        yield topology
