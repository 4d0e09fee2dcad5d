"""Shared pieces of the benchmarks: statistics, /proc readers, and servers started for a run.

Everything started here runs in its own session (process group), dies with this process
(PR_SET_PDEATHSIG) and is stopped group-wide on the way out, whatever the way out is.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# One set of process helpers for the test harness and the benchmarks.
from tests.harness.services import free_port, stop, wait_for_port
from tests.harness.services import spawn as harness_spawn

REPO_ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
SERVER_CORE = os.environ.get("STELLAR_BENCH_SERVER_CORE", "1")
CLIENT_CORE = os.environ.get("STELLAR_BENCH_CLIENT_CORE", "0")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The demo workspace of `manage.py stellar_demo` (calls/management/commands/stellar_demo.py).
# What the caller says in `concurrency` and `listeners` (a knowledge question of the demo agent).
CALLER_LINE = "Hi, what are your opening hours?"
DEMO_IDENTIFIER = "demo-support-line"
DEMO_ACCOUNT_SID = "AC" + "d" * 32
DEMO_AUTH_TOKEN = "demo-auth-token-not-a-real-secret"
DEMO_WEBHOOK = f"/v1/agents/{DEMO_IDENTIFIER}/twilio-config"


# --- statistics ------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    data = sorted(values)
    if not data:
        return math.nan
    k = (len(data) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def pcts(values: Iterable[float], qs: tuple[float, ...] = (50, 95, 99)) -> list[float]:
    data = sorted(values)
    return [percentile(data, q) for q in qs]


def fmt(value: float | None, digits: int = 1, width: int = 0) -> str:
    text = "-" if value is None or (isinstance(value, float) and math.isnan(value)) else None
    if text is None:
        text = f"{value:.{digits}f}"
    return text.rjust(width) if width else text


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine_line() -> str:
    return f"cores={os.cpu_count()} loadavg(1/5/15 min)={loadavg()}"


def banner(title: str) -> None:
    print(f"\n=== {title} === ({time.strftime('%H:%M:%S')}, {machine_line()})", flush=True)


# --- /proc (psutil is not installed) ---------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def core_busy_seconds(core: str | None) -> float:
    """CPU time the given core(s) spent busy (all processes), from /proc/stat."""
    if not core:
        return math.nan
    wanted = {f"cpu{c}" for c in core.split(",")}
    total = 0
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            fields = line.split()
            if fields and fields[0] in wanted:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
                total += user + nice + system + irq + softirq + steal
    except (OSError, ValueError):
        return math.nan
    return total / CLK_TCK


@dataclass
class ProcSample:
    at: float
    cpu: float
    rss: int
    core_busy: float = 0.0


class ProcMonitor:
    """Samples a process's CPU time and RSS; `cpu_percent(t0, t1)` over any window."""

    def __init__(self, pid: int, core: str | None = None):
        self.pid = pid
        self.core = core
        self.samples: list[ProcSample] = []

    def sample(self) -> ProcSample:
        s = ProcSample(
            time.monotonic(),
            cpu_seconds(self.pid),
            rss_bytes(self.pid),
            core_busy_seconds(self.core),
        )
        self.samples.append(s)
        return s

    def _at(self, t: float) -> ProcSample | None:
        best = None
        for s in self.samples:
            if best is None or abs(s.at - t) < abs(best.at - t):
                best = s
        return best

    def cpu_percent(self, t0: float, t1: float) -> float:
        a, b = self._at(t0), self._at(t1)
        if a is None or b is None or b.at - a.at < 0.2:
            return math.nan
        return 100 * (b.cpu - a.cpu) / (b.at - a.at)

    def others_percent(self, t0: float, t1: float) -> float:
        """How much of the server's core other processes used in the window (100 = a core)."""
        a, b = self._at(t0), self._at(t1)
        if a is None or b is None or b.at - a.at < 0.2:
            return math.nan
        return max(0.0, 100 * ((b.core_busy - a.core_busy) - (b.cpu - a.cpu)) / (b.at - a.at))

    def max_rss(self, t0: float, t1: float) -> int:
        return max((s.rss for s in self.samples if t0 <= s.at <= t1), default=0)


