"""python -m benchmarks [NAME] [options]: one part by name (listed by --help); no name runs them all."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time

from ._common import loadavg, machine_line

PARTS = {
    "concurrency": "benchmarks.concurrency",
    "turns": "benchmarks.turns",
    "eval": "benchmarks.eval_set",
    "kills": "benchmarks.kills",
    "listeners": "benchmarks.listeners",
    "webhooks": "benchmarks.webhooks",
    "capacity": "benchmarks.capacity",
    "turntaking": "benchmarks.turntaking",
    "overload": "benchmarks.overload",
}


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print("Parts:", ", ".join(PARTS), "— `python -m benchmarks NAME --help` for its knobs.")
        print("Common: --quick (smoke-sized). Without a name, options go to every part.")
        return 0
    if argv and not argv[0].startswith("-"):
        name, rest = argv[0], argv[1:]
        if name not in PARTS:
            print(f"unknown benchmark {name!r}; one of {', '.join(PARTS)}", file=sys.stderr)
            return 2
        importlib.import_module(PARTS[name]).main(rest)
        return 0
    started = time.monotonic()
    print(f"make bench: {machine_line()}")
    failed = []
    for name in PARTS:
        # Each part in a process of its own: parts pin their process to a core, set Django up
        # on their own database, load models; none of that may leak into the next part.
        done = subprocess.run([sys.executable, "-m", "benchmarks", name, *argv], check=False)
        if done.returncode:  # one part failing must not hide the others' numbers
            failed.append(name)
            print(f"\n!!! {name} did not complete (exit {done.returncode})", flush=True)
    print(
        f"\nmake bench done in {time.monotonic() - started:.0f} s; load average {loadavg()}"
        + (f"; incomplete: {', '.join(failed)}" if failed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
