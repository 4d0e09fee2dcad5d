"""Caps on live calls and the media processes' load, shared by every server process.

A call that may reach the agent takes a *lease* at the voice webhook: its CallSid in one sorted
set per connector and one per workspace, scored by when the lease expires. The process running
its media stream refreshes the lease while the stream lives; the call's end (status callback,
our own hang-up, stream stop) removes it. Expired members are swept before every count, so a
killed process's calls stop counting `STELLAR_CALL_LEASE_SECONDS` after it stopped refreshing.

Each media process also publishes how loaded it is (calls.runtime.load) under a key that
expires on its own; the webhook refuses new calls when every fresh report says overloaded.

With REDIS_URL the board lives in Redis (one Lua script admits atomically against both caps);
without it (`make run`: one process) an in-process board with the same interface.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any, Protocol

import redis
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from connectors.models import OverflowAction, PhoneConnector, WorkspaceCallCap
from stellar.kernel.phone import check_destination

logger = logging.getLogger(__name__)

DEFAULT_OVERFLOW_MESSAGE = (
    "Sorry, all our lines are busy right now. Please call again in a few minutes. Goodbye."
)
# From the webhook to the media stream's start: the lease must outlive Twilio connecting.
RING_SECONDS = 60
LOAD_KEY_PREFIX = "stellar:load:"
OVERFLOW_COUNTER_TTL = 2 * 86400
MAX_OVERFLOW_MESSAGE = 300  # PhoneConnector.overflow_message


def lease_seconds() -> float:
    return float(settings.STELLAR_CALL_LEASE_SECONDS)


def connector_key(connector_id: int) -> str:
    return f"stellar:calls:connector:{connector_id}"


def workspace_key(workspace_id: int) -> str:
    return f"stellar:calls:workspace:{workspace_id}"


def _overflow_key(connector_id: int, day: datetime.date) -> str:
    return f"stellar:overflowed:{connector_id}:{day.isoformat()}"


@dataclass(frozen=True)
class CallLease:
    """What a live call holds: its SID in its connector's and its workspace's set."""

    call_sid: str
    connector_id: int
    workspace_id: int

    @property
    def keys(self) -> tuple[str, str]:
        return connector_key(self.connector_id), workspace_key(self.workspace_id)


@dataclass(frozen=True)
class LoadReport:
    """One media process's load, as it last published it."""

    process: str
    active_calls: int
    speech_wait_ms: float  # how long a job waited for a speech thread (recent max)
    turn_p90_ms: float  # recent caller-turn latency, 90th percentile (0: no turns yet)
    overloaded: bool
    reason: str = ""
    loop_lag_ms: float = 0.0  # how far its event loop is behind (sustained)


class Board(Protocol):
    def admit(self, caps: list[tuple[str, int | None]], member: str, expires: float) -> int:
        """Add `member` to every set unless one is at its cap; -1 when added (or already
        there), else the index of the first full set."""

    def refresh(self, keys: Iterable[str], member: str, expires: float, *, xx: bool) -> None:
        """Set the member's expiry; with `xx` only where it is still there (never re-adds a
        lease released or swept meanwhile)."""

    def release(self, keys: Iterable[str], member: str) -> None: ...

    def count(self, key: str) -> int: ...

    def incr(self, key: str, ttl: int) -> None: ...

    def get_int(self, key: str) -> int: ...

    def publish_load(self, report: LoadReport, ttl: float) -> None: ...

    def load_reports(self) -> list[LoadReport]: ...


# KEYS: the sets; ARGV: now, expires, member, then one cap per key (-1: none).
_ADMIT = """
local now, expires, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i, key in ipairs(KEYS) do redis.call('ZREMRANGEBYSCORE', key, '-inf', now) end
if redis.call('ZSCORE', KEYS[1], member) then
  for _, key in ipairs(KEYS) do redis.call('ZADD', key, expires, member) end
  return -1
end
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[3 + i])
  if cap >= 0 and redis.call('ZCARD', key) >= cap then return i - 1 end
end
for _, key in ipairs(KEYS) do redis.call('ZADD', key, expires, member) end
return -1
"""


