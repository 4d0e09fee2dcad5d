"""The production process layout on one machine, as a context manager.

    nginx (TLS, self-signed) ──► Daphne #1 ─┐
        https:// and wss://  └─► Daphne #2 ─┼─► PostgreSQL, Redis (channel layer + broker)
                                 Celery worker, Celery beat ─┘

With `hosts=2` (`make prod-local HOSTS=2`) it rehearses two machines that share no disk:

    nginx ──► host-a: Daphne(s), Celery worker, spool shipper, own var dir ─┐
          └─► host-b: Daphne(s), Celery worker, spool shipper, own var dir ─┼─► PostgreSQL,
                                                       Celery beat (one) ───┘   Redis, S3

Each host's Daphne ships its spool parts to the S3-compatible store (moto on loopback unless
`s3_url` is given), where any host's worker finalizes them; recordings are stored there too.
With `http_daphnes=N`, each host also runs N HTTP-class Daphne processes
(STELLAR_PROCESS_ROLE=http) and nginx routes everything but the websockets to them.

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
    S3_TEST_CREDENTIALS,
    ServiceError,
    free_port,
    log_tail,
    postgres_server,
    redis_server,
    s3_server,
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
    daphnes: int = 2  # used when daphne_ports is empty; split evenly over the hosts
    hosts: int = 1  # machines rehearsed; more than one needs (and starts) an object store
    # HTTP-class Daphne processes per host (STELLAR_PROCESS_ROLE=http); 0: one class, the
    # media processes answer the webhooks too.
    http_daphnes: int = 0
    s3_url: str = ""  # S3-compatible endpoint for hosts > 1; empty: moto on loopback
    ship_every: float = 5.0  # seconds between a host's spool sweeps (manage.py spool_ship)
    ship_grace: float = 10.0  # a spool written to less long ago is left to its own stream
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
class Host:
    """One rehearsed machine: its own STELLAR_VAR_DIR (spool), processes and environment."""

    name: str
    var_dir: Path
    env: dict[str, str]
    daphnes: list[Process]  # media class: the live calls
    http_daphnes: list[Process]  # HTTP class: webhooks, callbacks, Studio, API
    worker: Process
    shipper: Process | None  # with an object store: ships spools its Daphnes left behind

    @property
    def processes(self) -> list[Process]:
        shipper = [self.shipper] if self.shipper else []
        return [*self.daphnes, *self.http_daphnes, self.worker, *shipper]


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
    daphnes: list[Process]  # of every host
    worker: Process  # the first host's
    beat: Process
    hosts: list[Host] = field(default_factory=list)
    s3_url: str = ""  # the object store's endpoint (hosts > 1)

    @property
    def workers(self) -> list[Process]:
        return [host.worker for host in self.hosts]

    @property
    def http_daphnes(self) -> list[Process]:
        return [d for host in self.hosts for d in host.http_daphnes]

    def host_of(self, process: Process) -> Host:
        return next(host for host in self.hosts if process in host.processes)

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def wss_url(self) -> str:
        return "wss://" + self.https_url.split("://", 1)[1]

    @property
    def processes(self) -> list[Process]:
        return [self.nginx, *(p for host in self.hosts for p in host.processes), self.beat]

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
    http_upstreams: list[int] | None = None,
) -> str:
    """deploy/nginx/stellar.conf with its {{placeholders}} filled in: `upstreams` the media
    class, `http_upstreams` the HTTP class (none: the media processes serve HTTP too)."""

    def servers(ports: list[int]) -> str:
        return "\n".join(
            f"    server {LOOPBACK}:{port} max_fails=1 fail_timeout=10s;" for port in ports
        )

    text = NGINX_SITE_TEMPLATE.read_text()
    values = {
        "listen": listen,
        "server_name": server_name,
        "ssl_certificate": str(cert),
        "ssl_certificate_key": str(key),
        "static_root": str(static_root),
        "access_log": str(access_log),
        "media_servers": servers(upstreams),
        "http_servers": servers(http_upstreams or upstreams),
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
        "STELLAR_PROCESS_ROLE",
        "STELLAR_HOST_ID",
        "STELLAR_SPOOL_STORE",
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


S3_BUCKET = "stellar"


def object_store_env(s3_url: str, static_root: Path, *, test_credentials: bool) -> dict[str, str]:
    """Spool parts (and recordings) in an S3-compatible store: what lets hosts share no disk.
    The collected static files are a deployed artifact, the same on every host. Credentials:
    moto's throwaway ones, or (another store) the caller's AWS_* variables, passed through."""
    return {
        "STELLAR_SPOOL_STORE": f"s3://{S3_BUCKET}/spool",
        "STELLAR_SPOOL_STORE_ENDPOINT_URL": s3_url,
        "STELLAR_S3_BUCKET": S3_BUCKET,
        "STELLAR_S3_ENDPOINT_URL": s3_url,
        "STELLAR_STATIC_ROOT": str(static_root),
        **(S3_TEST_CREDENTIALS if test_credentials else {}),
    }


def _create_bucket(env: dict[str, str]) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=env["STELLAR_S3_ENDPOINT_URL"],
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if S3_BUCKET not in existing:
        client.create_bucket(Bucket=S3_BUCKET)


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
        if process in topology.daphnes or process in topology.http_daphnes:
            return httpx.get(process.url + "/readyz", timeout=5, trust_env=False).status_code == 200
        if process is topology.nginx:
            with topology.http_client(timeout=5) as client:
                return client.get(topology.https_url + "/healthz").status_code == 200
    except httpx.HTTPError:
        return False
    if process in topology.workers:
        return " ready." in process.log_text()
    if any(process is host.shipper for host in topology.hosts):
        return "spool_ship: sweeping" in process.log_text()
    return "beat: Starting" in process.log_text() or "Starting..." in process.log_text()


def _start_and_wait(topology: Topology, processes: list[Process]) -> None:
    for process in processes:
        process.start()
    deadline = time.monotonic() + topology.options.start_timeout
    for process in processes:
        _wait_ready(topology, process, deadline)


def stop_all(topology: Topology) -> None:
    """nginx first (no new traffic), then every Daphne at once (each drains its live calls),
    then the Celery workers (finish their tasks), beat and the spool shippers (a last sweep
    is not needed: a drained Daphne has shipped its calls' spools)."""
    topology.nginx.stop()
    shippers = [h.shipper for h in topology.hosts if h.shipper]
    daphnes = [*topology.http_daphnes, *topology.daphnes]
    for group in (daphnes, [*topology.workers, topology.beat, *shippers]):
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

        if options.hosts < 1:
            raise TopologyError(f"hosts must be at least 1, not {options.hosts}")
        s3_url, s3_env = "", {}
        if options.hosts > 1:
            s3_url = options.s3_url or stack.enter_context(s3_server(workdir)).url
            s3_env = object_store_env(
                s3_url, workdir / "var" / "staticfiles", test_credentials=not options.s3_url
            )

        https_port = options.https_port or free_port()
        http_ports = [free_port() for _ in range(options.http_daphnes * options.hosts)]
        daphne_ports = list(options.daphne_ports) or [free_port() for _ in range(options.daphnes)]
        if len(daphne_ports) % options.hosts:
            raise TopologyError(
                f"{len(daphne_ports)} Daphne processes do not split evenly over "
                f"{options.hosts} hosts"
            )
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
        env.update(s3_env)
        if s3_env:
            _create_bucket(env)

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
                http_upstreams=http_ports,
            )
        )
        conf = nginx_dir / "nginx.conf"
        conf.write_text(nginx_main_conf(nginx_dir, site))
        nginx_cmd = [nginx_binary(), "-p", str(nginx_dir), "-c", str(conf), "-e", "stderr"]
        checked = subprocess.run([*nginx_cmd, "-t"], capture_output=True, text=True)
        if checked.returncode:
            raise TopologyError(f"nginx -t failed for {conf}:\n{checked.stderr}")

        per_host, per_host_http = len(daphne_ports) // options.hosts, options.http_daphnes
        hosts = [
            _host(
                options,
                env,
                workdir,
                name=HOST_NAMES[i] if options.hosts > 1 else "",
                ports=daphne_ports[i * per_host : (i + 1) * per_host],
                http_ports=http_ports[i * per_host_http : (i + 1) * per_host_http],
                first_index=i * per_host + 1,
            )
            for i in range(options.hosts)
        ]
        py = options.python
        beat = Process(
            name="celery-beat",
            cmd=[py, "-m", "celery", "-A", "stellar", "beat", "-l", "info"]
            + ["-s", str(workdir / "celerybeat-schedule"), "--pidfile", str(workdir / "beat.pid")],
            env=hosts[0].env,
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
            daphnes=[d for host in hosts for d in host.daphnes],
            worker=hosts[0].worker,
            beat=beat,
            hosts=hosts,
            s3_url=s3_url,
        )
        stack.callback(stop_all, topology)
        _start_and_wait(topology, [*(p for h in hosts for p in h.processes), beat])
        _start_and_wait(topology, [nginx])
        wait_for_port(https_port, proc=nginx.proc)
        yield topology


