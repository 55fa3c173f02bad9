"""Charts drawn on the server as SVG: no JavaScript, no CDN, works offline.

``chart_svg(table)`` draws a ``Table`` as its ``chart`` says — ``bar``
(grouped when several series), ``line``, ``stacked`` or ``heatmap`` (rows ×
the numeric columns, the value printed in each cell, for cohorts) — and
returns "" when there is nothing to draw (the page says so instead).

Labels are the columns' labels (translated by the selectors); numbers are
formatted per ``Column.unit`` in the active language (``format_value``).
Colours are CSS classes (``ch-s1``…) that the page styles with the admin's
variables, so the dark theme applies. Each chart is ``role="img"`` with a
``<title>``; the table beside it carries the same figures for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.utils import formats
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from analytics.tables import Column, Table
from members.money import money_text

NUMERIC_UNITS = {"count", "money", "percent", "points", "number"}
WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 80, 16, 34, 72
CHAR_W = 7.5  # an axis label's character at 13 px, in the viewBox's units
SERIES_CLASSES = 6
DASH = "—"


# --- numbers ----------------------------------------------------------------


def _half_up(value, places: int) -> Decimal:
    """Rounded as people round (37.5 % → 38 %), not to even."""
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def format_value(value, unit: str) -> str:
    """``value`` as a person reads it in the active language: money with its
    sign, a fraction as a percent, counts grouped ("12,345" / "12 345")."""
    if value is None or value == "":
        return DASH
    if unit == "money":
        return money_text(Decimal(value))
    if unit == "percent":
        number = formats.number_format(
            _half_up(Decimal(value) * 100, 1), 1, use_l10n=True, force_grouping=True
        )
        space = "\u00a0" if (get_language() or "").startswith("ru") else ""
        return f"{number}{space}%"
    if unit in ("count", "points"):
        return formats.number_format(int(value), 0, use_l10n=True, force_grouping=True)
    if unit == "number":
        places = 0 if Decimal(value) == int(value) else 2
        return formats.number_format(
            _half_up(value, places), places, use_l10n=True, force_grouping=True
        )
    if unit == "date" and isinstance(value, date | datetime):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    return str(value)


def _number(value) -> float | None:
    """A value's size for drawing only (never for sums: money stays Decimal)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def series_columns(table: Table) -> tuple[Column, list[Column]]:
    """The axis column and the drawn columns of ``table``."""
    by_key = {column.key: column for column in table.columns}
    x = by_key.get(table.x) or table.columns[0]
    if table.series:
        series = [by_key[key] for key in table.series if key in by_key]
    else:
        series = [
            c for c in table.columns if c.key != x.key and c.unit in NUMERIC_UNITS
        ]
    return x, series


def has_data(table: Table) -> bool:
    if not table.rows or not table.columns or table.chart not in CHARTS:
        return False
    _x, series = series_columns(table)
    return any(
        _number(row.get(c.key)) is not None for row in table.rows for c in series
    )


# --- SVG pieces -------------------------------------------------------------


def _f(number: float) -> str:
    return f"{number:.1f}".rstrip("0").rstrip(".")


def _svg(
    table: Table, body: Iterable[str], *, height: int = HEIGHT, width: int = WIDTH
) -> SafeString:
    title_id = f"chart-{escape(table.key)}-title"
    # Never drawn wider than its own units: a wide page scales the chart
    # down to fit, not its 13-px labels up.
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{table.chart}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="{title_id}" '
        f'preserveAspectRatio="xMidYMin meet" style="max-width: {width}px">'
        f'<title id="{title_id}">{escape(table.title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _text(x: float, y: float, text: str, cls: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{_f(x)}" y="{_f(y)}" class="{cls}" text-anchor="{anchor}">'
        f"{escape(text)}</text>"
    )


