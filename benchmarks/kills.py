"""Issue 7: kill -9 trials; how many calls lose their recording (target 0).

(a) server: a call streams caller speech to a warm Daphne (speech models loaded; --cold for
    one that is not); after a random 2.5–5 s the server's process group gets SIGKILL. The sweeper (calls.recordings.finalize.calls_sweep_stale with `now` an
    hour ahead) must end the call and finalize it from the spool: one recording, holding
    the audio up to the crash (at most the spool's last unflushed buffer lost).
(b) worker: a finished call with a long spool is enqueued (finalize_call, acks_late); when
    the worker logs it received the task, the worker gets SIGKILL. A restarted worker must
    get the task again and finalize the call exactly once.

--hosts 2: the same trials across two machines that share no disk (issue 20). The Daphne and
this process are host A (own spool directory; this process also plays host A's `spool_ship`,
shipping what the killed Daphne left, via calls.tasks.ship_host_spools), the Celery worker is
host B (another spool directory): every recording is built from the parts host A shipped to
an S3-compatible store (moto on loopback, tests/harness/services.py).

Needs PostgreSQL, Redis and a Celery worker. With DATABASE_URL/REDIS_URL set, a fresh
database on that PostgreSQL (dropped afterwards) and Redis db 13 are used; otherwise both
are started here (tests/harness/services.py). The worker is `celery -A stellar worker
--pool=solo` with CELERY_VISIBILITY_TIMEOUT (--visibility-timeout, default 5 s) and
CELERY_RESTORE_INTERVAL=1, so a task abandoned by a killed worker comes back within a trial
(the project's defaults are printed at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import httpx

from ._client import LeanCall
from ._common import (
    Server,
    add_common_args,
    banner,
    kill9,
    loadavg,
    log_tail,
    render_caller_lines,
    spawn,
    start_daphne,
    stellar_env,
    stop,
    table,
)

CALLER_LINE = "Hello, I would like to know where my parcel is, it has not arrived yet."
SPOOL_LOSS_TOLERANCE_MS = (
    1200  # calls/recordings/spool.py flushes every 50 records (≈ 1 s of audio)
)


@dataclass
class Trial:
    kind: str
    index: int
    call_id: int | None = None
    expected_ms: int = 0
    recorded_ms: int | None = None
    recordings: int = 0
    finalized: bool = False
    caller_audio_ok: bool | None = None
    hit: bool = True  # (b): the kill landed before the task completed
    error: str = ""  # the trial itself could not run (not counted as a lost call)
    seconds: float = 0.0
    note: str = ""

    @property
    def lost(self) -> bool:
        if self.error:
            return False
        if not self.finalized or self.recordings != 1 or self.recorded_ms is None:
            return True
        if self.recorded_ms < self.expected_ms - SPOOL_LOSS_TOLERANCE_MS:
            return True
        return self.caller_audio_ok is False


# --- services ----------------------------------------------------------------------------------


@contextlib.contextmanager
def services(hosts: int = 1) -> Iterator[dict[str, str]]:
    """DATABASE_URL / REDIS_URL for the trials, isolated from anything else using them; with
    two hosts, an S3-compatible store for the spool parts and recordings."""
    db_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    with contextlib.ExitStack() as stack:
        store: dict[str, str] = {}
        if hosts > 1:
            store = stack.enter_context(_object_store())
        if db_url.startswith("postgres"):
            db_url = stack.enter_context(_fresh_database(db_url))
            source = "DATABASE_URL's server (fresh database)"
        else:
            from tests.harness.services import postgres_server

            db_url = stack.enter_context(postgres_server(dbname="stellar_kills")).url
            source = "PostgreSQL started here"
        if redis_url:
            redis_url = urlunsplit(urlsplit(redis_url)._replace(path="/13"))
            source += ", REDIS_URL db 13"
        else:
            from tests.harness.services import redis_server

            redis_url = stack.enter_context(redis_server()).url
            source += ", Redis started here"
        print(
            f"  services: {source}" + (f", S3 {store['STELLAR_S3_ENDPOINT_URL']}" if store else "")
        )
        yield {
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            **store,
        }


@contextlib.contextmanager
def _object_store() -> Iterator[dict[str, str]]:
    """moto's S3 server with a fresh bucket; the settings that put spool parts there."""
    import boto3

    from tests.harness.services import S3_TEST_CREDENTIALS, s3_server

    with s3_server() as s3:
        bucket = f"stellar-kills-{os.getpid()}"
        boto3.client(
            "s3",
            endpoint_url=s3.url,
            aws_access_key_id=S3_TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_TEST_CREDENTIALS["AWS_DEFAULT_REGION"],
        ).create_bucket(Bucket=bucket)
        yield {
            **S3_TEST_CREDENTIALS,
            "STELLAR_SPOOL_STORE": f"s3://{bucket}/spool",
            "STELLAR_SPOOL_STORE_ENDPOINT_URL": s3.url,
            "STELLAR_S3_BUCKET": bucket,
            "STELLAR_S3_ENDPOINT_URL": s3.url,
        }


