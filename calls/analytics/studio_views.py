"""Studio pages of analytics: the dashboard (filters, charts, tables, a version comparison)
and the CSV export of the call list. The filters are the Conversations filters
(calls.studio_views.CallFilterForm), so a dashboard and the list it exports agree."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from agents.models import Role
from agents.tenancy.access import StudioRequest, studio_view
from calls.analytics.charts import (
    OUTCOME_COLORS,
    BarRow,
    bar_chart,
    calls_over_time_chart,
    legend,
)
from calls.analytics.dashboard import Dashboard, dashboard_build
from calls.analytics.export import csv_response
from calls.analytics.queries import Percentiles, Summary
from calls.selectors import call_list
from calls.studio_views import CallFilterForm


class AnalyticsFilterForm(CallFilterForm):
    """The dashboard's filters: the call list's, without the per-call ones, plus the two
    versions to compare."""

    compare_a = forms.CharField(label="Compare version", required=False, max_length=20)
    compare_b = forms.CharField(label="with version", required=False, max_length=20)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("q", "status", "transferred"):
            del self.fields[name]
        for name in ("compare_a", "compare_b"):
            self.fields[name].widget.attrs["placeholder"] = "v2"


@require_GET
@studio_view(write_role=Role.EDITOR)
def dashboard_view(request: StudioRequest) -> HttpResponse:
    workspace = request.studio.workspace
    form = AnalyticsFilterForm(request.GET or None, workspace=workspace)
    data = form.cleaned_data if form.is_valid() else {}
    # the version and dates are the dashboard's to apply (the comparison needs the others)
    calls = call_list(workspace=workspace, filters=form.selector_filters())
    board = dashboard_build(
        calls=calls,
        date_from=data.get("date_from"),
        date_to=data.get("date_to"),
        version=(data.get("version") or "").strip(),
        compare=((data.get("compare_a") or "").strip(), (data.get("compare_b") or "").strip()),
        connector=data.get("connector"),
    )
    # the date fields show the range the page is for, also when it is the default one
    if not form.is_bound:
        form.initial.update(date_from=board.span.first, date_to=board.span.last)
    elif not form.errors:
        shown = request.GET.copy()
        shown["date_from"] = board.span.first.isoformat()
        shown["date_to"] = board.span.last.isoformat()
        form.data = shown
    keys = board.summary.outcomes
    export = request.GET.copy()
    for key in ("compare_a", "compare_b"):
        export.pop(key, None)
    export["date_from"] = board.span.first.isoformat()
    export["date_to"] = board.span.last.isoformat()
    return render(
        request,
        "studio/analytics/dashboard.html",
        {
            "form": form,
            "board": board,
            "export_query": export.urlencode(),
            "charts": _charts(board),
            "tiles": _tiles(board.summary),
            "buckets": [
                {"start": b.start, "total": b.total, "row": [b.counts.get(o.key, 0) for o in keys]}
                for b in board.series.buckets
            ],
            "compare_rows": _compare_rows(board),
            "filtered": bool(data and any(data.values())),
        },
    )


@require_GET
@studio_view(write_role=Role.EDITOR)
def call_export_view(request: StudioRequest) -> StreamingHttpResponse:
    """The call list as CSV, with the Conversations filters (the same query string)."""
    form = CallFilterForm(request.GET or None, workspace=request.studio.workspace)
    calls = form.apply(
        call_list(workspace=request.studio.workspace, filters=form.selector_filters())
    )
    name = f"calls-{timezone.localdate().isoformat()}.csv"
    return csv_response(calls.select_related("agent", "environment"), filename=name)


def _pair(p: Percentiles, unit: str) -> str:
    if p.p50 is None:
        return "—"
    return f"{p.p50} / {p.p95} {unit}"


def _tiles(s: Summary) -> list[tuple[str, str, str]]:
    """(name, value, note) of the figures at the top."""
    per_100 = f"{100 * s.barge_ins / s.turns:.1f} per 100 turns" if s.turns else "no timed turns"
    return [
        ("Calls", str(s.calls), f"{s.served} reached the agent"),
        ("Handover rate", f"{s.handover_rate:g} %", f"{s.handed_over} of {s.served} calls"),
        ("Duration p50 / p95", _pair(s.duration_s, "s"), f"{s.duration_s.samples} ended calls"),
        ("Turn latency p50 / p95", _pair(s.latency_ms, "ms"), f"{s.latency_ms.samples} turns"),
        ("Barge-ins", str(s.barge_ins), per_100),
        ("Input errors", str(s.input_errors), "bad media-stream messages"),
        ("Overflow", str(s.overflows), "calls turned away past capacity"),
        ("Holding lines", str(s.hold_lines), "late answers covered"),
    ]


def _charts(board: Dashboard) -> dict[str, Any]:
    s = board.summary
    charts: dict[str, Any] = {
        "over_time": calls_over_time_chart(board.series),
        "legend": legend({k for b in board.series.buckets for k in b.counts}),
        "outcomes": bar_chart(
            "Outcomes",
            [
                BarRow(o.label, [o.count], [f"{o.count} · {o.percent:g} %"], OUTCOME_COLORS[o.key])
                for o in s.outcomes
            ],
        ),
        "handovers": bar_chart(
            "Handover rate per destination",
            [BarRow(h.label, [h.percent], [f"{h.percent:g} % · {h.count}"]) for h in s.handovers],
        )
        if s.handovers
        else None,
    }
    c = board.comparison
    if c is not None:
        names = [c.a, c.b]
        a_out = {o.key: o for o in c.summary_a.outcomes}
        b_out = {o.key: o for o in c.summary_b.outcomes}
        rows = [
            BarRow(
                o.label,
                [o.percent, b_out[o.key].percent if o.key in b_out else 0.0],
                [
                    f"{o.percent:g} % ({o.count})",
                    f"{b_out[o.key].percent:g} % ({b_out[o.key].count})" if o.key in b_out else "0",
                ],
            )
            for o in a_out.values()
            if o.count or (o.key in b_out and b_out[o.key].count)
        ]
        charts["compare_outcomes"] = bar_chart(
            "Outcomes by version (share of calls)", rows, series=names
        )
        lat = [
            BarRow(
                f"Turn latency {p}",
                [getattr(c.summary_a.latency_ms, p) or 0, getattr(c.summary_b.latency_ms, p) or 0],
                [_ms(getattr(c.summary_a.latency_ms, p)), _ms(getattr(c.summary_b.latency_ms, p))],
            )
            for p in ("p50", "p95")
        ]
        charts["compare_latency"] = bar_chart("Turn latency by version", lat, series=names)
    return charts


def _ms(value: int | None) -> str:
    return "—" if value is None else f"{value} ms"


def _compare_rows(board: Dashboard) -> list[tuple[str, str, str]]:
    c = board.comparison
    if c is None:
        return []
    a, b = c.summary_a, c.summary_b
    rows = [
        ("Calls", str(a.calls), str(b.calls)),
        ("Reached the agent", str(a.served), str(b.served)),
    ]
    b_out = {o.key: o for o in b.outcomes}
    for o in a.outcomes:
        other = b_out.get(o.key)
        rows.append(
            (
                o.label,
                f"{o.count} ({o.percent:g} %)",
                f"{other.count} ({other.percent:g} %)" if other else "0",
            )
        )
    rows += [
        ("Handover rate", f"{a.handover_rate:g} %", f"{b.handover_rate:g} %"),
        ("Duration p50 / p95", _pair(a.duration_s, "s"), _pair(b.duration_s, "s")),
        ("Turn latency p50 / p95", _pair(a.latency_ms, "ms"), _pair(b.latency_ms, "ms")),
        ("Barge-ins", str(a.barge_ins), str(b.barge_ins)),
        ("Input errors", str(a.input_errors), str(b.input_errors)),
        ("Holding lines", str(a.hold_lines), str(b.hold_lines)),
    ]
    return rows
