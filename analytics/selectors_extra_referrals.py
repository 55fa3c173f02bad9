"""The referrals dashboard: invites, their conversion, new clients through
referrals and their share of all new clients, and what each acquired client
cost in rewards.

A referral pays out points only (``referrals.models.ReferralProgram``: fixed
points or a percent of the first visit, in points), to both sides, when the
friend's first paid visit qualifies; an annulled reward takes them back. Its
cost in money is the points of the rewarded referrals at the program's money
value of a point."""

from __future__ import annotations

from datetime import date

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils.translation import gettext as _

from analytics.db import reading
from analytics.selectors_extra_common import SPECIALIST_NOTE, bounds, per, ratio
from analytics.selectors_extra_ltv import member_values
from analytics.tables import Column, Dashboard, Filters, Kpi, Table
from members.models import Member
from members.money import money
from referrals.models import Referral
from rewards.selectors.program import program_settings

CONVERTED = [Referral.Status.QUALIFIED, Referral.Status.REWARDED]


def _referrals(f: Filters) -> QuerySet:
    """Referrals whose friend matches the location (registered there) and
    tier (current) filters."""
    rows = Referral.objects.using(reading()).order_by()
    if f.location_id is not None:
        rows = rows.filter(referee__registration_location_id=f.location_id)
    if f.tier_id is not None:
        rows = rows.filter(referee__wallet__tier_id=f.tier_id)
    return rows


def _monthly(rows: QuerySet, field: str, **sums) -> dict[date, dict]:
    return {
        r["month"]: r
        for r in rows.annotate(month=TruncMonth(field)).values("month").annotate(**sums)
    }


def _local_month(value) -> date:
    return value.date() if hasattr(value, "date") else value


def dashboard_referrals(f: Filters) -> Dashboard:
    start, end = bounds(f)
    referrals = _referrals(f)
    invited = referrals.filter(registered_at__gte=start, registered_at__lt=end)
    rewarded = referrals.filter(
        status=Referral.Status.REWARDED, rewarded_at__gte=start, rewarded_at__lt=end
    )
    points = F("referrer_points") + F("friend_points")
    inv = invited.aggregate(
        n=Count("pk"), converted=Count("pk", filter=Q(status__in=CONVERTED))
    )
    paid = rewarded.aggregate(n=Count("pk"), points=Coalesce(Sum(points), 0))
    point_money = program_settings().money_per_point
    cost = money(paid["points"] * point_money)

    new = member_values(f).filter(first_day__gte=f.date_from, first_day__lte=f.date_to)
    new_sums = new.aggregate(
        n=Coalesce(Sum("members"), 0),
        referred=Coalesce(
            Sum("members", filter=Q(joined_via=Member.JoinedVia.REFERRAL)), 0
        ),
    )

    kpis = [
        Kpi(
            key="referral_invites",
            label=_("Invites"),
            value=inv["n"],
            definition=_(
                "New clients who signed up with a friend's code in the period."
            ),
        ),
        Kpi(
            key="referral_conversion",
            label=_("Invite conversion"),
            value=ratio(inv["converted"], inv["n"]),
            unit="percent",
            numerator=inv["converted"],
            denominator=inv["n"],
            definition=_(
                "Of the invites of the period, the share whose first paid visit "
                "qualified the referral (qualified or rewarded, not annulled)."
            ),
        ),
        Kpi(
            key="referral_new_clients",
            label=_("New clients through referrals"),
            value=new_sums["referred"],
            definition=_(
                "Members who joined with a friend's code and whose first-ever "
                "paid visit falls in the period."
            ),
        ),
        Kpi(
            key="referral_share",
            label=_("Share of new clients"),
            value=ratio(new_sums["referred"], new_sums["n"]),
            unit="percent",
            numerator=new_sums["referred"],
            denominator=new_sums["n"],
            definition=_(
                "New clients through referrals ÷ all members whose first-ever "
                "paid visit falls in the period."
            ),
        ),
        Kpi(
            key="referral_cost",
            label=_("Referral rewards"),
            value=cost,
            unit="money",
            numerator=paid["points"],
            definition=_(
                "Points given to both sides of the referrals rewarded in the "
                "period, at the money value of a point."
            ),
        ),
        Kpi(
            key="referral_cost_per_client",
            label=_("Cost per acquired client"),
            value=per(cost, paid["n"]),
            unit="money",
            numerator=cost,
            denominator=paid["n"],
            definition=_(
                "Referral rewards of the period ÷ referrals rewarded in it "
                "(each one a new client whose first paid visit qualified)."
            ),
        ),
    ]

    invites_by_month = _monthly(
        invited,
        "registered_at",
        invites=Count("pk"),
        converted=Count("pk", filter=Q(status__in=CONVERTED)),
    )
    rewards_by_month = _monthly(
        rewarded, "rewarded_at", rewarded=Count("pk"), points=Sum(points)
    )
    new_by_month = _monthly(
        new,
        "first_day",
        new_members=Coalesce(Sum("members"), 0),
        referred=Coalesce(
            Sum("members", filter=Q(joined_via=Member.JoinedVia.REFERRAL)), 0
        ),
    )
    months = sorted(
        {_local_month(m) for m in (*invites_by_month, *rewards_by_month)}
        | set(new_by_month)
    )
    by_local = {}
    for source in (invites_by_month, rewards_by_month, new_by_month):
        for month, row in source.items():
            by_local.setdefault(_local_month(month), {}).update(row)
    rows = []
    for month in months:
        r = by_local[month]
        month_cost = money((r.get("points") or 0) * point_money)
        rows.append(
            {
                "month": month,
                "invites": r.get("invites", 0),
                "converted": r.get("converted", 0),
                "conversion": ratio(r.get("converted", 0), r.get("invites", 0)),
                "referred": r.get("referred", 0),
                "new_members": r.get("new_members", 0),
                "share": ratio(r.get("referred", 0), r.get("new_members", 0)),
                "cost": month_cost,
                "cost_per_client": per(month_cost, r.get("rewarded", 0)),
            }
        )
    table = Table(
        key="referrals_by_month",
        title=_("Referrals by month"),
        columns=[
            Column("month", _("Month"), "date"),
            Column("invites", _("Invites"), "count"),
            Column("converted", _("Converted"), "count"),
            Column("conversion", _("Conversion"), "percent"),
            Column("referred", _("New clients through referrals"), "count"),
            Column("new_members", _("All new clients"), "count"),
            Column("share", _("Share of new clients"), "percent"),
            Column("cost", _("Referral rewards"), "money"),
            Column("cost_per_client", _("Cost per acquired client"), "money"),
        ],
        rows=rows,
        chart="bar",
        x="month",
        series=["invites", "converted", "referred"],
    )
    return Dashboard(
        key="referrals",
        title=_("Referrals"),
        filters=f,
        kpis=kpis,
        tables=[table],
        notes=[
            _(
                "The location filter counts friends where they registered; the "
                "tier filter, by their current tier."
            ),
            str(SPECIALIST_NOTE),
        ],
    )
