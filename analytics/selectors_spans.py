"""Distinct-member figures — active, lost, repeat purchase rate, churn — read
from ``SpanStat`` (``analytics.spans``): one row a day of the window.

Each answers exactly as its reference in ``analytics.kpis`` does, and falls
back to that reference (counting the visits) when the rows cannot answer:
before the first ``analytics_rebuild``, with a tier filter (the rows have no
tier), or for a window longer than ``ANALYTICS_SPAN_DAYS``.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from analytics import kpis
from analytics.aggregates import month_add
from analytics.db import reading
from analytics.models import SpanStat
from analytics.spans import is_built, span_days
from analytics.tables import Filters

Window = tuple[date, date]


def _usable(f: Filters, windows: list[Window]) -> bool:
    if f.tier_id is not None:
        return False
    if any((end - start).days > span_days() for start, end in windows):
        return False
    return is_built()


def notes() -> list[str]:
    """A dashboard's note while the rows are not built."""
    if is_built():
        return []
    return [
        _(
            "Active and lost members, the repeat purchase rate and churn are "
            "counted from the visits until the window figures are built (run "
            "analytics_rebuild once after installing or upgrading): right, "
            "but slow on a long history."
        )
    ]


def _scope(f: Filters):
    rows = SpanStat.objects.using(reading())
    if f.location_id is None:
        return rows.filter(location__isnull=True)
    return rows.filter(location_id=f.location_id)


def _window_q(start: date, end: date) -> Q:
    return Q(since=start, day__gte=start, day__lte=end)


def _counts(f: Filters, windows: list[Window]) -> list[tuple[int, int]]:
    """(members with ≥ 1, with ≥ 2 paid visits) in each window, one query."""
    sums = {}
    for i, (start, end) in enumerate(windows):
        sums[f"m{i}"] = Sum("members", filter=_window_q(start, end))
        sums[f"r{i}"] = Sum("repeat_members", filter=_window_q(start, end))
    where = Q()
    for start, end in windows:
        where |= _window_q(start, end)
    got = _scope(f).filter(where).aggregate(**sums)
    return [(got[f"m{i}"] or 0, got[f"r{i}"] or 0) for i in range(len(windows))]


def _last(f: Filters, days: int) -> Window:
    """The ``days`` days ending with the period's last day."""
    return f.date_to - timedelta(days=days - 1), f.date_to


def _ever(f: Filters) -> int:
    """Members with a paid visit (in the scope) on or before the period's end."""
    got = (
        _scope(f)
        .filter(since__isnull=True, day__lte=f.date_to)
        .aggregate(n=Sum("members"))
    )
    return got["n"] or 0


def active_count(f: Filters) -> int:
    window = _last(f, settings.ANALYTICS_ACTIVE_DAYS)
    if not _usable(f, [window]):
        return kpis.active_count(f)
    return _counts(f, [window])[0][0]


def lost_count(f: Filters) -> int:
    window = _last(f, settings.ANALYTICS_LOST_DAYS)
    if not _usable(f, [window]):
        return kpis.lost_count(f)
    return _ever(f) - _counts(f, [window])[0][0]


def active_by_location(f: Filters) -> dict:
    """Active members at the end of the period, per location of the visits."""
    start, end = _last(f, settings.ANALYTICS_ACTIVE_DAYS)
    if not _usable(f, [(start, end)]):
        return kpis.active_by_location(f)
    rows = SpanStat.objects.using(reading()).filter(
        _window_q(start, end), location__isnull=False
    )
    if f.location_id is not None:
        rows = rows.filter(location_id=f.location_id)
    got = rows.values("location_id").annotate(n=Sum("members")).order_by()
    return {row["location_id"]: row["n"] for row in got if row["n"]}


def rpr_parts(f: Filters) -> tuple[int, int]:
    window = (f.date_from, f.date_to)
    if not _usable(f, [window]):
        return kpis.rpr_parts(f)
    members, repeat = _counts(f, [window])[0]
    return repeat, members


def _month_windows(f: Filters, months: list[date]) -> list[Window]:
    return [
        (max(m, f.date_from), min(month_add(m, 1) - timedelta(days=1), f.date_to))
        for m in months
    ]


def rpr_by_month(f: Filters, months: list[date]) -> dict[date, tuple[int, int]]:
    """(members with ≥ 2 paid visits, with ≥ 1) per month of the period, each
    month cut to the period."""
    windows = _month_windows(f, months)
    if not _usable(f, windows):
        return kpis.rpr_by_month(f)
    counted = _counts(f, windows)
    return {
        m: (repeat, members)
        for m, (members, repeat) in zip(months, counted, strict=True)
        if members
    }


def _churn_windows(f: Filters) -> list[Window]:
    lost = settings.ANALYTICS_LOST_DAYS
    before = f.date_from - timedelta(days=lost)
    return [
        (before, f.date_to),  # a visit in the window or the LOST_DAYS before
        _last(f, lost),  # not lost at the end
        (before, f.date_from - timedelta(days=1)),  # not lost at the start
    ]


def churn_parts(f: Filters) -> tuple[int, int]:
    """(members who became lost in the period, members not lost at its
    start): as ``kpis.churn_parts``. Those who became lost had a paid visit
    in [start − LOST_DAYS, end − LOST_DAYS] and none since: the members of
    the long window less those seen in the last LOST_DAYS."""
    windows = _churn_windows(f)
    if not _usable(f, windows):
        return kpis.churn_parts(f)
    (seen, _), (recent, _), (base, _) = _counts(f, windows)
    return seen - recent, base


def churn_by_month(f: Filters, parts: list[Filters]) -> list[tuple[int, int]]:
    """``churn_parts`` of each of ``parts`` (the period's months), in one query."""
    windows = [w for part in parts for w in _churn_windows(part)]
    if not _usable(f, windows):
        return [kpis.churn_parts(part) for part in parts]
    counted = _counts(f, windows)
    out = []
    for i in range(len(parts)):
        (seen, _), (recent, _), (base, _) = counted[3 * i : 3 * i + 3]
        out.append((seen - recent, base))
    return out
