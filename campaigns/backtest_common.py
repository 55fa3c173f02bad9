"""What the backtests share: the result (``Month`` rows and ``Backtest``), the
window of months, and the few SQL pieces that differ between PostgreSQL and
SQLite. ``campaigns.backtest`` (campaigns) and ``campaigns.backtest_promotions``
(promotions) build on it."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

ZERO = Decimal("0.00")
WORK_MEM = "256MB"  # per sort or hash of the backtest's statements


@dataclass
class Month:
    month: date  # the first day of the month; None-like date.min for the total
    occurrences: int = 0
    members: int = 0
    messages: int = 0
    points: int = 0
    money: Decimal = ZERO


@dataclass
class Backtest:
    rows: list[Month]
    total: Month
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_table(self) -> list[list[str]]:
        """The header, a line per month and the totals, as text."""
        head = [
            _("Month"), _("Occurrences"), _("Members"), _("Messages"), _("Points"),
            _("Money"),
        ]  # fmt: skip
        lines = [head]
        for row in [*self.rows, self.total]:
            label = _("Total") if row is self.total else row.month.strftime("%Y-%m")
            lines.append(
                [
                    label, str(row.occurrences), str(row.members), str(row.messages),
                    str(row.points), f"{row.money:.2f}",
                ]
            )  # fmt: skip
        return lines


# --- the window and SQL dialect --------------------------------------------------


def window_months(months: int, today: date) -> list[date]:
    """The first days of the ``months`` calendar months ending with today's."""
    if not 1 <= months <= 120:
        raise ValueError("months must be between 1 and 120")
    year, month = today.year, today.month
    out = []
    for _i in range(months):
        out.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _sqlite() -> bool:
    return connection.vendor == "sqlite"


def add_days(expr: str, n: int) -> str:
    n = int(n)
    if _sqlite():
        return f"date({expr}, '{n:+d} days')"
    return f"({expr} + {n})"


def days_between(later: str, earlier: str) -> str:
    if _sqlite():
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
    return f"({later} - {earlier})"


def month_of(expr: str) -> str:
    if _sqlite():
        return f"strftime('%%Y-%%m-01', {expr})"
    return f"CAST(date_trunc('month', {expr}) AS date)"


def as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def sql_of(queryset) -> tuple[str, list]:
    """A subquery's SQL, without the model's default ordering (a sort for
    nothing on millions of rows)."""
    sql, params = queryset.order_by().query.sql_with_params()
    return sql, list(params)


def local_date(column: str):
    return TruncDate(column, tzinfo=timezone.get_current_timezone())


def run(sql: str, params: list) -> list[tuple]:
    """One analytic statement; on PostgreSQL with room to sort in memory."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        cursor.execute(sql, params)
        return cursor.fetchall()


def empty_rows(firsts: list[date]) -> dict[date, Month]:
    return {first: Month(month=first) for first in firsts}
