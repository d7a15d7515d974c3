"""Charts drawn on the server as inline SVG: no script, no download, works offline.

Scales are "nice" (1, 2 or 5 times a power of ten) and numbers compact (12.3k), so a chart reads
the same with one session or a hundred thousand. Every chart has a title and a text summary for
screen readers, a tooltip per bar, and its numbers in a table under "Data".
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .layout import esc

WIDTH, HEIGHT = 560, 170
LEFT, RIGHT, TOP, BOTTOM = 46, 10, 12, 28
MAX_BAR_WIDTH = 56
MAX_TABLE_ROWS = 400
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    """One stacked layer of a bar chart."""

    name: str
    values: Sequence[int]
    color: str


def compact(n: float) -> str:
    """``950``, ``12.3k``, ``4.5M``: short labels for axes and tiles."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            text = f"{n / size:.1f}".rstrip("0").rstrip(".")
            return text + suffix
    return f"{n:g}" if n != int(n) else str(int(n))


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def bucket_label(start: float, bucket_seconds: int, short: bool = False) -> str:
    """``2026-11-26 13:00`` for hours, ``2026-11-26`` for days (``11-26`` when short)."""
    when = time.gmtime(start)
    if bucket_seconds < 86400:
        return time.strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M", when)
    return time.strftime("%m-%d" if short else "%Y-%m-%d", when)


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    axis_labels: Sequence[tuple[int, str]] | None = None,
    unit: str = "",
) -> str:
    """Stacked vertical bars, one per label, with a y axis and ``axis_labels`` (index, text)."""
    n = len(labels)
    totals = [sum(s.values[i] for s in series) for i in range(n)]
    peak = max(totals, default=0)
    top = nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    chart_id = f"chart{next(_ids)}"
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d"'
        f' class="chart" font-size="12" font-family="system-ui,sans-serif">',
        f'<title id="{chart_id}-t">{esc(title)}</title>',
        f'<desc id="{chart_id}-d">{esc(_summary(labels, totals, unit))}</desc>',
    ]
    for tick in (0.0, top / 2, top):
        if tick != int(tick):
            continue  # counts: no "2.5 users"
        y = TOP + plot_h - tick / top * plot_h
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6eb"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#4a5264">{compact(tick)}</text>'
        )
    if n:
        slot = plot_w / n
        bar_w = min(slot * (0.8 if slot > 4 else 1.0), MAX_BAR_WIDTH)
        for i in range(n):
            if not totals[i]:
                continue
            x = LEFT + i * slot + (slot - bar_w) / 2
            base: float = TOP + plot_h
            tip = f"{labels[i]}: " + ", ".join(f"{s.values[i]:,} {s.name}" for s in series if s.values[i])
            parts.append(f"<g><title>{esc(tip)}</title>")
            for s in series:
                if not s.values[i]:
                    continue
                h = max(s.values[i] / top * plot_h, 1.0)
                base -= h
                parts.append(
                    f'<rect x="{x:.2f}" y="{base:.2f}" width="{bar_w:.2f}" height="{h:.2f}"'
                    f' fill="{s.color}"/>'
                )
            parts.append("</g>")
        for i, text in axis_labels if axis_labels is not None else enumerate(labels):
            x = LEFT + (i + 0.5) * slot
            anchor = "middle"
            if x < LEFT + 30:
                anchor, x = "start", LEFT
            elif x > WIDTH - RIGHT - 30:
                anchor, x = "end", WIDTH - RIGHT
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" fill="#4a5264">{esc(text)}</text>'
            )
    if peak == 0:
        parts.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" fill="#4a5264">'
            "No data in this range</text>"
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#9aa3b2"/>'
    )
    parts.append("</svg>")
    return "".join(parts) + _data_table(labels, series)


def time_chart(title: str, starts: Sequence[float], bucket_seconds: int, series: Sequence[Series]) -> str:
    """Bars over time, one per bucket, with about five dates along the axis."""
    labels = [bucket_label(s, bucket_seconds) for s in starts]
    n = len(starts)
    picks = sorted({round(i * (n - 1) / 4) for i in range(5)}) if n > 1 else list(range(n))
    axis = [(i, bucket_label(starts[i], bucket_seconds, short=True)) for i in picks]
    return bar_chart(title, labels, series, axis)


def legend(series: Sequence[Series]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><span class="swatch" style="background:{s.color}"></span>{esc(s.name)}</span>'
            for s in series
        )
        + "</div>"
    )


def _summary(labels: Sequence[str], totals: Sequence[int], unit: str) -> str:
    total = sum(totals)
    if not total:
        return "No data in this range."
    peak_at = max(range(len(totals)), key=totals.__getitem__)
    return (
        f"{total:,} {unit} in all over {len(labels)} bars, from {labels[0]} to {labels[-1]};"
        f" the highest is {totals[peak_at]:,} at {labels[peak_at]}."
    ).replace("  ", " ")


def _data_table(labels: Sequence[str], series: Sequence[Series]) -> str:
    rows = [
        "<tr><th scope=row>"
        + esc(label)
        + "</th>"
        + "".join(f'<td class="num">{s.values[i]:,}</td>' for s in series)
        + "</tr>"
        for i, label in enumerate(labels)
        if any(s.values[i] for s in series)
    ]
    if not rows:
        return ""
    shown = rows[-MAX_TABLE_ROWS:]
    note = (
        f"<caption>the last {MAX_TABLE_ROWS} of {len(rows)} non-empty bars</caption>"
        if len(rows) > len(shown)
        else ""
    )
    head = "<tr><th></th>" + "".join(f'<th class="num">{esc(s.name)}</th>' for s in series) + "</tr>"
    table = f"<table>{note}<thead>{head}</thead><tbody>{''.join(shown)}</tbody></table>"
    return f"<details><summary>Data</summary>{table}</details>"
