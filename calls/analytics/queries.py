"""The numbers of the analytics dashboard, aggregated in the database for a set of calls.

Every function takes a queryset of calls that is already scoped to one workspace (and narrowed
by the filters); counts are GROUP BY queries, percentiles are computed in Python over a bounded
list of the most recent values (MAX_SAMPLES), which keeps a page to a fixed number of queries
whatever the number of calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import TruncDay, TruncHour, TruncWeek
from django.utils import timezone

from calls.models import LIVE_STATUSES, Call, CallEvent, CallStatus

# Outcome keys, in display order, with their labels. Each call has exactly one (outcome_case).
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("answered", "Answered by the agent"),
    ("handed_over", "Handed over"),
    ("ended_by_agent", "Ended by the agent"),
    ("caller_hung_up", "Caller hung up"),
    ("not_served", "Not served by the agent"),
    ("failed", "Failed"),
    ("live", "In progress"),
)
OUTCOME_LABELS = dict(OUTCOMES)
# Outcomes of calls the agent talked to: the denominator of the handover rate.
SERVED = ("answered", "handed_over", "ended_by_agent", "caller_hung_up")
FAILED_STATUSES = (CallStatus.FAILED, CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.CANCELED)
CALLER_HUNG_UP = "Caller hung up"  # calls.services.call_stream_ended's outcome
STUDIO_FLOW = "Twilio Studio flow"  # a handover back to the flow has no phone number

MAX_SAMPLES = 20_000  # values a percentile is computed over (the most recent ones)
MAX_RANGE_DAYS = 366
# Days the dashboard accepts: the range's end (a day later) must stay a valid datetime.
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)
HOURLY_UP_TO_DAYS = 2
DAILY_UP_TO_DAYS = 92


def outcome_case() -> Case:
    """The call's outcome as one SQL expression, first match wins: a call that was handed
    over and then hung up counts as handed over."""
    ended_by_agent = Exists(CallEvent.objects.filter(call=OuterRef("pk"), kind="end_call"))
    return Case(
        When(status__in=LIVE_STATUSES, then=Value("live")),
        When(status__in=FAILED_STATUSES, then=Value("failed")),
        When(status=CallStatus.REJECTED, then=Value("not_served")),
        When(Q(status=CallStatus.TRANSFERRED) | ~Q(transferred_to=""), then=Value("handed_over")),
        When(ended_by_agent, then=Value("ended_by_agent")),
        When(outcome=CALLER_HUNG_UP, then=Value("caller_hung_up")),
        default=Value("answered"),
        output_field=CharField(),
    )


@dataclass(frozen=True)
class Percentiles:
    p50: int | None
    p95: int | None
    samples: int


def percentiles(values: Iterable[object]) -> Percentiles:
    """Nearest-rank p50/p95 of the numeric values (anything else, e.g. a malformed stored
    event, is skipped)."""
    numbers = sorted(
        int(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
    )
    if not numbers:
        return Percentiles(None, None, 0)

    def rank(p: float) -> int:
        return numbers[max(0, math.ceil(p / 100 * len(numbers)) - 1)]

    return Percentiles(rank(50), rank(95), len(numbers))


@dataclass(frozen=True)
class Share:
    key: str
    label: str
    count: int
    percent: float


@dataclass(frozen=True)
class Summary:
    calls: int
    outcomes: list[Share]
    served: int
    handovers: list[Share]  # per destination; percent of the served calls
    duration_s: Percentiles
    latency_ms: Percentiles
    turns: int
    barge_ins: int
    overflows: int  # calls turned away past capacity (calls.twilio.overflow)
    hold_lines: int  # late answers covered by the holding line (calls.runtime.turns)
    input_errors: int
    input_error_kinds: list[tuple[str, int]]

    @property
    def handed_over(self) -> int:
        return sum(s.count for s in self.handovers)

    @property
    def handover_rate(self) -> float:
        return _percent(self.handed_over, self.served)


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def _ids(calls: QuerySet[Call]) -> QuerySet[Call]:
    """The calls as a plain subquery of ids: no joins, ordering or DISTINCT of the caller's
    queryset leak into the GROUP BYs below."""
    return Call.objects.filter(pk__in=calls.order_by().values("pk")).order_by()


def summarize(calls: QuerySet[Call]) -> Summary:
    """The dashboard's numbers for these calls, in five queries."""
    base = _ids(calls)
    counts = dict(base.annotate(kind=outcome_case()).values_list("kind").annotate(n=Count("pk")))
    total = sum(counts.values())
    served = sum(counts.get(k, 0) for k in SERVED)
    outcomes = [
        Share(key, label, counts.get(key, 0), _percent(counts.get(key, 0), total))
        for key, label in OUTCOMES
        if key != "live" or counts.get(key)
    ]
    destinations = (
        base.filter(Q(status=CallStatus.TRANSFERRED) | ~Q(transferred_to=""))
        .exclude(status__in=(*LIVE_STATUSES, *FAILED_STATUSES, CallStatus.REJECTED))
        .values_list("transferred_to")
        .annotate(n=Count("pk"))
        .order_by("-n", "transferred_to")
    )
    handovers = [
        Share(dest or STUDIO_FLOW, dest or STUDIO_FLOW, n, _percent(n, served))
        for dest, n in destinations
    ]
    durations = base.exclude(duration_seconds=None).order_by("-pk")
    events = CallEvent.objects.filter(call__in=base.values("pk"))
    kinds = dict(
        events.filter(kind__in=("turn_timing", "barge_in", "overflow", "hold_line"))
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    latencies = events.filter(kind="turn_timing").order_by("-pk")
    errors = _input_errors(
        base.exclude(input_errors={})
        .order_by("-pk")
        .values_list("input_errors", flat=True)[:MAX_SAMPLES]
    )
    return Summary(
        calls=total,
        outcomes=outcomes,
        served=served,
        handovers=handovers,
        duration_s=percentiles(durations.values_list("duration_seconds", flat=True)[:MAX_SAMPLES]),
        latency_ms=percentiles(latencies.values_list("data__total_ms", flat=True)[:MAX_SAMPLES]),
        turns=kinds.get("turn_timing", 0),
        barge_ins=kinds.get("barge_in", 0),
        overflows=kinds.get("overflow", 0),
        hold_lines=kinds.get("hold_line", 0),
        input_errors=sum(n for _, n in errors),
        input_error_kinds=errors,
    )


def _input_errors(rows: Iterable[object]) -> list[tuple[str, int]]:
    """Bad input the media stream counted (calls.runtime.session.count_error), summed by kind,
    most frequent first."""
    totals: dict[str, int] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        for kind, n in row.items():
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                totals[str(kind)] = totals.get(str(kind), 0) + n
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))


