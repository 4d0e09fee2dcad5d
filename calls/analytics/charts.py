"""The dashboard's charts as inline SVG, drawn on the server: no JavaScript, nothing fetched,
and the same picture in a browser, a screenshot or a printed page. Each chart has an
accessible name (<title>/<desc>, role="img"), and every bar a tooltip title; the numbers are
also in a table under each chart (the templates), which is what screen readers read.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from calls.analytics.queries import OUTCOMES, Series

OUTCOME_COLORS = {
    "answered": "#4052d6",
    "handed_over": "#8e5bd6",
    "ended_by_agent": "#1f7a4d",
    "caller_hung_up": "#d98e04",
    "not_served": "#8a93a5",
    "failed": "#b42318",
    "live": "#2a9fd6",
}
SERIES_COLORS = ("#4052d6", "#d9730d")  # version A, version B
AXIS = "#5d6678"
GRID = "#e3e6ee"
MAX_X_LABELS = 14

_ids = itertools.count(1)  # element ids unique within a page


def nice_ticks(peak: float, most: int = 5) -> list[float]:
    """0 and evenly spaced round values (1, 2, 5 × 10^k) up to at least `peak`."""
    if peak <= 0:
        return [0, 1]
    raw = peak / most
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if step < 1 and float(peak).is_integer():
        step = 1
    count = math.ceil(peak / step)
    return [round(i * step, 6) for i in range(count + 1)]


def _num(value: float) -> str:
    return f"{value:g}"


def _frame(title: str, desc: str, width: int, height: int, body: list[str]) -> SafeString:
    n = next(_ids)
    head = format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {} {}" '
        'role="img" font-family="system-ui, sans-serif" aria-labelledby="chart-{}-t" aria-describedby="chart-{}-d" preserveAspectRatio="xMinYMin meet">'
        '<title id="chart-{}-t">{}</title><desc id="chart-{}-d">{}</desc>',
        width,
        height,
        n,
        n,
        n,
        title,
        n,
        desc,
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 (parts are escaped)


def _bucket_label(series: Series, index: int, *, axis: bool = False) -> str:
    """“Nov 30” for a day or week; an hour is “Nov 30 14:00”, or on the axis just “14:00”
    with the day at midnight."""
    at = series.buckets[index].start
    if series.unit != "hour":
        return at.strftime("%b %d")
    if axis:
        return at.strftime("%b %d") if at.hour == 0 else at.strftime("%H:00")
    return at.strftime("%b %d %H:00")


def calls_over_time_chart(series: Series) -> SafeString:
    """Stacked bars: calls per bucket, one colour per outcome."""
    width, height = 960, 300
    left, right, top, bottom = 52, 12, 14, 62
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(series.peak)
    top_value = ticks[-1] or 1
    body: list[str] = []
    for tick in ticks:
        y = top + plot_h - plot_h * tick / top_value
        body.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
                '<text x="{}" y="{}" text-anchor="end" font-size="14" fill="{}">{}</text>',
                left,
                width - right,
                f"{y:.1f}",
                f"{y:.1f}",
                GRID,
                left - 8,
                f"{y + 4:.1f}",
                AXIS,
                _num(tick),
            )
        )
    count = max(1, len(series.buckets))
    slot = plot_w / count
    bar = max(1.0, slot * 0.72)
    every = max(1, math.ceil(count / MAX_X_LABELS))
    for i, bucket in enumerate(series.buckets):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        label = _bucket_label(series, i)
        for key, name in OUTCOMES:
            n = bucket.counts.get(key, 0)
            if not n:
                continue
            h = plot_h * n / top_value
            y -= h
            body.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {} {}</title></rect>",
                    f"{x:.1f}",
                    f"{y:.1f}",
                    f"{bar:.1f}",
                    f"{h:.1f}",
                    OUTCOME_COLORS[key],
                    label,
                    n,
                    name.lower(),
                )
            )
        if i % every == 0:
            body.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle" font-size="14" fill="{}">{}</text>',
                    f"{left + i * slot + slot / 2:.1f}",
                    top + plot_h + 20,
                    AXIS,
                    _bucket_label(series, i, axis=True),
                )
            )
    body.append(
        format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
            '<text x="{}" y="{}" text-anchor="middle" font-size="14" fill="{}">{}</text>'
            '<text transform="translate(14 {}) rotate(-90)" text-anchor="middle" font-size="14" '
            'fill="{}">Calls</text>',
            left,
            width - right,
            top + plot_h,
            top + plot_h,
            AXIS,
            left + plot_w / 2,
            height - 16,
            AXIS,
            f"{series.unit.capitalize()} (UTC)",
            top + plot_h / 2,
            AXIS,
        )
    )
    desc = f"{series.total} calls in {len(series.buckets)} {series.unit}s, at most {series.peak}"
    return _frame(f"Calls per {series.unit}, by outcome", desc, width, height, body)


@dataclass(frozen=True)
class BarRow:
    label: str
    values: Sequence[float]  # one per series
    texts: Sequence[str]  # what is written after each bar
    color: str = ""  # for a single series; else SERIES_COLORS


def bar_chart(
    title: str, rows: Sequence[BarRow], *, series: Sequence[str] = (), scale_to: float = 0
) -> SafeString:
    """Horizontal bars, one group per row and one bar per series (one or two: a comparison)."""
    n_series = max(1, len(series))
    bar_h, gap = (26, 12) if n_series == 1 else (20, 16)
    label_w, text_w, width = 210, 150, 640
    plot_w = width - label_w - text_w
    legend_h = 28 if n_series > 1 else 0
    group_h = bar_h * n_series + gap
    height = legend_h + max(1, len(rows)) * group_h + 6
    peak = max([scale_to, *(v for row in rows for v in row.values)]) or 1
    body: list[str] = []
    for s, name in enumerate(series if n_series > 1 else ()):
        x = label_w + s * 170
        body.append(
            format_html(
                '<rect x="{}" y="4" width="14" height="14" fill="{}"/>'
                '<text x="{}" y="16" font-size="15" fill="{}">{}</text>',
                x,
                SERIES_COLORS[s % 2],
                x + 20,
                AXIS,
                name,
            )
        )
    for r, row in enumerate(rows):
        y0 = legend_h + r * group_h
        body.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end" font-size="16" fill="#1b2230">{}</text>',
                label_w - 10,
                f"{y0 + (bar_h * n_series) / 2 + 6:.1f}",
                row.label,
            )
        )
        for s, (value, text) in enumerate(zip(row.values, row.texts, strict=True)):
            w = max(0.0, plot_w * value / peak)
            y = y0 + s * bar_h
            color = row.color if n_series == 1 and row.color else SERIES_COLORS[s % 2]
            who = f"{series[s]}: " if n_series > 1 else ""
            body.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" rx="2" fill="{}">'
                    "<title>{}{}{}</title></rect>"
                    '<text x="{}" y="{}" font-size="15" fill="{}">{}</text>',
                    label_w,
                    y + 1,
                    f"{max(w, 1.5):.1f}",
                    bar_h - 3,
                    color,
                    who,
                    row.label + ": ",
                    text,
                    f"{label_w + w + 6:.1f}",
                    y + bar_h - 8,
                    AXIS,
                    text,
                )
            )
    desc = "; ".join(f"{row.label}: {', '.join(row.texts)}" for row in rows)
    return _frame(title, desc or "No data", width, height, body)


def legend(keys: Collection[str]) -> SafeString:
    """The outcome colours as an HTML list (under the stacked chart)."""
    items = "".join(
        format_html(
            '<li><span class="swatch" style="background:{}"></span>{}</li>',
            OUTCOME_COLORS[key],
            label,
        )
        for key, label in OUTCOMES
        if key in keys
    )
    return mark_safe(f'<ul class="legend" aria-hidden="true">{items}</ul>')  # noqa: S308
