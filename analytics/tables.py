"""What a dashboard shows, as plain data: the filters it was asked for, its
KPI cards, and its tables (each with the chart drawn from it).

The selectors (``analytics.selectors``) build these from the aggregate
tables; the views (``analytics.views``) render them — a chart with its table
beside it, CSV and XLSX of every table — and know nothing of the queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Filters:
    """A dashboard's question: the period [date_from, date_to] (local dates of
    ``paid_at`` in the program's time zone, both included) and optional
    location, tier and specialist (ids; None = all)."""

    date_from: date
    date_to: date
    location_id: int | None = None
    tier_id: int | None = None
    specialist_id: int | None = None


@dataclass(frozen=True)
class Kpi:
    """One figure with its parts: ``value`` = ``numerator`` / ``denominator``
    for a rate (None when there is nothing to divide), else the figure alone.

    ``key`` is stable (the CSV/JSON export and the tests use it); ``label`` and
    ``definition`` are translated text (the definition is the card's tooltip,
    word for word as in docs/analytics.md). ``unit``: "count", "money",
    "percent" (value is a fraction 0..1), "points", "number".
    ``previous``: the same figure for the previous period of equal length,
    when the dashboard compares.
    """

    key: str
    label: str
    value: Decimal | int | None
    unit: str = "count"
    numerator: Decimal | int | None = None
    denominator: Decimal | int | None = None
    definition: str = ""
    previous: Decimal | int | None = None


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: str = "count"  # as Kpi.unit, plus "text" and "date"


@dataclass
class Table:
    """Rows of one breakdown, and how to chart it.

    ``chart``: "bar", "line", "stacked", "heatmap" (rows × the numeric
    columns, for cohorts) or "" (a table only). ``x``: the column on the
    chart's axis (the first column by default); ``series``: the columns
    drawn (the numeric ones by default).
    """

    key: str
    title: str
    columns: list[Column]
    rows: list[dict] = field(default_factory=list)
    chart: str = "bar"
    x: str = ""
    series: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class Dashboard:
    key: str
    title: str
    filters: Filters
    kpis: list[Kpi] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