def self_cpu_seconds() -> float:
    return cpu_seconds(os.getpid())


# --- processes -------------------------------------------------------------------------------


def spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `cmd` in its own process group (killed with this process), output to `log`."""
    return harness_spawn(cmd, log, env=env, cwd=REPO_ROOT, death_signal=signal.SIGKILL)


def kill9(proc: subprocess.Popen) -> None:
    """SIGKILL the process group now (a crash), and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def pinned(core: str | None, cmd: list[str]) -> list[str]:
    if core is None or core == "" or not shutil.which("taskset"):
        return cmd
    return ["taskset", "-c", core, *cmd]


def pin_self(core: str | None) -> None:
    """Move this process (all threads) to `core`, like `taskset -c`."""
    if core:
        with contextlib.suppress(OSError):
            for tid in os.listdir("/proc/self/task"):
                os.sched_setaffinity(int(tid), {int(c) for c in core.split(",")})


def pin_group(pgid: int, core: str) -> None:
    """Pin every process of a process group (e.g. a PostgreSQL server) to `core`; processes it
    forks later inherit the affinity."""
    cores = {int(c) for c in core.split(",")}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            if os.getpgid(int(entry)) == pgid:
                os.sched_setaffinity(int(entry), cores)


@contextlib.contextmanager
def database(kind: str) -> Iterator[dict[str, str]]:
    """Extra env for the server's database: `auto` = DATABASE_URL if set, else SQLite;
    `sqlite`; `postgres` = DATABASE_URL if set, else a PostgreSQL started here (on the load
    generator's core, so it does not share the server's)."""
    url = os.environ.get("DATABASE_URL", "")
    if kind == "sqlite":
        yield {"DATABASE_URL": ""}
    elif kind == "postgres" and not url.startswith("postgres"):
        from tests.harness.services import postgres_server

        with postgres_server(dbname="stellar_bench") as pg:
            with contextlib.suppress(Exception):
                postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
                pin_group(os.getpgid(postmaster), CLIENT_CORE)
            yield {"DATABASE_URL": pg.url}
    else:
        yield {}


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the Stellar server ----------------------------------------------------------------------


@dataclass
class StellarEnv:
    """A throwaway STELLAR_VAR_DIR with a migrated database and the demo workspace."""

    var_dir: Path
    env: dict[str, str]
    database: str

    def manage(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def tool(self, *args: str, timeout: float = 120) -> str:
        """Run benchmarks._dbtool (Django in a subprocess, on this environment's database)."""
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks._dbtool", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"_dbtool {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout


@contextlib.contextmanager
def stellar_env(
    extra: dict[str, str] | None = None, *, keep: bool = False, demo: bool = True
) -> Iterator[StellarEnv]:
    """Temp var dir; SQLite there, or DATABASE_URL when `extra`/the environment sets one."""
    var_dir = Path(tempfile.mkdtemp(prefix="stellar-bench-"))
    env = dict(os.environ)
    env.update(
        STELLAR_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="stellar.settings",
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
    )
    env.update(extra or {})
    if not env.get("DATABASE_URL"):
        env.pop("DATABASE_URL", None)
    database = env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'stellar.sqlite3'}"
    senv = StellarEnv(var_dir, env, database.split("@")[-1])
    try:
        senv.manage("migrate", "--noinput")
        if demo:
            senv.manage("stellar_demo")
        yield senv
    finally:
        if not keep:
            shutil.rmtree(var_dir, ignore_errors=True)


@dataclass
class Server:
    """A Daphne process serving some ASGI app on a loopback port."""

    proc: subprocess.Popen
    port: int
    log: Path
    core: str | None = None
    monitor: ProcMonitor = field(init=False)

    def __post_init__(self) -> None:
        self.monitor = ProcMonitor(self.proc.pid, self.core)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    async def settle(self, below: float = 10.0, timeout: float = 90.0) -> float:
        """Wait until the server is idle (CPU% over 1 s below `below`), so work queued by one
        round (e.g. transcriptions of calls that already hung up) does not leak into the
        next; returns the seconds waited."""
        import asyncio

        started = time.monotonic()
        while time.monotonic() - started < timeout and self.alive():
            a = self.monitor.sample()
            await asyncio.sleep(1.0)
            b = self.monitor.sample()
            if 100 * (b.cpu - a.cpu) / (b.at - a.at) < below:
                break
        return time.monotonic() - started


def start_daphne(
    app: str,
    env: dict[str, str],
    log: Path,
    *,
    core: str | None = SERVER_CORE,
    port: int | None = None,
    ready_line: str | None = None,
    ready_timeout: float = 120,
) -> Server:
    """Daphne on `port` (free one by default), pinned to `core`; waits for the port and,
    when given, for `ready_line` in its log (e.g. the speech warm-up message)."""
    port = port or free_port()
    env = dict(env)
    env.setdefault("STELLAR_PUBLIC_URL", f"http://{LOOPBACK}:{port}")
    cmd = pinned(core, [sys.executable, "-m", "daphne", "-b", LOOPBACK, "-p", str(port), app])
    offset = log.stat().st_size if log.exists() else 0
    proc = spawn(cmd, log, env)
    server = Server(proc, port, log, core)
    try:
        wait_for_port(port, proc=proc, timeout=90)
        if ready_line:
            deadline = time.monotonic() + ready_timeout
            while ready_line not in log.read_text(errors="replace")[offset:]:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"no {ready_line!r} in the server log")
                time.sleep(0.1)
    except BaseException:
        stop(proc, timeout=5)
        print(f"--- {log}\n{log_tail(log)}", file=sys.stderr)
        raise
    return server


