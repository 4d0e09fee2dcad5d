"""One dashboard: the filtered calls of a workspace, their numbers over the date range, and
two versions side by side. Shared by the Studio page and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import QuerySet

from calls.analytics.queries import (
    DateRange,
    Series,
    Summary,
    calls_over_time,
    default_pair,
    summarize,
    version_counts,
)
from calls.models import Call
from connectors.models import PhoneConnector

DEFAULT_DAYS = 14


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    summary_a: Summary
    summary_b: Summary


@dataclass(frozen=True)
class Dashboard:
    span: DateRange
    series: Series
    summary: Summary
    versions: list[tuple[str, int]]  # every version in the range (any version filter aside)
    comparison: Comparison | None


def dashboard_build(
    *,
    calls: QuerySet[Call],
    date_from: date | None,
    date_to: date | None,
    version: str = "",
    compare: tuple[str, str] = ("", ""),
    connector: PhoneConnector | None = None,
) -> Dashboard:
    """`calls`: the workspace's calls narrowed by every filter but the version and the dates
    (the comparison needs the other versions). Without `compare`, a connector's split
    candidate is compared with the version that answered the rest, else the two busiest."""
    span = DateRange.around(date_from, date_to, default_days=DEFAULT_DAYS)
    in_range = calls.filter(created_at__gte=span.start, created_at__lt=span.end)
    shown = in_range.filter(version_label__iexact=version) if version else in_range
    versions = version_counts(in_range)
    a, b = compare
    if not (a and b):
        candidate = connector.candidate_version if connector is not None else None
        a, b = default_pair(versions, candidate.label if candidate else "")
    comparison = None
    if a and b and a.lower() != b.lower():
        comparison = Comparison(
            a=a,
            b=b,
            summary_a=summarize(in_range.filter(version_label__iexact=a)),
            summary_b=summarize(in_range.filter(version_label__iexact=b)),
        )
    return Dashboard(
        span=span,
        series=calls_over_time(shown, span),
        summary=summarize(shown),
        versions=versions,
        comparison=comparison,
    )