def host_env(env: dict[str, str], var_dir: Path, host: str) -> dict[str, str]:
    """`env` on machine `host`: its own spool directory (only with an object store)."""
    if "STELLAR_SPOOL_STORE" not in env:
        return env
    return {**env, "STELLAR_SPOOL_DIR": str(var_dir / host / "spool"), "STELLAR_HOST_ID": host}


@contextlib.contextmanager
def _fresh_database(url: str) -> Iterator[str]:
    import psycopg

    name = f"stellar_kills_{os.getpid()}"
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with contextlib.suppress(Exception), psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Worker:
    """`celery -A stellar worker --pool=solo` that can be killed and restarted."""

    def __init__(self, env: dict[str, str], log: Path, visibility: int):
        self.env = {
            **env,
            "CELERY_VISIBILITY_TIMEOUT": str(visibility),
            "CELERY_RESTORE_INTERVAL": "1",
        }
        self.log = log
        self.node = f"bench-kills-{os.getpid()}@localhost"
        self.proc = None

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        cmd = [sys.executable, "-m", "celery", "-A", "stellar", "worker"]
        cmd += ["--pool=solo", "-c", "1", "--without-heartbeat", "--without-gossip"]
        cmd += ["--without-mingle", "-l", "info", "-n", self.node]
        self.proc = spawn(cmd, self.log, self.env)
        deadline = time.monotonic() + 60
        while " ready." not in self.since(offset):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{log_tail(self.log)}")
            time.sleep(0.05)

    def since(self, offset: int) -> str:
        with open(self.log, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def kill(self) -> None:
        if self.proc is not None:
            kill9(self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout=10)


# --- Django, in this process (only this part uses it) -----------------------------------------


def _django(env: dict[str, str]) -> None:
    """Settings are read once per process: this part must be the first to set Django up."""
    os.environ.update({k: v for k, v in env.items() if k in _DJANGO_ENV})
    os.environ["DJANGO_SETTINGS_MODULE"] = "stellar.settings"
    import django
    from django.conf import settings

    if settings.configured:
        raise RuntimeError("Django is already set up in this process: run `kills` on its own")
    django.setup()


_DJANGO_ENV = (
    *("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "STELLAR_VAR_DIR", "STELLAR_SPOOL_DIR"),
    *("STELLAR_HOST_ID", "STELLAR_SPOOL_STORE", "STELLAR_SPOOL_STORE_ENDPOINT_URL"),
    *("STELLAR_S3_BUCKET", "STELLAR_S3_ENDPOINT_URL"),
    *("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"),
)


def _ship_left_spools() -> list[int]:
    """Host A's `spool_ship` sweep (no-op without an object store): the killed Daphne's spool
    is locked by nobody now, so it goes to the store."""
    from calls.tasks import ship_host_spools

    return ship_host_spools(grace=0)


def _tool(name: str, **kwargs):
    from . import _dbtool

    return getattr(_dbtool, "cmd_" + name.replace("-", "_"))(SimpleNamespace(**kwargs))


def _call_id(sid: str) -> int | None:
    from calls.models import Call

    return Call.objects.filter(call_sid=sid).values_list("pk", flat=True).first()


def _wait_finalized(call_id: int, timeout: float) -> dict:
    from django.db import close_old_connections

    deadline = time.monotonic() + timeout
    while True:
        close_old_connections()
        info = _tool("recording", call_id=call_id, energy=True)
        if info["finalized"] or time.monotonic() > deadline:
            return info
        time.sleep(0.2)


# --- (a) server killed mid-call -----------------------------------------------------------------


async def _doomed_call(server: Server, speech, kill_after: float) -> tuple[LeanCall, float, float]:
    """Stream until killed; returns the call, when `start` went out and when the kill came."""
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        call = LeanCall(server.url, http)

        async def script(c: LeanCall) -> None:
            await asyncio.sleep(0.6)
            while True:
                c.say(speech)
                await asyncio.sleep(speech.seconds + 0.4)

        task = asyncio.create_task(call.run(60.0, script))
        while call.stats.connected_at is None and not task.done():
            await asyncio.sleep(0.01)
        await call.started.wait()
        started = time.monotonic()
        await asyncio.sleep(kill_after)
        killed = time.monotonic()
        kill9(server.proc)
        await asyncio.wait_for(task, 15)
        return call, started, killed


def server_trial(i: int, senv, speech, rnd: random.Random, cold: bool = False) -> Trial:
    trial = Trial("server", i)
    t0 = time.monotonic()
    server = start_daphne(
        "stellar.asgi:application",
        {**host_env(senv.env, senv.var_dir, "host-a"), "STELLAR_WARMUP": "0" if cold else "1"},
        senv.var_dir / "daphne.log",
        core=None,
        ready_line=None if cold else "Speech stack warm",
    )
    try:
        call, started, killed = asyncio.run(_doomed_call(server, speech, rnd.uniform(2.5, 5.0)))
    finally:
        stop(server.proc, timeout=2)
    trial.call_id = _call_id(call.stats.call_sid)
    trial.expected_ms = int((killed - started) * 1000)
    if trial.call_id is None:
        trial.note = f"no call row ({call.stats.error})"
        return trial
    _ship_left_spools()
    _tool("sweep", now_offset=3600.0)
    info = _wait_finalized(trial.call_id, timeout=30)
    _check(trial, info, speech_from_ms=600)
    trial.seconds = time.monotonic() - t0
    return trial


def _check(trial: Trial, info: dict, speech_from_ms: int | None = None) -> None:
    trial.finalized = info["finalized"]
    trial.recordings = info["recordings"]
    trial.recorded_ms = info.get("duration_ms")
    caller = info.get("caller_rms") or []
    if speech_from_ms is not None and trial.recorded_ms:
        # The caller talks from 0.6 s on with short gaps: every full second of the recording
        # (up to the crash) holds speech energy on the left channel.
        secs = caller
        trial.caller_audio_ok = bool(secs) and min(secs) > 100
        if not trial.caller_audio_ok:
            trial.note = f"caller RMS per second {caller}"
    if not trial.finalized:
        trial.note = f"not finalized (events: {', '.join(info.get('events', []))})"


# --- (b) worker killed mid-finalize ------------------------------------------------------------


def worker_trial(i: int, worker: Worker, spool_seconds: float, redelivery_timeout: float) -> Trial:
    trial = Trial("worker", i)
    t0 = time.monotonic()
    if worker.proc is None or worker.proc.poll() is not None:
        worker.start()
    made = _tool("ended-call", seconds=spool_seconds)
    trial.call_id, trial.expected_ms = made["id"], made["duration_ms"]
    _ship_left_spools()  # two hosts: the call's spool goes to the store, for host B's worker
    offset = worker.size()
    _tool("enqueue", call_id=trial.call_id)
    deadline = time.monotonic() + 20
    while "finalize_call[" not in worker.since(offset) or " received" not in worker.since(offset):
        if time.monotonic() > deadline:
            trial.note = "worker never received the task"
            return trial
        time.sleep(0.002)
    worker.kill()
    before = _tool("recording", call_id=trial.call_id, energy=False)
    trial.hit = not before["finalized"]
    worker.start()
    info = _wait_finalized(trial.call_id, timeout=redelivery_timeout)
    _check(trial, info)
    trial.seconds = time.monotonic() - t0
    return trial


# --- report ---------------------------------------------------------------------------------------


def _summary(trials: list[Trial]) -> list[str]:
    ran = [t for t in trials if not t.error]
    lost = [t for t in ran if t.lost]
    short = [t.expected_ms - t.recorded_ms for t in trials if t.recorded_ms is not None]
    secs = sorted(t.seconds for t in trials if t.seconds)
    return [
        trials[0].kind if trials else "-",
        f"{len(ran)}/{len(trials)}",
        str(sum(t.hit for t in ran)),
        str(len(lost)),
        str(sum(t.recordings > 1 for t in trials)),
        f"{max(short) if short else 0}",
        f"{secs[len(secs) // 2]:.1f}" if secs else "-",
    ]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks kills",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_args(p)
    p.add_argument("--trials", type=int, default=20, help="kills of each kind")
    p.add_argument("--only", choices=("server", "worker"), help="one kind of trial")
    p.add_argument(
        "--cold",
        action="store_true",
        help="(a) call a server whose speech models are not loaded yet (STELLAR_WARMUP=0)",
    )
    p.add_argument("--spool-seconds", type=float, default=600.0, help="(b) call length")
    p.add_argument("--visibility-timeout", type=int, default=5, help="(b) broker, seconds")
    p.add_argument(
        "--hosts",
        type=int,
        choices=(1, 2),
        default=1,
        help="2: Daphne on host A, worker on host B, spool parts through an S3 store",
    )
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.trials = min(args.trials, 3)
    where = " across two hosts (no shared disk)" if args.hosts > 1 else ""
    banner(
        f"kills: {args.trials} trials per kind (SIGKILL server mid-call, worker mid-finalize)"
        + where
    )
    started = time.monotonic()
    rnd = random.Random(7)
    results: dict[str, list[Trial]] = {"server": [], "worker": []}
    with services(args.hosts) as svc, stellar_env(svc) as senv:
        _django(host_env(senv.env, senv.var_dir, "host-a"))  # this process is on host A
        logging.getLogger("httpx").setLevel(logging.WARNING)
        # After Django is set up: the speech registry reads the settings.
        speech = render_caller_lines([CALLER_LINE])[CALLER_LINE]
        worker = Worker(
            host_env(senv.env, senv.var_dir, "host-b"),
            senv.var_dir / "celery.log",
            args.visibility_timeout,
        )
        worker.start()
        try:
            if args.only in (None, "server"):
                for i in range(args.trials):
                    t = _guarded(
                        Trial("server", i), server_trial, i, senv, speech, rnd, cold=args.cold
                    )
                    results["server"].append(t)
                    print(f"  server #{i + 1}: {_line(t)}", flush=True)
            if args.only in (None, "worker"):
                for i in range(args.trials):
                    t = _guarded(
                        Trial("worker", i),
                        worker_trial,
                        i,
                        worker,
                        args.spool_seconds,
                        args.visibility_timeout + 40,
                    )
                    results["worker"].append(t)
                    print(f"  worker #{i + 1}: {_line(t)}", flush=True)
        finally:
            worker.stop()
            from django.db import connections

            connections.close_all()
    from django.conf import settings

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    project_note = (
        f"{options['visibility_timeout']} s (restore every"
        f" {options.get('unacked_restore_interval', 10)} s)"
        if options.get("visibility_timeout")
        else "none (kombu's default 3600 s: a task killed mid-run is redelivered after an hour)"
    )
    rows = [_summary(v) for v in results.values() if v]
    print()
    print(
        table(
            ["kill", "ran", "mid-task", "calls lost", "duplicates", "max ms lost", "s/trial"],
            rows,
        )
    )
    total_lost = sum(t.lost for v in results.values() for t in v)
    print(
        f"\n  calls lost: {total_lost} (target 0). server: recording must hold the audio up to the"
        f" kill, minus ≤ {SPOOL_LOSS_TOLERANCE_MS} ms (spool flush); worker: finalized once after"
        " redelivery. mid-task = kill landed before the task finished."
        f"\n  broker visibility timeout: {args.visibility_timeout} s in these trials; the project"
        f" defaults to {project_note}."
    )
    print(f"  wall {time.monotonic() - started:.0f} s; load average now {loadavg()}")


def _guarded(placeholder: Trial, fn, *args, **kwargs) -> Trial:
    """Run one trial; a trial that cannot run (e.g. the server does not start) is reported,
    not counted as a lost call, and the next trial goes on."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        placeholder.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
        return placeholder


def _line(t: Trial) -> str:
    if t.error:
        return f"DID NOT RUN: {t.error}"
    state = "LOST" if t.lost else "ok"
    rec = (
        f"{t.recorded_ms} ms recorded of {t.expected_ms}"
        if t.recorded_ms is not None
        else "no recording"
    )
    extra = "" if t.hit else " (kill after the task finished)"
    return f"{state}: {rec}, {t.recordings} recording(s){extra} {t.note}".rstrip()


if __name__ == "__main__":
    main()