# Calls over time --------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date  # inclusive

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def unit(self) -> str:
        if self.days <= HOURLY_UP_TO_DAYS:
            return "hour"
        return "day" if self.days <= DAILY_UP_TO_DAYS else "week"

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=timezone.get_current_timezone())

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @classmethod
    def around(cls, first: date | None, last: date | None, *, default_days: int) -> DateRange:
        """The range the filters ask for; open ends default to today and `default_days`
        back; days outside EARLIEST..LATEST are moved inside, and a range longer than
        MAX_RANGE_DAYS is cut to its last MAX_RANGE_DAYS."""
        last = min(max(last or timezone.localdate(), EARLIEST), LATEST)
        first = min(max(first or last - timedelta(days=default_days - 1), EARLIEST), LATEST)
        if first > last:
            first, last = last, first
        if (last - first).days >= MAX_RANGE_DAYS:
            first = last - timedelta(days=MAX_RANGE_DAYS - 1)
        return cls(first, last)


@dataclass(frozen=True)
class Bucket:
    start: datetime
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Series:
    unit: str
    buckets: list[Bucket]

    @property
    def total(self) -> int:
        return sum(b.total for b in self.buckets)

    @property
    def peak(self) -> int:
        return max((b.total for b in self.buckets), default=0)


TRUNC = {"hour": TruncHour, "day": TruncDay, "week": TruncWeek}
STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def calls_over_time(calls: QuerySet[Call], span: DateRange) -> Series:
    """Calls per hour, day or week (by the range's length) and outcome, one query; buckets
    without calls are there with zero counts, so the chart's gaps are real."""
    tz = timezone.get_current_timezone()
    trunc = TRUNC[span.unit]
    rows = (
        _ids(calls)
        .filter(created_at__gte=span.start, created_at__lt=span.end)
        .annotate(bucket=trunc("created_at", tzinfo=tz), kind=outcome_case())
        .values_list("bucket", "kind")
        .annotate(n=Count("pk"))
    )
    counted: dict[datetime, dict[str, int]] = {}
    for bucket, kind, n in rows:
        counted.setdefault(timezone.localtime(bucket, tz), {})[kind] = n
    first = timezone.localtime(span.start, tz)
    if span.unit == "week":  # TruncWeek starts on Monday
        first -= timedelta(days=first.weekday())
    buckets, at = [], first
    while at < span.end:
        buckets.append(Bucket(at, counted.get(at, {})))
        at = timezone.localtime(at + STEP[span.unit], tz)
    return Series(span.unit, buckets)


# Versions -----------------------------------------------------------------------------------


def version_counts(calls: QuerySet[Call]) -> list[tuple[str, int]]:
    """The versions that answered these calls, most calls first."""
    rows = (
        _ids(calls)
        .exclude(version_label="")
        .values_list("version_label")
        .annotate(n=Count("pk"))
        .order_by("-n", "version_label")
    )
    return [(label, n) for label, n in rows]


def default_pair(counts: Sequence[tuple[str, int]], candidate: str = "") -> tuple[str, str]:
    """The two versions to compare when none are chosen: a split's candidate against the
    version that answered most of the other calls, else the two that answered most."""
    labels = [label for label, _ in counts]
    if candidate and candidate in labels:
        others = [label for label in labels if label != candidate]
        return (others[0], candidate) if others else ("", "")
    return (labels[0], labels[1]) if len(labels) >= 2 else ("", "")
