"""The Repeat visits and Points dashboards."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from django.db.models import Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from analytics import kpis
from analytics import selectors_spans as spans
from analytics.db import reading
from analytics.kpis import Definition, kpi, rate_kpi, ratio
from analytics.selectors_base import (
    by,
    col,
    daily,
    months,
    previous,
    tier_names,
    tiers_in_order,
    totals,
)
from analytics.tables import Dashboard, Filters, Kpi, Table
from rewards.models import Wallet
from rewards.selectors.program import program_settings

MONEY = Decimal("0.01")

FREQUENCY = Definition(
    "visit_frequency",
    gettext_lazy("Visit frequency"),
    gettext_lazy(
        "Members' paid visits in the period ÷ members with ≥ 1 paid visit in "
        "the period."
    ),
    "number",
)
MEMBER_SHARE = Definition(
    "member_visit_share",
    gettext_lazy("Members' share of visits"),
    gettext_lazy("Members' paid visits ÷ all paid visits (members' and anonymous)."),
    "percent",
)
ISSUED = Definition(
    "points_issued",
    gettext_lazy("Points issued"),
    gettext_lazy(
        "Points credited in the period: earned, bonuses and positive adjustments."
    ),
    "points",
)
REDEEMED = Definition(
    "points_redeemed",
    gettext_lazy("Points redeemed"),
    gettext_lazy("Points spent in the period."),
    "points",
)
EXPIRED = Definition(
    "points_expired",
    gettext_lazy("Points expired"),
    gettext_lazy("Points that expired in the period (incl. inactivity burn)."),
    "points",
)
REDEMPTION = Definition(
    "redemption_rate",
    gettext_lazy("Historic redemption rate"),
    gettext_lazy(
        "Points redeemed ÷ (points redeemed + points expired), over all time "
        "up to the end of the period."
    ),
    "percent",
)
OUTSTANDING = Definition(
    "points_outstanding",
    gettext_lazy("Outstanding points"),
    gettext_lazy("Points in members' wallets now (available and pending)."),
    "points",
)
LIABILITY = Definition(
    "points_liability",
    gettext_lazy("Outstanding liability"),
    gettext_lazy(
        "Outstanding points × the money value of a point × the historic "
        "redemption rate: what the points in the wallets are expected to cost."
    ),
    "money",
)


def _compare(now: list[Kpi], before: list[Kpi]) -> list[Kpi]:
    return [replace(a, previous=b.value) for a, b in zip(now, before, strict=True)]


def _specialist_note(f: Filters) -> list[str]:
    if f.specialist_id is None:
        return []
    return [_("The specialist filter does not apply to this dashboard.")]


# --- Repeat visits -----------------------------------------------------------


def _repeat_cards(f: Filters) -> list[Kpi]:
    t = totals(daily(f))
    repeaters, visitors = spans.rpr_parts(f)
    all_visits = t["member_visits"] + t["anon_visits"]
    frequency = ratio(t["member_visits"], visitors, MONEY)
    return [
        rate_kpi(kpis.RPR, repeaters, visitors),
        kpi(FREQUENCY, frequency, t["member_visits"], visitors),
        rate_kpi(kpis.AVG_CHECK, t["member_money"], t["member_visits"]),
        rate_kpi(kpis.AVG_CHECK_ANON, t["anon_money"], t["anon_visits"]),
        rate_kpi(MEMBER_SHARE, t["member_visits"], all_visits),
    ]


def _check_by_tier(f: Filters) -> Table:
    per_tier, names = by(daily(f), "tier_id"), tier_names()
    rows = [
        {
            "tier": names.get(t, str(t)),
            "visits": per_tier[t]["member_visits"] or 0,
            "money": per_tier[t]["member_money"] or 0,
            "average_check": ratio(
                per_tier[t]["member_money"] or 0, per_tier[t]["member_visits"], MONEY
            ),
        }
        for t in tiers_in_order()
        if t in per_tier and per_tier[t]["member_visits"]
    ]
    return Table(
        key="average_check_by_tier",
        title=_("Average check by tier"),
        columns=[
            col("tier", _("Tier"), "text"),
            col("visits", _("Members' paid visits")),
            col("money", _("Money"), "money"),
            col("average_check", _("Average check"), "money"),
        ],
        rows=rows,
        chart="bar",
        x="tier",
        series=["average_check"],
        note=_("By the member's tier at each visit."),
    )


def _members_vs_anonymous(f: Filters) -> Table:
    t = totals(daily(f))
    rows = [
        {
            "who": _("Members"),
            "visits": t["member_visits"],
            "money": t["member_money"],
            "average_check": ratio(t["member_money"], t["member_visits"], MONEY),
        },
        {
            "who": _("Anonymous visits"),
            "visits": t["anon_visits"],
            "money": t["anon_money"],
            "average_check": ratio(t["anon_money"], t["anon_visits"], MONEY),
        },
    ]
    return Table(
        key="members_vs_anonymous",
        title=_("Members against anonymous visits"),
        columns=[
            col("who", _("Visits of"), "text"),
            col("visits", _("Paid visits")),
            col("money", _("Money"), "money"),
            col("average_check", _("Average check"), "money"),
        ],
        rows=rows,
        chart="bar",
        x="who",
        series=["average_check"],
    )


def _rpr_by_month(f: Filters) -> Table:
    counted = spans.rpr_by_month(f, months(f))
    rows = []
    for m in months(f):
        repeaters, visitors = counted.get(m, (0, 0))
        rows.append(
            {
                "month": m,
                "members": visitors,
                "repeat_members": repeaters,
                "rpr": ratio(repeaters, visitors),
            }
        )
    return Table(
        key="rpr_by_month",
        title=_("Repeat purchase rate by month"),
        columns=[
            col("month", _("Month"), "date"),
            col("members", _("Members with a paid visit")),
            col("repeat_members", _("Members with ≥ 2 paid visits")),
            col("rpr", _("Repeat purchase rate"), "percent"),
        ],
        rows=rows,
        chart="line",
        x="month",
        series=["rpr"],
    )


def dashboard_repeat(f: Filters) -> Dashboard:
    """RPR, visit frequency, average check (by tier; members against
    anonymous visits) and RPR by month."""
    cards = _compare(_repeat_cards(f), _repeat_cards(previous(f)))
    return Dashboard(
        key="repeat",
        title=_("Repeat visits"),
        filters=f,
        kpis=cards,
        tables=[_check_by_tier(f), _members_vs_anonymous(f), _rpr_by_month(f)],
        notes=_specialist_note(f) + spans.notes(),
    )


# --- Points ------------------------------------------------------------------


def _outstanding(f: Filters) -> int:
    wallets = Wallet.objects.using(reading())
    if f.tier_id is not None:
        wallets = wallets.filter(tier_id=f.tier_id)
    got = wallets.aggregate(available=Sum("available"), pending=Sum("pending"))
    return (got["available"] or 0) + (got["pending"] or 0)


def _points_cards(f: Filters) -> list[Kpi]:
    t = totals(daily(f))
    return [
        kpi(ISSUED, t["points_issued"]),
        kpi(REDEEMED, t["points_redeemed"]),
        kpi(EXPIRED, t["points_expired"]),
        rate_kpi(kpis.BREAKAGE, t["lots_expired"], t["lots_issued"]),
    ]


def _liability_cards(f: Filters) -> list[Kpi]:
    ever = totals(daily(f, all_time=True))
    redeemed, expired = ever["points_redeemed"], ever["points_expired"]
    rate = ratio(redeemed, redeemed + expired)
    points = _outstanding(f)
    value = program_settings().point_value
    liability = None
    if rate is not None:
        liability = (Decimal(points) * value * rate).quantize(MONEY)
    return [
        rate_kpi(REDEMPTION, redeemed, redeemed + expired),
        kpi(OUTSTANDING, points),
        kpi(LIABILITY, liability, Decimal(points) * value, rate),
    ]


def _points_by_month(f: Filters) -> Table:
    per_month = by(daily(f), "month")
    rows = []
    for m in months(f):
        got = per_month.get(m, {})
        rows.append(
            {
                "month": m,
                "issued": got.get("points_issued") or 0,
                "redeemed": got.get("points_redeemed") or 0,
                "expired": got.get("points_expired") or 0,
                "breakage": ratio(got.get("lots_expired") or 0, got.get("lots_issued")),
            }
        )
    return Table(
        key="points_by_month",
        title=_("Points by month"),
        columns=[
            col("month", _("Month"), "date"),
            col("issued", _("Issued"), "points"),
            col("redeemed", _("Redeemed"), "points"),
            col("expired", _("Expired"), "points"),
            col("breakage", _("Breakage rate"), "percent"),
        ],
        rows=rows,
        chart="line",
        x="month",
        series=["issued", "redeemed", "expired"],
        note=_("Breakage by the month the lots were issued in."),
    )


def dashboard_points(f: Filters) -> Dashboard:
    """Points issued, redeemed and expired, breakage, and the outstanding
    liability in money with the historic redemption rate, by month."""
    cards = _compare(_points_cards(f), _points_cards(previous(f)))
    cards += _liability_cards(f)
    notes = [
        *_specialist_note(f),
        _(
            "Points by location: the location of the visit an entry belongs "
            "to; bonuses, adjustments and expiries have none, so a location "
            "filter leaves them out."
        ),
        _(
            "Outstanding points are today's wallet balances (by the wallet's "
            "current tier; the location filter does not apply to them)."
        ),
    ]
    return Dashboard(
        key="points",
        title=_("Points"),
        filters=f,
        kpis=cards,
        tables=[_points_by_month(f)],
        notes=notes,
    )