HOST_NAMES = ["host-a", "host-b", "host-c", "host-d", "host-e", "host-f"]


def _host(
    options: Options,
    env: dict[str, str],
    workdir: Path,
    *,
    name: str,
    ports: list[int],
    http_ports: list[int],
    first_index: int,
) -> Host:
    """One machine's processes. Named hosts get their own STELLAR_VAR_DIR (spool) and host id;
    the unnamed single host keeps the topology's (the one-machine layout, no object store)."""
    logs = workdir / "logs"
    var_dir = workdir / name / "var" if name else workdir / "var"
    host_env = {**env, "STELLAR_VAR_DIR": str(var_dir)}
    if name:
        host_env["STELLAR_HOST_ID"] = name
    prefix = f"{name}-" if name else ""
    py = options.python

    def daphne(name: str, port: int, env: dict[str, str]) -> Process:
        return Process(
            name=name,
            cmd=[py, "-m", "daphne", "-b", LOOPBACK, "-p", str(port), "--proxy-headers"]
            + ["--access-log", str(logs / f"{name}.access.log")]
            + ["stellar.asgi:application"],
            env=env,
            log=logs / f"{name}.log",
            port=port,
            stop_timeout=options.drain_seconds + 15,
        )

    daphnes = [
        daphne(f"{prefix}daphne-{i}", port, host_env)
        for i, port in enumerate(ports, start=first_index)
    ]
    http_env = {**host_env, "STELLAR_PROCESS_ROLE": "http"}
    http_daphnes = [
        daphne(f"{prefix}daphne-http-{i}", port, http_env)
        for i, port in enumerate(http_ports, start=1)
    ]
    node = f"prod-local-{os.getpid()}{'-' + name if name else ''}@{options.host}"
    worker = Process(
        name=f"{prefix}celery-worker",
        cmd=[py, "-m", "celery", "-A", "stellar", "worker", "-l", "info", "-n", node]
        + ["-c", str(options.worker_concurrency), "--without-gossip", "--without-mingle"],
        env=host_env,
        log=logs / f"{prefix}celery-worker.log",
        stop_timeout=30,
    )
    shipper = None
    if "STELLAR_SPOOL_STORE" in host_env:
        shipper = Process(
            name=f"{prefix}spool-ship",
            cmd=[py, "manage.py", "spool_ship", "--every", f"{options.ship_every:g}"]
            + ["--grace", f"{options.ship_grace:g}"],
            env=host_env,
            log=logs / f"{prefix}spool-ship.log",
        )
    return Host(name or "local", var_dir, host_env, daphnes, http_daphnes, worker, shipper)
