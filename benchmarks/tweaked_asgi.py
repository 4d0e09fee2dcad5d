"""stellar.asgi with experimental knobs, to try a server change before making it.

    python -m benchmarks concurrency --lookahead 0.2 --switch-interval 0.0005

STELLAR_BENCH_LOOKAHEAD: seconds of agent audio PacedSender sends ahead (calls/runtime/outbound.py
LOOKAHEAD_SECONDS, 0.04 today). STELLAR_BENCH_SWITCH_INTERVAL: sys.setswitchinterval, how
long another thread may hold the GIL before the event loop gets it back (default 0.005 s).
"""

from __future__ import annotations

import os
import sys

if os.environ.get("STELLAR_BENCH_SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["STELLAR_BENCH_SWITCH_INTERVAL"]))

from stellar.asgi import application  # noqa: E402

if os.environ.get("STELLAR_BENCH_LOOKAHEAD"):
    from calls.runtime import outbound

    outbound.LOOKAHEAD_SECONDS = float(os.environ["STELLAR_BENCH_LOOKAHEAD"])

__all__ = ["application"]
