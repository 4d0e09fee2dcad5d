"""Probes and metrics of one server process: /healthz, /readyz and /metrics.

- /healthz: the process answers (liveness). Never touches the database.
- /readyz: this process can take calls now: the database answers a query, Redis answers a
  PING, the speech models are loaded, and it is not draining for shutdown. 503 otherwise.
  Strangers see only {"status": ...}: the checks (with exception texts that name hosts,
  ports and versions) go to probes on loopback, staff users, and the log.
- /metrics: Prometheus text of *this* process's registry. Each Daphne process (and each
  Celery worker child) has its own counters: scrape every Daphne process on its own port.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import redis
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from agents.speech import registry
from stellar import shutdown
from stellar.kernel.urls import host_is_loopback

logger = logging.getLogger(__name__)

REDIS_TIMEOUT = 2.0


def _check_database() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_redis() -> str:
    if not settings.REDIS_URL:
        return "ok (not configured: in-memory channel layer)"

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _check_speech() -> str:
    """Loaded means every provider the warm-up loads is in the registry (never loads here)."""

    missing = registry.not_loaded()
    if not missing:
        return "ok"
    if os.environ.get("STELLAR_WARMUP", "1") == "0":
        return "ok (lazy: STELLAR_WARMUP=0, loaded on the first call)"
    raise RuntimeError("loading " + ", ".join(missing))


CHECKS = {"database": _check_database, "redis": _check_redis, "speech": _check_speech}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def _may_see_details(request: HttpRequest) -> bool:
    """Probes on this machine (the proxy overwrites X-Forwarded-For, so a stranger cannot pose
    as loopback) and signed-in staff."""
    loopback = host_is_loopback(str(request.META.get("REMOTE_ADDR", "")))
    user = getattr(request, "user", None)
    return loopback or bool(user is not None and user.is_authenticated and user.is_staff)


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, Any] = {}
    ready = True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            checks[name] = {"status": check()}
        except Exception as exc:
            checks[name] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:300]}
            logger.warning("readyz: %s check failed: %s", name, checks[name]["error"])
            ready = False
        checks[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    drain = shutdown.status()
    status = "draining" if drain["draining"] else ("ready" if ready else "not ready")
    body: dict[str, Any] = {"status": status}
    if _may_see_details(request):
        body.update(pid=os.getpid(), checks=checks, shutdown=drain)
    response = JsonResponse(body, status=200 if status == "ready" else 503)
    # Not ready is a state the body reports, not a server error for django.request to log.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
