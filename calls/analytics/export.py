"""The call list as CSV, streamed in chunks so an export of many calls holds only one chunk
in memory. Cells that a spreadsheet would run as a formula are neutralised (CSV injection)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from calls.analytics.queries import OUTCOME_LABELS, outcome_case, percentiles
from calls.models import Call, CallEvent

CHUNK = 500
COLUMNS = (
    "started",
    "ended",
    "duration_s",
    "caller",
    "connector",
    "agent",
    "version",
    "environment",
    "outcome",
    "handover_destination",
    "turns",
    "latency_p50_ms",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell as text; one that starts like a formula gets a leading apostrophe, which
    spreadsheets show as text instead of evaluating it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _when(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else ""


def _chunks(calls: QuerySet[Call]) -> Iterator[list[Call]]:
    chunk: list[Call] = []
    for call in calls.iterator(chunk_size=CHUNK):
        chunk.append(call)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def csv_rows(calls: QuerySet[Call]) -> Iterator[list[str]]:
    """The header, then one row per call in the list's order; one extra query per chunk for
    the turns' latencies."""
    yield list(COLUMNS)
    annotated = calls.annotate(outcome_key=outcome_case()).select_related(
        "connector", "agent", "environment"
    )
    for chunk in _chunks(annotated):
        latencies: dict[int, list[object]] = {}
        timings = CallEvent.objects.filter(
            call_id__in=[c.pk for c in chunk], kind="turn_timing"
        ).values_list("call_id", "data__total_ms")
        for call_id, total_ms in timings:
            latencies.setdefault(call_id, []).append(total_ms)
        for call in chunk:
            timed = latencies.get(call.pk, [])
            p50 = percentiles(timed).p50
            yield [
                safe_cell(v)
                for v in (
                    _when(call.created_at),
                    _when(call.ended_at),
                    call.duration_seconds,
                    call.from_number or "unknown",
                    call.connector.name if call.connector else call.get_source_display(),
                    call.agent.name if call.agent else "",
                    call.version_label,
                    str(call.environment) if call.environment else "",
                    OUTCOME_LABELS.get(getattr(call, "outcome_key", ""), ""),
                    call.transferred_to,
                    len(timed),
                    p50,
                )
            ]


class _Echo:
    """csv.writer's file: returns each line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def csv_response(calls: QuerySet[Call], *, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(csv_rows(calls)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
