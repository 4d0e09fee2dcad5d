"""The Celery app of the kill trials: stellar.celery's app with a short broker visibility timeout.

A task that was running when its worker got SIGKILL stays unacknowledged (acks_late) in Redis
until kombu's visibility timeout passes; the project leaves it at kombu's default (1 hour).
The trials use STELLAR_BENCH_VISIBILITY_TIMEOUT seconds (default 5) so redelivery is seen
within a trial, and sweep for expired messages every second.

    celery -A benchmarks.kill_worker worker --pool=solo
"""

from __future__ import annotations

import os

from stellar.celery import app

PROJECT_TRANSPORT_OPTIONS = dict(app.conf.broker_transport_options or {})
app.conf.broker_transport_options = {
    **PROJECT_TRANSPORT_OPTIONS,
    "visibility_timeout": float(os.environ.get("STELLAR_BENCH_VISIBILITY_TIMEOUT", "5")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
