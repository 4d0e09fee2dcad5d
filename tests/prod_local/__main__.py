"""`make prod-local`: the production topology on this machine, until Ctrl-C.

nginx terminating TLS (self-signed certificate) on https://127.0.0.1:8443, proxying HTTP and
websockets to two Daphne processes, a Celery worker and Celery beat, PostgreSQL and Redis,
all with the production settings. Every option also reads an environment variable:

    --https-port     PROD_LOCAL_HTTPS_PORT     nginx's TLS port (default 8443, 0: any free port)
    --daphne-ports   PROD_LOCAL_DAPHNE_PORTS   comma separated (default 8001,8002)
    --host           PROD_LOCAL_HOST           public host name (default 127.0.0.1; another
                                               name must resolve here, e.g. /etc/hosts)
    --public-url     PROD_LOCAL_PUBLIC_URL     STELLAR_PUBLIC_URL if Twilio reaches you through
                                               a tunnel (default https://HOST:HTTPS_PORT)
    --workdir        PROD_LOCAL_WORKDIR        a new directory to keep data and logs in
                                               (default: a temporary one, removed on exit)
    --hosts          PROD_LOCAL_HOSTS          machines to rehearse (default 1; `make prod-local
                                               HOSTS=2`): each with its own Daphne(s), spool
                                               directory, Celery worker and spool shipper, the
                                               Daphne ports split between them, sharing only
                                               PostgreSQL, Redis and an S3-compatible store
    --s3-url         PROD_LOCAL_S3_URL         that store's endpoint (default: moto on loopback;
                                               another store takes the AWS_* credentials)
    --http-daphnes   PROD_LOCAL_HTTP_DAPHNES   HTTP-class Daphne processes per host (default 1;
                                               0: the media processes answer webhooks too)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from tests.harness.services import log_tail
from tests.prod_local.topology import Options, Topology, TopologyError, prod_local

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)


def _ports(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m tests.prod_local",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--https-port", type=int, default=int(env("PROD_LOCAL_HTTPS_PORT", 8443)))
    parser.add_argument(
        "--daphne-ports", type=_ports, default=_ports(env("PROD_LOCAL_DAPHNE_PORTS", "8001,8002"))
    )
    parser.add_argument("--host", default=env("PROD_LOCAL_HOST", "127.0.0.1"))
    parser.add_argument("--public-url", default=env("PROD_LOCAL_PUBLIC_URL", ""))
    parser.add_argument("--workdir", type=Path, default=env("PROD_LOCAL_WORKDIR") or None)
    parser.add_argument("--hosts", type=int, default=int(env("PROD_LOCAL_HOSTS", 1)))
    parser.add_argument("--s3-url", default=env("PROD_LOCAL_S3_URL", ""))
    parser.add_argument("--http-daphnes", type=int, default=int(env("PROD_LOCAL_HTTP_DAPHNES", 1)))
    parser.add_argument(
        "--log-format", choices=["json", "plain"], default=env("STELLAR_LOG_FORMAT", "json")
    )
    parser.add_argument(
        "--drain-seconds", type=float, default=float(env("STELLAR_DRAIN_SECONDS", 60))
    )
    return parser.parse_args(argv)


def banner(topology: Topology) -> str:
    import django

    os.environ.update(topology.env)  # the demo constants live in a Django command module
    django.setup()
    from calls.management.commands.stellar_demo import (
        DEMO_CONNECTOR_IDENTIFIER,
        DEMO_PASSWORD,
        DEMO_USER,
    )

    public = topology.public_url

    def daphnes(host) -> str:
        return ", ".join(
            [f"Daphne :{d.port}" for d in host.daphnes]
            + [f"HTTP-class Daphne :{d.port}" for d in host.http_daphnes]
        )

    if len(topology.hosts) > 1:
        layout = "; ".join(
            f"{h.name}: {daphnes(h)}, Celery worker, spool shipper" for h in topology.hosts
        )
        shared = f"Celery beat, PostgreSQL, Redis, S3 {topology.s3_url}"
    else:
        layout = daphnes(topology.hosts[0])
        shared = "Celery worker + beat, PostgreSQL, Redis"
    lines = [
        "",
        f"Stellar production topology is up (nginx → {layout}; {shared}).",
        "",
        f"  Studio          {public}/   (self-signed certificate: accept it in the browser)",
        f"  Demo login      user: {DEMO_USER}  password: {DEMO_PASSWORD}",
        f"  Voice webhook   {public}/v1/agents/{DEMO_CONNECTOR_IDENTIFIER}/twilio-config",
        f"  Certificate     {topology.cert}",
        "  Probes/metrics  (one scrape target per Daphne process)",
    ]
    for daphne in [*topology.daphnes, *topology.http_daphnes]:
        lines.append(
            f"                  {daphne.url}/healthz  /readyz  /metrics  (pid {daphne.pid})"
        )
    lines += [
        f"  Logs            {topology.workdir / 'logs'}",
        "",
        "Place a simulated call through nginx (https:// and wss://, signed for the public URL):",
        f"  {sys.executable} -m tests.prod_local.call --url {topology.https_url} \\",
        f"      --cafile {topology.cert}"
        + (f" --public-url {public}" if public != topology.https_url else "")
        + " --say 'What are your opening hours?'",
        "",
        "Ctrl-C stops everything (each Daphne drains its live calls first).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        host=args.host,
        https_port=args.https_port,
        daphne_ports=args.daphne_ports,
        public_url=args.public_url,
        workdir=args.workdir,
        log_format=args.log_format,
        drain_seconds=args.drain_seconds,
        hosts=args.hosts,
        s3_url=args.s3_url,
        http_daphnes=args.http_daphnes,
    )

    def interrupt(signum: int, _frame) -> None:
        for sig in STOP_SIGNALS:  # stopping (draining calls) must not be interrupted
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, interrupt)
    hosts = f" on {args.hosts} hosts, S3" if args.hosts > 1 else ""
    print(f"prod-local: starting PostgreSQL, Redis, migrations, nginx, Daphne, Celery{hosts}...")
    started = time.monotonic()
    try:
        with prod_local(options) as topology:
            print(banner(topology), flush=True)
            print(f"prod-local: up in {time.monotonic() - started:.1f}s", flush=True)
            while not (dead := topology.dead()):
                time.sleep(1)
            for process in dead:
                print(f"prod-local: {process.name} exited ({process.proc.returncode}):")
                print(log_tail(process.log, 30))
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
            print("prod-local: stopping everything", flush=True)
            return 1
    except Interrupted as stopped:
        print(f"prod-local: {stopped}: stopped everything", flush=True)
        return 0
    except TopologyError as exc:
        print(f"prod-local: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in STOP_SIGNALS:
            with contextlib.suppress(ValueError):
                signal.signal(sig, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
