"""Run a command against real services: `python -m tests.harness [--keep] -- COMMAND...`.

Starts PostgreSQL, Redis, the Prism Twilio mock and moto's S3 server on free loopback ports
in a temporary directory, runs COMMAND with these in its environment, then stops every
service, and exits with COMMAND's exit code:

    DATABASE_URL                 postgres://postgres@127.0.0.1:<port>/stellar
    REDIS_URL                    redis://127.0.0.1:<port>/0
    STELLAR_TWILIO_API_BASE_URL  http://127.0.0.1:<port>   (Prism)
    STELLAR_TEST_S3_URL          http://127.0.0.1:<port>   (moto: S3 API, any credentials)
    STELLAR_VAR_DIR              <tmp>/var
    STELLAR_TEST_CHROMIUM        /usr/bin/chromium

Without COMMAND it prints these as `export` lines and waits for Ctrl-C.
SIGINT, SIGTERM and SIGHUP are passed on to COMMAND; the services are stopped in any case.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.services import (
    die_with_parent,
    postgres_server,
    prism_server,
    redis_server,
    s3_server,
)

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def say(message: str) -> None:
    print(f"harness: {message}", file=sys.stderr, flush=True)


def chromium_path() -> str:
    found = os.environ.get("STELLAR_TEST_CHROMIUM") or shutil.which("chromium")
    return found or "/usr/bin/chromium"


class Interrupted(BaseException):
    """A signal arrived while the services were starting or being waited on."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _same_terminal_group() -> bool:
    """True when a Ctrl-C on our terminal already reached the child (same foreground group)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


def run_child(command: list[str], env: dict[str, str]) -> int:
    """Run `command` in our process group (so it keeps the terminal), passing signals on."""
    child = subprocess.Popen(command, env=env, preexec_fn=lambda: die_with_parent(signal.SIGTERM))
    received: list[int] = []

    def forward(signum: int, _frame) -> None:
        received.append(signum)
        if signum == signal.SIGINT and _same_terminal_group():
            return  # the terminal sent it to the whole group, the child included
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    deadline = None
    while (code := child.poll()) is None:
        if received and deadline is None:
            deadline = time.monotonic() + 30
        if deadline is not None and time.monotonic() > deadline:
            say(f"{command[0]} ignored {signal.Signals(received[0]).name} for 30s: killing it")
            child.kill()
            deadline = float("inf")
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=0.5)
    for sig in FORWARDED:
        signal.signal(sig, signal.SIG_IGN)  # stopping the services must not be interrupted
    return 128 - code if code < 0 else code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (data and service logs)"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    def interrupt(signum: int, _frame) -> None:
        raise Interrupted(signum)

    for sig in FORWARDED:
        signal.signal(sig, interrupt)

    tmp = Path(tempfile.mkdtemp(prefix="stellar-harness-"))
    tmp.chmod(0o755)  # PostgreSQL runs as an unprivileged user when we are root
    try:
        with contextlib.ExitStack() as services:
            started, timings = time.monotonic(), []
            exported: dict[str, str] = {}
            for name, variable, factory in (
                ("PostgreSQL", "DATABASE_URL", postgres_server),
                ("Redis", "REDIS_URL", redis_server),
                ("Prism", "STELLAR_TWILIO_API_BASE_URL", prism_server),
                ("moto S3", "STELLAR_TEST_S3_URL", s3_server),
            ):
                t0 = time.monotonic()
                exported[variable] = services.enter_context(factory(tmp)).url
                timings.append(f"{name} {exported[variable]} ({time.monotonic() - t0:.1f}s)")
            (tmp / "var").mkdir()
            exported["STELLAR_VAR_DIR"] = str(tmp / "var")
            exported["STELLAR_TEST_CHROMIUM"] = chromium_path()
            say(f"started in {time.monotonic() - started:.1f}s: " + ", ".join(timings))
            if command:
                code = run_child(command, {**os.environ, **exported})
            else:
                for key, value in exported.items():
                    print(f"export {key}={value}", flush=True)
                say("services are up; Ctrl-C stops them")
                with contextlib.suppress(Interrupted):
                    signal.pause()
                code = 0
            stopping = time.monotonic()
        say(f"services stopped in {time.monotonic() - stopping:.1f}s")
        return code
    except Interrupted as stop:
        say(f"{stop}: services stopped")
        return 128 + stop.signum
    finally:
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_IGN)
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
