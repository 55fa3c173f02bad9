"""The LTV dashboard: members' revenue over 12 months and their lifetime, by
tier and by how they joined, and CAC by month where marketing spend was
entered. Read from the members' value snapshot (``MemberValueDaily``) and
``MarketingSpend``, never from the member table itself."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils.translation import gettext as _

from analytics.db import reading
from analytics.models import MarketingSpend, MemberValueDaily
from analytics.selectors_extra_common import (
    SPECIALIST_NOTE,
    months_of,
    per,
    ratio,
)
from analytics.tables import Column, Dashboard, Filters, Kpi, Table
from members.models import Member
from rewards.models import Tier

ZERO = Decimal(0)
SUMS = {
    "n": Coalesce(Sum("members"), 0),
    "lifetime": Coalesce(Sum("lifetime_revenue"), ZERO),
    "n_12m": Coalesce(Sum("members_12m"), 0),
    "revenue_12m": Coalesce(Sum("revenue_12m"), ZERO),
}


def member_values(f: Filters) -> QuerySet:
    """The snapshot's rows for the location (where members registered) and
    tier (their current one) filters; every first-visit day."""
    rows = MemberValueDaily.objects.using(reading()).order_by()
    if f.location_id is not None:
        rows = rows.filter(location_id=f.location_id)
    if f.tier_id is not None:
        rows = rows.filter(tier_id=f.tier_id)
    return rows


def _value_row(label: str, sums: dict) -> dict:
    return {
        "group": label,
        "members": sums["n"],
        "ltv_lifetime": per(sums["lifetime"], sums["n"]),
        "members_12m": sums["n_12m"],
        "ltv_12m": per(sums["revenue_12m"], sums["n_12m"]),
    }


def _value_columns(first: str) -> list[Column]:
    return [
        Column("group", first, "text"),
        Column("members", _("Members"), "count"),
        Column("ltv_lifetime", _("Lifetime revenue per member"), "money"),
        Column("members_12m", _("Members with a visit in 12 months"), "count"),
        Column("ltv_12m", _("12-month revenue per member"), "money"),
    ]


def _by_tier(rows: QuerySet) -> Table:
    sums = {r["tier_id"]: r for r in rows.values("tier_id").annotate(**SUMS)}
    tiers = list(Tier.objects.using(reading()).order_by("rank"))
    out = [_value_row(t.name, sums[t.pk]) for t in tiers if t.pk in sums]
    if None in sums:
        out.append(_value_row(_("No tier"), sums[None]))
    return Table(
        key="ltv_by_tier",
        title=_("Revenue per member by tier"),
        columns=_value_columns(_("Tier")),
        rows=out,
        chart="bar",
        x="group",
        series=["ltv_lifetime", "ltv_12m"],
        note=_("Members by their current tier."),
    )


def _by_source(rows: QuerySet) -> Table:
    sums = {r["joined_via"]: r for r in rows.values("joined_via").annotate(**SUMS)}
    out = [
        _value_row(str(label), sums[value])
        for value, label in Member.JoinedVia.choices
        if value in sums
    ]
    return Table(
        key="ltv_by_source",
        title=_("Revenue per member by how they joined"),
        columns=_value_columns(_("Joined via")),
        rows=out,
        chart="bar",
        x="group",
        series=["ltv_lifetime", "ltv_12m"],
    )


def cac_months(f: Filters) -> list[dict]:
    """Per month of the period: spend (None when not entered), new members
    (first-ever paid visit in the month, the whole program), CAC, and those
    new members' lifetime revenue so far per member."""
    months = months_of(f)
    spend = dict(
        MarketingSpend.objects.using(reading())
        .filter(month__in=months)
        .values_list("month", "amount")
    )
    new = {
        r["month"]: r
        for r in MemberValueDaily.objects.using(reading())
        .order_by()
        .filter(first_day__gte=months[0], first_day__lte=f.date_to)
        .annotate(month=TruncMonth("first_day"))
        .values("month")
        .annotate(**SUMS)
    }
    out = []
    for month in months:
        sums = new.get(month, {"n": 0, "lifetime": ZERO})
        amount = spend.get(month)
        out.append(
            {
                "month": month,
                "spend": amount,
                "new_members": sums["n"],
                "cac": per(amount, sums["n"]) if amount is not None else None,
                "ltv_lifetime": per(sums["lifetime"], sums["n"]),
            }
        )
    return out


def dashboard_ltv(f: Filters) -> Dashboard:
    """LTV (lifetime and 12 months) by tier and acquisition source; CAC."""
    rows = member_values(f)
    total = rows.aggregate(**SUMS)
    months = cac_months(f)
    priced = [m for m in months if m["spend"] is not None]
    spend = sum((m["spend"] for m in priced), ZERO)
    acquired = sum(m["new_members"] for m in priced)
    ltv = per(total["lifetime"], total["n"])
    cac = per(spend, acquired) if priced else None

    kpis = [
        Kpi(
            key="ltv_lifetime",
            label=_("Lifetime revenue per member"),
            value=ltv,
            unit="money",
            numerator=total["lifetime"],
            denominator=total["n"],
            definition=_(
                "The money of all paid visits of members with at least one, "
                "less refunds, since they joined ÷ those members."
            ),
        ),
        Kpi(
            key="ltv_12m",
            label=_("12-month revenue per member"),
            value=per(total["revenue_12m"], total["n_12m"]),
            unit="money",
            numerator=total["revenue_12m"],
            denominator=total["n_12m"],
            definition=_(
                "The money of paid visits in the last 12 months (as of the "
                "nightly scores) ÷ members with a paid visit in them."
            ),
        ),
        Kpi(
            key="cac",
            label=_("CAC"),
            value=cac,
            unit="money",
            numerator=spend if priced else None,
            denominator=acquired if priced else None,
            definition=_(
                "Marketing spend of the period's months where it was entered ÷ "
                "members whose first-ever paid visit falls in those months."
            ),
        ),
        Kpi(
            key="ltv_to_cac",
            label=_("LTV to CAC"),
            value=ratio(ltv, cac) if ltv is not None and cac else None,
            unit="number",
            numerator=ltv,
            denominator=cac,
            definition=_("Lifetime revenue per member ÷ CAC."),
        ),
    ]
    cac_table = Table(
        key="cac_by_month",
        title=_("Customer acquisition cost by month"),
        columns=[
            Column("month", _("Month"), "date"),
            Column("spend", _("Marketing spend"), "money"),
            Column("new_members", _("New members"), "count"),
            Column("cac", _("CAC"), "money"),
            Column("ltv_lifetime", _("Their revenue per member so far"), "money"),
        ],
        rows=months,
        chart="line",
        x="month",
        series=["cac", "ltv_lifetime"],
        note=_(
            "Whole program: marketing spend is not split by location or tier. "
            "Months without an entered spend have no CAC."
        ),
    )
    notes = [
        _(
            "Lifetime and 12-month figures are of all members to date, "
            "whatever the dates chosen; the dates choose the months of CAC."
        ),
        _(
            "The location filter counts members where they registered; the "
            "tier filter, by their current tier. Neither applies to CAC."
        ),
        str(SPECIALIST_NOTE),
    ]
    return Dashboard(
        key="ltv",
        title=_("Lifetime value"),
        filters=f,
        kpis=kpis,
        tables=[_by_tier(rows), _by_source(rows), cac_table],
        notes=notes,
    )