class RedisBoard:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._admit = self._redis.register_script(_ADMIT)

    def admit(self, caps: list[tuple[str, int | None]], member: str, expires: float) -> int:
        args: list[Any] = [time.time(), expires, member]
        args += [-1 if cap is None else cap for _key, cap in caps]
        return int(self._admit(keys=[key for key, _cap in caps], args=args))

    def refresh(self, keys: Iterable[str], member: str, expires: float, *, xx: bool) -> None:
        with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zadd(key, {member: expires}, xx=xx)
            pipe.execute()

    def release(self, keys: Iterable[str], member: str) -> None:
        with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrem(key, member)
            pipe.execute()

    def count(self, key: str) -> int:
        return int(self._redis.zcount(key, f"({time.time()}", "+inf"))

    def incr(self, key: str, ttl: int) -> None:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, ttl)
            pipe.execute()

    def get_int(self, key: str) -> int:
        value = self._redis.get(key)
        return int(value) if value is not None else 0

    def publish_load(self, report: LoadReport, ttl: float) -> None:
        key = LOAD_KEY_PREFIX + report.process
        self._redis.set(key, json.dumps(asdict(report)), px=int(ttl * 1000))

    def load_reports(self) -> list[LoadReport]:
        keys = list(self._redis.scan_iter(match=LOAD_KEY_PREFIX + "*", count=100))
        values = self._redis.mget(keys) if keys else []
        return [LoadReport(**json.loads(value)) for value in values if value is not None]