def _short(label: str, limit: int = 14) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _nice_scale(
    low: float, high: float, whole: bool = False
) -> tuple[float, float, list[float]]:
    """Round bounds containing [low, high] with 0, and 3-6 gridlines (whole
    numbers apart for counts: no "0.25 visits")."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high = low + 1
    raw = (high - low) / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    low = math.floor(low / step) * step
    high = math.ceil(high / step) * step
    ticks = []
    tick = low
    while tick <= high + step / 2:
        ticks.append(tick)
        tick += step
    return low, high, ticks


def _tick_value(value: float, unit: str):
    if unit == "money":
        return Decimal(str(round(value, 2)))
    if unit == "percent":
        return Decimal(str(round(value, 4)))
    if unit in ("count", "points"):
        return round(value)
    return Decimal(str(round(value, 2)))


def _legend(series: list[Column]) -> list[str]:
    if len(series) < 2:
        return []
    parts, x = [], LEFT
    for i, column in enumerate(series):
        label = _short(column.label, 24)
        parts.append(
            f'<rect x="{x}" y="8" width="12" height="12" '
            f'class="ch-s{i % SERIES_CLASSES + 1}"/>'
        )
        parts.append(_text(x + 16, 18, label, "ch-legend", "start"))
        x += 28 + 8 * len(label)
    return parts


class _Frame:
    """The plot area of a bar/line/stacked chart and its value axis."""

    def __init__(self, low: float, high: float, unit: str, count: int):
        self.low, self.high, self.ticks = _nice_scale(
            low, high, whole=unit in ("count", "points")
        )
        self.unit = unit
        self.count = max(count, 1)
        self.plot_w = WIDTH - LEFT - RIGHT
        self.plot_h = HEIGHT - TOP - BOTTOM
        self.band = self.plot_w / self.count

    def y(self, value: float) -> float:
        return TOP + (self.high - value) / (self.high - self.low) * self.plot_h

    def axes(self, labels: list[str]) -> list[str]:
        parts = []
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(
                f'<line x1="{LEFT}" y1="{_f(y)}" x2="{WIDTH - RIGHT}" y2="{_f(y)}" '
                f'class="ch-grid"/>'
            )
            label = format_value(_tick_value(tick, self.unit), self.unit)
            parts.append(_text(LEFT - 6, y + 4, label, "ch-axis", "end"))
        parts.extend(self._x_labels(labels))
        return parts

    def _x_labels(self, labels: list[str]) -> list[str]:
        """Level labels when they fit; else slanted, and every n-th when even
        those crowd (the table beside has them all)."""
        base = HEIGHT - BOTTOM + 16
        # A few wide bands take longer labels ("Regulars Spa — Centre").
        limit = max(14, int((self.band - 10) / CHAR_W))
        widest = max((len(_short(label, limit)) for label in labels), default=0)
        if len(labels) * (CHAR_W * widest + 10) <= self.plot_w:
            return [
                _text(
                    LEFT + self.band * (i + 0.5), base, _short(label, limit), "ch-axis"
                )
                for i, label in enumerate(labels)
            ]
        every = max(1, math.ceil(len(labels) * 16 / self.plot_w))
        parts = []
        for i, label in enumerate(labels):
            if i % every:
                continue
            x = LEFT + self.band * (i + 0.5)
            parts.append(
                f'<text x="{_f(x)}" y="{_f(base - 4)}" class="ch-axis" '
                f'text-anchor="end" transform="rotate(-35 {_f(x)} {_f(base - 4)})">'
                f"{escape(_short(label, 12))}</text>"
            )
        return parts


def _unit_of(series: list[Column]) -> str:
    return series[0].unit if series else "count"


def _labels(table: Table, x: Column) -> list[str]:
    return [format_value(row.get(x.key), x.unit) for row in table.rows]


def _tip(row_label: str, column: Column, value) -> str:
    return (
        f"<title>{escape(row_label)} · {escape(column.label)}: "
        f"{escape(format_value(value, column.unit))}</title>"
    )


# --- the charts -------------------------------------------------------------


def bar(table: Table) -> SafeString:
    """One bar per row (a group of bars per row with several series)."""
    x, series = series_columns(table)
    values = [_number(row.get(c.key)) or 0.0 for row in table.rows for c in series]
    frame = _Frame(min(values), max(values), _unit_of(series), len(table.rows))
    labels = _labels(table, x)
    parts = _legend(series) + frame.axes(labels)
    width = frame.band * 0.8 / len(series)
    zero = frame.y(0)
    for i, row in enumerate(table.rows):
        for j, column in enumerate(series):
            value = _number(row.get(column.key))
            if value is None:
                continue
            top = min(frame.y(value), zero)
            left = LEFT + frame.band * (i + 0.1) + width * j
            parts.append(
                f'<rect x="{_f(left)}" y="{_f(top)}" width="{_f(width)}" '
                f'height="{_f(abs(frame.y(value) - zero))}" '
                f'class="ch-bar ch-s{j % SERIES_CLASSES + 1}">'
                f"{_tip(labels[i], column, row.get(column.key))}</rect>"
            )
    return _svg(table, parts)


def stacked(table: Table) -> SafeString:
    """One bar per row, its series stacked (positive values)."""
    x, series = series_columns(table)
    totals = [
        sum(max(_number(row.get(c.key)) or 0.0, 0.0) for c in series)
        for row in table.rows
    ]
    frame = _Frame(0.0, max(totals), _unit_of(series), len(table.rows))
    labels = _labels(table, x)
    parts = _legend(series) + frame.axes(labels)
    for i, row in enumerate(table.rows):
        base = 0.0
        for j, column in enumerate(series):
            value = max(_number(row.get(column.key)) or 0.0, 0.0)
            if not value:
                continue
            top, bottom = frame.y(base + value), frame.y(base)
            parts.append(
                f'<rect x="{_f(LEFT + frame.band * 0.1 + frame.band * i)}" '
                f'y="{_f(top)}" width="{_f(frame.band * 0.8)}" '
                f'height="{_f(bottom - top)}" '
                f'class="ch-bar ch-s{j % SERIES_CLASSES + 1}">'
                f"{_tip(labels[i], column, row.get(column.key))}</rect>"
            )
            base += value
    return _svg(table, parts)


def line(table: Table) -> SafeString:
    """A line per series, a dot per row."""
    x, series = series_columns(table)
    values = [
        v
        for row in table.rows
        for c in series
        if (v := _number(row.get(c.key))) is not None
    ]
    frame = _Frame(min(values), max(values), _unit_of(series), len(table.rows))
    labels = _labels(table, x)
    parts = _legend(series) + frame.axes(labels)
    for j, column in enumerate(series):
        cls = f"ch-s{j % SERIES_CLASSES + 1}"
        points, dots = [], []
        for i, row in enumerate(table.rows):
            value = _number(row.get(column.key))
            if value is None:
                continue
            cx, cy = LEFT + frame.band * (i + 0.5), frame.y(value)
            points.append(f"{_f(cx)},{_f(cy)}")
            dots.append(
                f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="3.5" class="ch-dot {cls}">'
                f"{_tip(labels[i], column, row.get(column.key))}</circle>"
            )
        parts.append(
            f'<polyline points="{" ".join(points)}" class="ch-line {cls}" fill="none"/>'
        )
        parts.extend(dots)
    return _svg(table, parts)


def heatmap(table: Table) -> SafeString:
    """Rows × the series columns, each cell shaded by its value and printed."""
    x, series = series_columns(table)
    values = [
        v
        for row in table.rows
        for c in series
        if (v := _number(row.get(c.key))) is not None
    ]
    top_value = max(max(values), 0.0) or 1.0
    label_w, head_h, cell_h = 96, 28, 24
    # A column wide enough for its "Month 12" head and a "100%" cell.
    cell_w = max(64.0, (WIDTH - label_w - RIGHT) / max(len(series), 1))
    width = int(label_w + cell_w * len(series) + RIGHT)
    height = head_h + cell_h * len(table.rows) + 8
    parts = [_text(label_w - 6, head_h - 10, _short(x.label), "ch-axis", "end")]
    for j, column in enumerate(series):
        cx = label_w + cell_w * (j + 0.5)
        parts.append(_text(cx, head_h - 10, _short(column.label, 8), "ch-axis"))
    labels = _labels(table, x)
    for i, row in enumerate(table.rows):
        y = head_h + cell_h * i
        parts.append(
            _text(label_w - 6, y + cell_h / 2 + 4, _short(labels[i]), "ch-axis", "end")
        )
        for j, column in enumerate(series):
            raw = row.get(column.key)
            value = _number(raw)
            if value is None:
                continue
            share = max(value, 0.0) / top_value
            # Shade in five steps: the class carries the colour (light and
            # dark themes), the printed value carries the exact figure.
            step = min(5, 1 + int(share * 5)) if share > 0 else 0
            left = label_w + cell_w * j
            parts.append(
                f'<g class="ch-cell ch-h{step}">'
                f'<rect x="{_f(left + 1)}" y="{_f(y + 1)}" width="{_f(cell_w - 2)}" '
                f'height="{cell_h - 2}">{_tip(labels[i], column, raw)}</rect>'
                + _text(
                    left + cell_w / 2,
                    y + cell_h / 2 + 4,
                    _cell_text(raw, column),
                    "ch-value",
                )
                + "</g>"
            )
    return _svg(table, parts, height=height, width=width)


def _cell_text(value, column: Column) -> str:
    if column.unit == "percent":
        # Whole percents fit a cell of a 13-month cohort row.
        number = formats.number_format(
            _half_up(Decimal(value) * 100, 0), 0, use_l10n=True, force_grouping=True
        )
        return f"{number}%"
    return format_value(value, column.unit)


CHARTS = {"bar": bar, "line": line, "stacked": stacked, "heatmap": heatmap}


def chart_svg(table: Table) -> SafeString:
    """``table`` drawn as its ``chart`` says, or "" when there is nothing to draw."""
    if not has_data(table):
        return mark_safe("")
    return CHARTS[table.chart](table)
