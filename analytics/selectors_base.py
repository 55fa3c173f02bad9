"""What the dashboards' selectors share: the aggregates narrowed by the
filters, the previous period, month arithmetic, the names of tiers and
locations."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _

from analytics.aggregates import month_add
from analytics.db import reading
from analytics.models import DailyStat
from analytics.tables import Column, Filters
from members.models import Location
from rewards.models import Tier

FIGURES = [
    "member_visits",
    "member_money",
    "anon_visits",
    "anon_money",
    "new_members",
    "new_retained",
    "points_issued",
    "points_redeemed",
    "points_expired",
    "lots_issued",
    "lots_expired",
]


def previous(f: Filters) -> Filters:
    """The period of equal length just before ``f``'s, with the same filters."""
    length = timedelta(days=(f.date_to - f.date_from).days + 1)
    return Filters(
        date_from=f.date_from - length,
        date_to=f.date_from - timedelta(days=1),
        location_id=f.location_id,
        tier_id=f.tier_id,
        specialist_id=f.specialist_id,
    )


def at(f: Filters, day: date) -> Filters:
    """``f`` as of the end of ``day`` (a one-day period)."""
    return Filters(day, day, f.location_id, f.tier_id, f.specialist_id)


def daily(f: Filters, *, all_time: bool = False) -> QuerySet:
    """DailyStat rows of the period (every day up to its end with
    ``all_time``) and the location and tier filters."""
    qs = DailyStat.objects.using(reading()).filter(day__lte=f.date_to)
    if not all_time:
        qs = qs.filter(day__gte=f.date_from)
    if f.location_id is not None:
        qs = qs.filter(location_id=f.location_id)
    if f.tier_id is not None:
        qs = qs.filter(tier_id=f.tier_id)
    return qs


def totals(qs: QuerySet) -> dict:
    """Every figure summed (0 when there are no rows)."""
    got = qs.aggregate(**{name: Sum(name) for name in FIGURES})
    return {
        name: (got[name] or (Decimal("0") if name.endswith("money") else 0))
        for name in FIGURES
    }


def by(qs: QuerySet, key: str) -> dict:
    """Every figure summed per value of ``key`` (a column or ``month``)."""
    if key == "month":
        qs = qs.annotate(month=TruncMonth("day"))
    rows = qs.values(key).annotate(**{n: Sum(n) for n in FIGURES}).order_by(key)
    return {row[key]: row for row in rows}


def months(f: Filters) -> list[date]:
    """First days of the months the period touches, in order."""
    month, last, out = f.date_from.replace(day=1), f.date_to.replace(day=1), []
    while month <= last:
        out.append(month)
        month = month_add(month, 1)
    return out


def month_end(month: date) -> date:
    return month_add(month, 1) - timedelta(days=1)


def tier_names() -> dict:
    names = dict(Tier.objects.using(reading()).values_list("id", "name"))
    names[None] = _("No tier")
    return names


def tiers_in_order() -> list:
    ids = list(
        Tier.objects.using(reading()).order_by("rank").values_list("id", flat=True)
    )
    return [*ids, None]


def location_names() -> dict:
    names = dict(Location.objects.using(reading()).values_list("id", "name"))
    names[None] = _("No location")
    return names


def col(key: str, label: str, unit: str = "count") -> Column:
    return Column(key=key, label=label, unit=unit)