class MemoryBoard:
    """The same board for one process (no Redis): `make run` and unit tests."""

    def __init__(self) -> None:
        self._sets: dict[str, dict[str, float]] = {}
        self._counters: dict[str, int] = {}
        self._loads: dict[str, tuple[float, LoadReport]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> dict[str, float]:
        now = time.time()
        members = self._sets.setdefault(key, {})
        for member in [m for m, expires in members.items() if expires <= now]:
            del members[member]
        return members

    def admit(self, caps: list[tuple[str, int | None]], member: str, expires: float) -> int:
        with self._lock:
            sets = [self._live(key) for key, _cap in caps]
            if member not in sets[0]:
                for index, ((_key, cap), members) in enumerate(zip(caps, sets, strict=True)):
                    if cap is not None and len(members) >= cap:
                        return index
            for members in sets:
                members[member] = expires
            return -1

    def refresh(self, keys: Iterable[str], member: str, expires: float, *, xx: bool) -> None:
        with self._lock:
            for key in keys:
                members = self._sets.setdefault(key, {})
                if not xx or member in members:
                    members[member] = expires

    def release(self, keys: Iterable[str], member: str) -> None:
        with self._lock:
            for key in keys:
                self._sets.get(key, {}).pop(member, None)

    def count(self, key: str) -> int:
        with self._lock:
            return len(self._live(key))

    def incr(self, key: str, ttl: int) -> None:
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + 1

    def get_int(self, key: str) -> int:
        with self._lock:
            return self._counters.get(key, 0)

    def publish_load(self, report: LoadReport, ttl: float) -> None:
        with self._lock:
            self._loads[report.process] = (time.monotonic() + ttl, report)

    def load_reports(self) -> list[LoadReport]:
        now = time.monotonic()
        with self._lock:
            return [report for until, report in self._loads.values() if until > now]


@cache
def board() -> Board:
    """The process's board: Redis when configured, else in-process (tests may swap it)."""
    return RedisBoard(settings.REDIS_URL) if settings.REDIS_URL else MemoryBoard()


# ---- admission ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Admission:
    ok: bool
    reason: str = ""  # "connector_cap", "workspace_cap" or "overload" when refused
    detail: str = ""  # for the call's timeline


def workspace_cap(workspace_id: int) -> int | None:
    row = WorkspaceCallCap.objects.filter(workspace_id=workspace_id).first()
    return None if row is None else row.max_concurrent_calls


def media_overload() -> LoadReport | None:
    """The least loaded report when every media process that reported is overloaded (a new
    call would land on one of them), else None. No reports: nothing known, nothing refused."""
    try:
        reports = board().load_reports()
    except redis.RedisError:
        logger.exception("capacity board unavailable: media load unknown, calls admitted")
        return None
    if not reports or not all(report.overloaded for report in reports):
        return None
    return min(reports, key=lambda report: report.speech_wait_ms)


def call_admit(*, connector: PhoneConnector, call_sid: str) -> Admission:
    """May this call reach the agent? Takes its lease when it may. A repeated webhook for a
    call that already holds a lease is admitted again (the lease is extended, not doubled)."""
    lease = CallLease(call_sid, connector.pk, connector.workspace_id)
    overload = media_overload()
    if overload is not None:
        detail = f"The media processes are overloaded ({overload.reason})"
        return Admission(False, "overload", detail)
    limits = (connector.max_concurrent_calls, workspace_cap(connector.workspace_id))
    caps = list(zip(lease.keys, limits, strict=True))
    try:
        full = board().admit(caps, call_sid, time.time() + RING_SECONDS)
    except redis.RedisError:
        # Caps are a protection, not the service: without the board the call is answered.
        logger.exception("capacity board unavailable: call %s admitted without a lease", call_sid)
        return Admission(True)
    if full < 0:
        return Admission(True)
    reason = ("connector_cap", "workspace_cap")[full]
    cap = caps[full][1]
    what = "connector" if full == 0 else "workspace"
    return Admission(False, reason, f"The {what} is at its cap of {cap} live calls")


def call_overflowed(*, connector: PhoneConnector) -> None:
    """Count an overflowed call for the connector page ("overflowed today")."""
    try:
        board().incr(_overflow_key(connector.pk, timezone.localdate()), OVERFLOW_COUNTER_TTL)
    except redis.RedisError:
        logger.exception("capacity board unavailable: overflow not counted")


def lease_hold(lease: CallLease) -> None:
    """A media stream started: the call holds its lease for a lease period (taken again when a
    stream reconnects after a handover that did not go through)."""
    board().refresh(lease.keys, lease.call_sid, time.time() + lease_seconds(), xx=False)


def leases_refresh(leases: Iterable[CallLease]) -> None:
    """The calls are still live on this process: their leases run another lease period. Only
    leases still held are extended: one released meanwhile (the call ended) stays released."""
    expires = time.time() + lease_seconds()
    for lease in leases:
        board().refresh(lease.keys, lease.call_sid, expires, xx=True)


def lease_release(lease: CallLease) -> None:
    try:
        board().release(lease.keys, lease.call_sid)
    except redis.RedisError:
        logger.exception("capacity board unavailable: lease of %s left to expire", lease.call_sid)


# ---- the overflow rule --------------------------------------------------------------------
def overflow_message(connector: PhoneConnector) -> str:
    return connector.overflow_message.strip() or DEFAULT_OVERFLOW_MESSAGE


def overflow_forwards(connector: PhoneConnector) -> bool:
    return connector.overflow_action == OverflowAction.FORWARD and bool(connector.overflow_number)


# ---- what the connector page shows --------------------------------------------------------
@dataclass(frozen=True)
class CapacityStatus:
    live_calls: int
    cap: int | None
    workspace_live_calls: int
    workspace_cap: int | None
    overflowed_today: int
    processes: list[LoadReport]

    @property
    def overloaded(self) -> bool:
        return bool(self.processes) and all(report.overloaded for report in self.processes)

    @property
    def percent(self) -> int | None:
        return None if not self.cap else min(100, round(100 * self.live_calls / self.cap))


def capacity_status_or_none(connector: PhoneConnector) -> CapacityStatus | None:
    """capacity_status, or None (logged) while the board (Redis) cannot be read."""
    try:
        return capacity_status(connector)
    except redis.RedisError:
        logger.exception("capacity board unavailable: connector %s status unknown", connector.pk)
        return None


def capacity_status(connector: PhoneConnector) -> CapacityStatus:
    """Live calls now against the caps, today's overflow, and each media process's load."""
    b = board()
    return CapacityStatus(
        live_calls=b.count(connector_key(connector.pk)),
        cap=connector.max_concurrent_calls,
        workspace_live_calls=b.count(workspace_key(connector.workspace_id)),
        workspace_cap=workspace_cap(connector.workspace_id),
        overflowed_today=b.get_int(_overflow_key(connector.pk, timezone.localdate())),
        processes=sorted(b.load_reports(), key=lambda report: report.process),
    )


def connector_live_load(connector: PhoneConnector) -> dict[str, Any]:
    """capacity_status as plain data (dashboards, the API)."""
    status = capacity_status(connector)
    return {
        "live_calls": status.live_calls,
        "cap": status.cap,
        "workspace_live_calls": status.workspace_live_calls,
        "workspace_cap": status.workspace_cap,
        "overflowed_today": status.overflowed_today,
        "overloaded": status.overloaded,
        "processes": [asdict(report) for report in status.processes],
    }


# ---- settings (the connector page) ----------------------------------------------------------
MAX_CAP = 10_000


def connector_capacity_set(
    *,
    connector: PhoneConnector,
    max_concurrent_calls: int | None,
    overflow_action: str,
    overflow_number: str = "",
    overflow_message: str = "",
    workspace_max_concurrent_calls: int | None = None,
    set_workspace_cap: bool = False,
) -> PhoneConnector:
    """Save the caps and the overflow rule; a ValidationError (by field) says what is wrong.
    The workspace cap changes only with `set_workspace_cap` (admins)."""
    errors: dict[str, list[str]] = {}
    for field, value in (
        ("max_concurrent_calls", max_concurrent_calls),
        ("workspace_max_concurrent_calls", workspace_max_concurrent_calls),
    ):
        if value is not None and not 1 <= value <= MAX_CAP:
            errors[field] = [f"Enter a number of calls from 1 to {MAX_CAP}, or leave it empty."]
    if overflow_action not in OverflowAction.values:
        errors["overflow_action"] = ["Choose what callers past the cap get."]
    number = (overflow_number or "").strip()
    if number:
        try:
            number = check_destination(number)
        except ValidationError as exc:
            errors["overflow_number"] = exc.messages
    elif overflow_action == OverflowAction.FORWARD:
        errors["overflow_number"] = ["Enter the number overflow callers are forwarded to."]
    message = " ".join((overflow_message or "").split())
    if len(message) > MAX_OVERFLOW_MESSAGE:
        errors["overflow_message"] = [f"Keep the message under {MAX_OVERFLOW_MESSAGE} characters."]
    if errors:
        raise ValidationError(errors)
    connector.max_concurrent_calls = max_concurrent_calls
    connector.overflow_action = overflow_action
    connector.overflow_number = number
    connector.overflow_message = message
    with transaction.atomic():
        connector.save(
            update_fields=[
                "max_concurrent_calls",
                "overflow_action",
                "overflow_number",
                "overflow_message",
            ]
        )
        if set_workspace_cap:
            WorkspaceCallCap.objects.update_or_create(
                workspace_id=connector.workspace_id,
                defaults={"max_concurrent_calls": workspace_max_concurrent_calls},
            )
    logger.info(
        "connector %s capacity: cap %s, overflow %s",
        connector.pk,
        max_concurrent_calls,
        overflow_action,
    )
    return connector
