"""The dashboards beyond the core ones: LTV, referrals, campaigns (each in its
own module, re-exported here) and specialists and services (below): whole
months of the period from the monthly tables, the days at its edges from
the daily ones (``analytics.models.extra``), summed.

Each is ``(f: Filters) -> Dashboard`` and reads on ``reading()``.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from analytics.aggregates_extra import next_month
from analytics.db import reading
from analytics.models import (
    ServiceDaily,
    ServiceMonthly,
    ServicePairDaily,
    ServicePairMonthly,
    SpecialistDaily,
    SpecialistMonthly,
)
from analytics.selectors_extra_campaigns import dashboard_campaigns
from analytics.selectors_extra_common import TIER_NOTE, per, ratio
from analytics.selectors_extra_ltv import dashboard_ltv
from analytics.selectors_extra_referrals import dashboard_referrals
from analytics.tables import Column, Dashboard, Filters, Kpi, Table
from members.models import Service, Specialist

__all__ = [
    "dashboard_campaigns",
    "dashboard_ltv",
    "dashboard_referrals",
    "dashboard_specialists",
]

TOP = 20
ZERO = Decimal(0)

# Marked here, translated where it is shown (``gettext`` at the call).
REPEAT_RATE_DEFINITION = gettext_noop(
    "Of a specialist's paid visits by members in the period, the share made by "
    "members that specialist had already served on an earlier paid visit (at "
    "any location, at any time before)."
)


def split(f: Filters) -> tuple[list[date], list[tuple[date, date]]]:
    """The whole months inside the period, and the day ranges at its edges
    outside them (the whole period when it holds no whole month)."""
    month = f.date_from if f.date_from.day == 1 else next_month(f.date_from)
    months = []
    while next_month(month) - timedelta(days=1) <= f.date_to:
        months.append(month)
        month = next_month(month)
    if not months:
        return [], [(f.date_from, f.date_to)]
    edges = []
    if f.date_from < months[0]:
        edges.append((f.date_from, months[0] - timedelta(days=1)))
    after = next_month(months[-1])
    if after <= f.date_to:
        edges.append((after, f.date_to))
    return months, edges


def figures(
    daily, monthly, f: Filters, keys: list[str], names: list[str], *, by_specialist=True
) -> dict[tuple, dict]:
    """Σ of the ``names`` figures by ``keys`` over the period and filters:
    at most two grouped queries (the months, the edge days)."""
    months, edges = split(f)
    queries = []
    if months:
        queries.append(
            monthly.objects.using(reading()).filter(
                month__gte=months[0], month__lte=months[-1]
            )
        )
    if edges:
        days = Q()
        for first, last in edges:
            days |= Q(day__gte=first, day__lte=last)
        queries.append(daily.objects.using(reading()).filter(days))
    out: dict[tuple, dict] = {}
    for rows in queries:
        if f.location_id is not None:
            rows = rows.filter(location_id=f.location_id)
        if by_specialist and f.specialist_id is not None:
            rows = rows.filter(specialist_id=f.specialist_id)
        grouped = (
            rows.order_by()
            .values(*keys)
            .annotate(**{f"sum_{name}": Sum(name) for name in names})
        )
        for row in grouped:
            sums = out.setdefault(tuple(row[k] for k in keys), dict.fromkeys(names, 0))
            for name in names:
                sums[name] += row[f"sum_{name}"]
    return out


def _names(model, ids) -> dict[int, str]:
    return dict(
        model.objects.using(reading()).filter(pk__in=ids).values_list("pk", "name")
    )


def _specialists(f: Filters) -> tuple[Table, dict]:
    sums = figures(
        SpecialistDaily,
        SpecialistMonthly,
        f,
        ["specialist_id"],
        ["visits", "revenue", "member_visits", "returning_visits"],
    )
    order = sorted(sums, key=lambda k: (-sums[k]["revenue"], k))
    names = _names(Specialist, [k[0] for k in order])
    rows = []
    for key in order:
        r = sums[key]
        rows.append(
            {
                "specialist": names.get(key[0], "?"),
                "visits": r["visits"],
                "revenue": r["revenue"],
                "per_visit": per(r["revenue"], r["visits"]),
                "member_visits": r["member_visits"],
                "returning": r["returning_visits"],
                "repeat_rate": ratio(r["returning_visits"], r["member_visits"]),
            }
        )
    totals = {
        "member_visits": sum(r["member_visits"] for r in sums.values()),
        "returning": sum(r["returning_visits"] for r in sums.values()),
    }
    table = Table(
        key="specialists",
        title=_("Specialists"),
        columns=[
            Column("specialist", _("Specialist"), "text"),
            Column("visits", _("Visits"), "count"),
            Column("revenue", _("Revenue"), "money"),
            Column("per_visit", _("Revenue per visit"), "money"),
            Column("member_visits", _("Members' visits"), "count"),
            Column("returning", _("Returning members' visits"), "count"),
            Column("repeat_rate", _("Repeat rate"), "percent"),
        ],
        rows=rows,
        chart="bar",
        x="specialist",
        series=["revenue"],
        note=_(
            "Visits: paid visits with at least one service by the specialist. "
            "Revenue: their services' price × units not refunded. Repeat rate: "
            "%(definition)s"
        )
        % {"definition": _(REPEAT_RATE_DEFINITION)},
    )
    return table, totals


def _services(f: Filters) -> tuple[Table, dict]:
    sums = figures(
        ServiceDaily, ServiceMonthly, f, ["service_id"], ["units", "revenue"]
    )
    total = {
        "units": sum(r["units"] for r in sums.values()),
        "revenue": sum((r["revenue"] for r in sums.values()), ZERO),
    }
    top = sorted(sums, key=lambda k: (-sums[k]["revenue"], k))[:TOP]
    names = _names(Service, [k[0] for k in top])
    table = Table(
        key="top_services",
        title=_("Top services"),
        columns=[
            Column("service", _("Service"), "text"),
            Column("units", _("Sold"), "count"),
            Column("revenue", _("Revenue"), "money"),
            Column("share", _("Share of revenue"), "percent"),
        ],
        rows=[
            {
                "service": names.get(key[0], "?"),
                "units": sums[key]["units"],
                "revenue": sums[key]["revenue"],
                "share": ratio(sums[key]["revenue"], total["revenue"]),
            }
            for key in top
        ],
        chart="bar",
        x="service",
        series=["revenue"],
        note=_("The %(n)s services with the most revenue in the period.") % {"n": TOP},
    )
    return table, total


def _pairs(f: Filters) -> Table:
    sums = figures(
        ServicePairDaily,
        ServicePairMonthly,
        f,
        ["service_a_id", "service_b_id"],
        ["visits"],
        by_specialist=False,
    )
    top = sorted(sums, key=lambda k: (-sums[k]["visits"], k))[:TOP]
    names = _names(Service, {k[0] for k in top} | {k[1] for k in top})
    return Table(
        key="services_together",
        title=_("Services bought together"),
        columns=[
            Column("service", _("Service"), "text"),
            Column("with", _("Bought with"), "text"),
            Column("visits", _("Visits with both"), "count"),
        ],
        rows=[
            {
                "service": names.get(a, "?"),
                "with": names.get(b, "?"),
                "visits": sums[(a, b)]["visits"],
            }
            for a, b in top
        ],
        chart="",
        note=_(
            "Paid visits in the period that had both services; the specialist "
            "filter does not apply."
        ),
    )


def dashboard_specialists(f: Filters) -> Dashboard:
    """Revenue, visits and repeat rate per specialist; top services; the
    services bought together."""
    specialists, repeat = _specialists(f)
    services, sold = _services(f)
    kpis = [
        Kpi(
            key="services_revenue",
            label=_("Services revenue"),
            value=sold["revenue"],
            unit="money",
            definition=_(
                "Price × units not refunded of the service lines of paid visits "
                "in the period."
            ),
        ),
        Kpi(
            key="services_sold",
            label=_("Services sold"),
            value=sold["units"],
            definition=_("Units of services sold in paid visits, less refunded units."),
        ),
        Kpi(
            key="specialist_repeat_rate",
            label=_("Repeat rate (specialists)"),
            value=ratio(repeat["returning"], repeat["member_visits"]),
            unit="percent",
            numerator=repeat["returning"],
            denominator=repeat["member_visits"],
            definition=_(REPEAT_RATE_DEFINITION),
        ),
    ]
    return Dashboard(
        key="specialists",
        title=_("Specialists and services"),
        filters=f,
        kpis=kpis,
        tables=[specialists, services, _pairs(f)],
        notes=[str(TIER_NOTE)],
    )