@contextlib.contextmanager
def stellar_server(
    senv: StellarEnv,
    *,
    core: str | None = SERVER_CORE,
    warm: bool = True,
    name: str = "daphne",
    tweaks: dict[str, str] | None = None,
) -> Iterator[Server]:
    """stellar.asgi:application in Daphne on this environment, speech models loaded.
    `tweaks` (STELLAR_BENCH_* variables) run it through benchmarks.tweaked_asgi instead."""
    env = dict(senv.env)
    env["STELLAR_WARMUP"] = "1" if warm else "0"
    env.update(tweaks or {})
    log = senv.var_dir / f"{name}.log"
    app = "benchmarks.tweaked_asgi:application" if tweaks else "stellar.asgi:application"
    server = start_daphne(
        app,
        env,
        log,
        core=core,
        ready_line="Speech stack warm" if warm else None,
    )
    try:
        yield server
    finally:
        stop(server.proc)


# --- caller audio, rendered once -------------------------------------------------------------


@dataclass(frozen=True)
class Speech:
    """A caller line as 20 ms μ-law frames (base64, ready to send) and its voiced span."""

    text: str
    frames: tuple[str, ...]
    last_voiced: int  # index of the last frame louder than line silence
    pcm: object  # int16 ndarray at 8 kHz (for offline stage measurements)

    @property
    def seconds(self) -> float:
        return len(self.frames) * 0.02


def render_caller_lines(texts: list[str], voice: str | None = None) -> dict[str, Speech]:
    """Synthesize each line once with the project's TTS (Piper), as Twilio would carry it."""
    import base64

    from agents.speech.registry import get_tts
    from calls.simulator.playback import last_voiced_frame
    from stellar.kernel.audio import frames, pcm16_to_ulaw, ulaw_to_pcm16

    tts = get_tts()
    out: dict[str, Speech] = {}
    for text in texts:
        pcm = tts.synthesize(text, voice)
        ulaw = pcm16_to_ulaw(pcm)
        chunks = frames(ulaw)
        out[text] = Speech(
            text=text,
            frames=tuple(base64.b64encode(c).decode("ascii") for c in chunks),
            last_voiced=max(0, last_voiced_frame(ulaw)),
            pcm=ulaw_to_pcm16(ulaw).copy(),
        )
    return out


def add_common_args(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="smoke-sized run (about a minute)")
