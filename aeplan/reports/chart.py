"""Charts as inline SVG, drawn on the server: pure functions from numbers to markup.

Every text that comes in is escaped (markupsafe); colours come from classes in app.css
(`series-0` …), never from style attributes, so the strict CSP holds. The SVG carries a
<title> and <desc> and each bar segment its own <title>; pages put the same numbers in
a table beside it for screen readers and for copying.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup

WIDTH = 760
LEFT, TOP, RIGHT_LEGEND = 48, 18, 210
PLOT_HEIGHT = 220
BOTTOM = 40
MAX_LABELS = 12  # category labels under the axis before they start to skip
LEGEND_CHARS = 22


def nice_step(largest: int, ticks: int = 5) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving at most `ticks` steps."""
    if largest <= ticks:
        return 1
    raw = largest / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _short(name: str) -> str:
    return name if len(name) <= LEGEND_CHARS else name[:LEGEND_CHARS - 1] + "…"


def stacked_bars(categories: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], *,
                 title: str, desc: str, id_prefix: str = "chart",
                 describe=lambda name, category, value: f"{name}, {category}: {value}",
                 ) -> Markup:
    """One bar per category (month), stacked by series (client or AE), with a y axis,
    each bar's total above it and a legend. Empty markup when there is nothing to draw.
    `describe(name, category, value)` gives each segment's tooltip (translated by the
    caller)."""
    n = len(categories)
    if n == 0 or not series or any(len(values) != n for _, values in series):
        return Markup("")
    totals = [sum(values[i] for _, values in series) for i in range(n)]
    if not any(totals):
        return Markup("")
    step = nice_step(max(totals))
    top_value = max(step, math.ceil(max(totals) / step) * step)
    plot_width = WIDTH - LEFT - RIGHT_LEGEND
    height = TOP + PLOT_HEIGHT + BOTTOM
    base = TOP + PLOT_HEIGHT

    def y_of(value: float) -> float:
        return base - value / top_value * PLOT_HEIGHT

    parts: list[Markup] = [
        Markup('<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {} {}" '
               'role="img" aria-labelledby="{}-title {}-desc">').format(
            WIDTH, height, id_prefix, id_prefix),
        Markup('<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>').format(
            id_prefix, title, id_prefix, desc),
    ]
    for tick in range(0, top_value + 1, step):
        y = _num(y_of(tick))
        parts.append(Markup('<line class="chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                            '<text class="chart-tick" x="{}" y="{}">{}</text>').format(
            LEFT, LEFT + plot_width, y, y, LEFT - 8, _num(y_of(tick) + 5), tick))
    slot = plot_width / n
    bar = min(56.0, slot * 0.7)
    # Skip labels rather than let them overlap (about 8 units a character at 13px).
    widest = max(len(c) for c in categories) * 8 + 8
    every = max(math.ceil(n / MAX_LABELS), math.ceil(widest / slot))
    for i, category in enumerate(categories):
        x = LEFT + i * slot + (slot - bar) / 2
        stacked = 0
        for s, (name, values) in enumerate(series):
            value = values[i]
            if value <= 0:
                continue
            y_top = y_of(stacked + value)
            parts.append(Markup(
                '<rect class="series-{}" x="{}" y="{}" width="{}" height="{}">'
                '<title>{}</title></rect>').format(
                s, _num(x), _num(y_top), _num(bar), _num(y_of(stacked) - y_top),
                describe(name, category, value)))
            stacked += value
        if totals[i] and n <= 24:
            parts.append(Markup('<text class="chart-total" x="{}" y="{}">{}</text>').format(
                _num(x + bar / 2), _num(y_of(totals[i]) - 4), totals[i]))
        if i % every == 0:
            parts.append(Markup('<text class="chart-label" x="{}" y="{}">{}</text>').format(
                _num(x + bar / 2), base + 20, category))
    parts.append(Markup('<line class="chart-axis" x1="{}" x2="{}" y1="{}" y2="{}"/>').format(
        LEFT, LEFT + plot_width, base, base))
    legend_x = LEFT + plot_width + 20
    parts.append(Markup('<g class="chart-legend">'))
    for s, (name, _values) in enumerate(series):
        y = TOP + s * 22
        parts.append(Markup(
            '<g><title>{}</title><rect class="series-{}" x="{}" y="{}" width="12" height="12"/>'
            '<text x="{}" y="{}">{}</text></g>').format(
            name, s, legend_x, y, legend_x + 18, y + 11, _short(name)))
    parts.append(Markup("</g></svg>"))
    return Markup("").join(parts)
