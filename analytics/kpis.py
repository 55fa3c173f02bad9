"""The program's KPIs: their definitions (label and tooltip, word for word as
in docs/analytics.md) and the reference computation of each, straight from
the raw tables.

The dashboards read the additive parts from the aggregates
(``analytics.selectors``); the functions here are the yardstick the tests
hold them to, and what a figure *means*. For a period [from, to] and the
filters; a paid visit is one with status paid, its money is
``amount_paid − amount_refunded``, its date is ``paid_at`` in the program's
time zone. The location and tier filters select visits (and lots) by the
visit's location and the tier at the visit (``analytics.aggregates.tier_at``);
the specialist filter does not apply to these KPIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connections
from django.db.models import Count, DateField, Max, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from analytics.db import reading
from analytics.expressions import first_visits, money, paid_visits, retained, tier_at
from analytics.tables import Filters, Kpi
from rewards.models import PointLot
from rewards.selectors.program import day_start

RATE_PLACES = Decimal("0.0001")
MONEY_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Definition:
    key: str
    label: Promise
    text: Promise
    unit: str


RPR = Definition(
    "repeat_purchase_rate",
    _("Repeat purchase rate"),
    _(
        "Members with ≥ 2 paid visits in the period ÷ members with ≥ 1 paid "
        "visit in the period."
    ),
    "percent",
)
RETENTION_30D = Definition(
    "new_member_retention_30d",
    _("New-member 30-day retention"),
    _(
        "Of the members whose first-ever paid visit falls in the period, the "
        "share with another paid visit paid later than the first one and at "
        "most 30 days (30 × 24 h) after it."
    ),
    "percent",
)
AVG_CHECK = Definition(
    "average_check_members",
    _("Average check, members"),
    _(
        "The money of members' paid visits in the period ÷ their number "
        "(anonymous visits get their own figure beside it)."
    ),
    "money",
)
AVG_CHECK_ANON = Definition(
    "average_check_anonymous",
    _("Average check, anonymous visits"),
    _(
        "The money of paid visits without a member (anonymous visits) in the "
        "period ÷ their number."
    ),
    "money",
)
ACTIVE = Definition(
    "active_members",
    _("Active members"),
    _(
        "Members with a paid visit in the %(days)s days before the date (the "
        "end of the period)."
    ),
    "count",
)
LOST = Definition(
    "lost_members",
    _("Lost members"),
    _(
        "Members whose last paid visit is more than %(days)s days before the "
        "date (the end of the period)."
    ),
    "count",
)
BREAKAGE = Definition(
    "breakage_rate",
    _("Breakage rate"),
    _("Points expired ÷ points issued, over lots issued in the period."),
    "percent",
)

# The KPIs of the definitions, in the export's order.
DEFINED = [RPR, RETENTION_30D, AVG_CHECK, AVG_CHECK_ANON, ACTIVE, LOST, BREAKAGE]


def definition_text(d: Definition) -> str:
    if d is ACTIVE:
        return str(d.text) % {"days": settings.ANALYTICS_ACTIVE_DAYS}
    if d is LOST or d is CHURN:
        return str(d.text) % {"days": settings.ANALYTICS_LOST_DAYS}
    return str(d.text)


def ratio(numerator, denominator, places: Decimal = RATE_PLACES) -> Decimal | None:
    """numerator ÷ denominator, rounded half-up; None when nothing to divide."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(places)


def kpi(
    d: Definition,
    value,
    numerator=None,
    denominator=None,
    previous=None,
) -> Kpi:
    return Kpi(
        key=d.key,
        label=str(d.label),
        value=value,
        unit=d.unit,
        numerator=numerator,
        denominator=denominator,
        definition=definition_text(d),
        previous=previous,
    )


def rate_kpi(d: Definition, numerator, denominator, previous=None) -> Kpi:
    places = MONEY_PLACES if d.unit == "money" else RATE_PLACES
    return kpi(
        d, ratio(numerator, denominator, places), numerator, denominator, previous
    )


# --- The period and the filters ---------------------------------------------


def bounds(f: Filters) -> tuple[datetime, datetime]:
    """[start, end) of the period: local midnight of ``date_from`` and of the
    day after ``date_to``."""
    return day_start(f.date_from), day_start(f.date_to + timedelta(days=1))


def filtered(qs: QuerySet, f: Filters, *, location="location_id", at="paid_at"):
    """Visits (or lots) narrowed by the location and the tier at the time."""
    if f.location_id is not None:
        qs = qs.filter(**{location: f.location_id})
    if f.tier_id is not None:
        qs = qs.annotate(tier_then=tier_at(at=at)).filter(tier_then=f.tier_id)
    return qs


def visits_in(f: Filters, start: datetime, end: datetime) -> QuerySet:
    qs = paid_visits().using(reading()).filter(paid_at__gte=start, paid_at__lt=end)
    return filtered(qs, f)


# --- The reference computations ---------------------------------------------


def rpr_parts(f: Filters) -> tuple[int, int]:
    """(members with ≥ 2 paid visits, members with ≥ 1) in the period."""
    per_member = (
        visits_in(f, *bounds(f))
        .filter(member__isnull=False)
        .values("member_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return per_member.filter(n__gte=2).count(), per_member.count()


def retention_parts(f: Filters) -> tuple[int, int]:
    """(retained, new members): first-ever paid visits in the period."""
    start, end = bounds(f)
    firsts = filtered(
        first_visits().using(reading()).filter(paid_at__gte=start, paid_at__lt=end), f
    )
    return firsts.filter(retained()).count(), firsts.count()


def check_parts(f: Filters, *, members: bool) -> tuple[Decimal, int]:
    """(money, number) of the members' (or the anonymous) paid visits."""
    qs = visits_in(f, *bounds(f)).filter(member__isnull=not members)
    got = qs.aggregate(money=Sum(money()), n=Count("id"))
    return got["money"] or Decimal("0"), got["n"]


def days_back(f: Filters, days: int) -> datetime:
    """The start of the ``days`` local days that end with ``date_to``."""
    return day_start(f.date_to - timedelta(days=days - 1))


def active_count(f: Filters) -> int:
    """Members with a paid visit in the ACTIVE_DAYS local days that end with
    ``date_to``."""
    start, end = days_back(f, settings.ANALYTICS_ACTIVE_DAYS), bounds(f)[1]
    qs = visits_in(f, start, end).filter(member__isnull=False)
    return qs.values("member_id").distinct().count()


def active_by_location(f: Filters) -> dict:
    """``active_count`` per location of the visits."""
    start, end = days_back(f, settings.ANALYTICS_ACTIVE_DAYS), bounds(f)[1]
    qs = visits_in(f, start, end).filter(member__isnull=False)
    rows = qs.values("location_id").annotate(n=Count("member_id", distinct=True))
    return {row["location_id"]: row["n"] for row in rows.order_by()}


def not_lost_count(f: Filters) -> int:
    """Members with a paid visit in the LOST_DAYS local days that end with
    ``date_to``."""
    start, end = days_back(f, settings.ANALYTICS_LOST_DAYS), bounds(f)[1]
    qs = visits_in(f, start, end).filter(member__isnull=False)
    return qs.values("member_id").distinct().count()


def lost_count(f: Filters) -> int:
    """Members whose last paid visit up to the end of ``date_to`` is before the
    LOST_DAYS local days that end with it."""
    end = bounds(f)[1]
    limit = days_back(f, settings.ANALYTICS_LOST_DAYS)
    qs = filtered(
        paid_visits().using(reading()).filter(paid_at__lt=end, member__isnull=False),
        f,
    )
    last = qs.values("member_id").annotate(last=Max("paid_at")).order_by()
    return last.filter(last__lt=limit).count()


def breakage_parts(f: Filters) -> tuple[int, int]:
    """(points expired, points issued) of the lots credited in the period."""
    start, end = bounds(f)
    lots = PointLot.objects.using(reading()).filter(
        created_at__gte=start, created_at__lt=end
    )
    lots = filtered(lots, f, location="entry__visit__location_id", at="created_at")
    got = lots.aggregate(expired=Sum("expired"), issued=Sum("amount"))
    return got["expired"] or 0, got["issued"] or 0


def kpis_direct(f: Filters) -> list[Kpi]:
    """Every defined KPI, computed from the raw tables (the reference)."""
    member_money, member_n = check_parts(f, members=True)
    anon_money, anon_n = check_parts(f, members=False)
    return [
        rate_kpi(RPR, *rpr_parts(f)),
        rate_kpi(RETENTION_30D, *retention_parts(f)),
        rate_kpi(AVG_CHECK, member_money, member_n),
        rate_kpi(AVG_CHECK_ANON, anon_money, anon_n),
        kpi(ACTIVE, active_count(f)),
        kpi(LOST, lost_count(f)),
        rate_kpi(BREAKAGE, *breakage_parts(f)),
    ]


CHURN = Definition(
    "churn_rate",
    _("Churn rate"),
    _(
        "Members who became lost during the period (their last paid visit, as "
        "of its end, is between %(days)s days before its start and %(days)s "
        "days before its end) ÷ members who were not lost at its start (a "
        "paid visit in the %(days)s days before it)."
    ),
    "percent",
)


def churn_parts(f: Filters) -> tuple[int, int]:
    """(members who became lost in the period, members not lost at its start)."""
    start, end = bounds(f)
    lost = timedelta(days=settings.ANALYTICS_LOST_DAYS)
    before = day_start(f.date_from - lost)  # LOST_DAYS local days before start
    recent = day_start(f.date_to + timedelta(days=1) - lost)
    members = paid_visits().using(reading()).filter(member__isnull=False)
    since = filtered(members.filter(paid_at__gte=recent, paid_at__lt=end), f)
    churned = (
        filtered(members.filter(paid_at__gte=before, paid_at__lt=recent), f)
        .exclude(member_id__in=since.values("member_id"))
        .values("member_id")
        .distinct()
        .count()
    )
    base = filtered(members.filter(paid_at__gte=before, paid_at__lt=start), f)
    return churned, base.values("member_id").distinct().count()


def rpr_by_month(f: Filters) -> dict[date, tuple[int, int]]:
    """(members with ≥ 2 paid visits, members with ≥ 1) per local month of
    the period (each month cut to the period), in one pass over its visits:
    visits per member and month, then members per month."""
    per_member = (
        visits_in(f, *bounds(f))
        .filter(member__isnull=False)
        .annotate(
            month=TruncMonth(
                "paid_at",
                output_field=DateField(),
                tzinfo=timezone.get_current_timezone(),
            )
        )
        .values("month", "member_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    inner, params = per_member.query.sql_with_params()
    sql = (
        "SELECT month, SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END), COUNT(*) "
        f"FROM ({inner}) per_member GROUP BY month"
    )
    with connections[reading()].cursor() as cursor:
        cursor.execute(sql, params)
        return {
            date.fromisoformat(str(month)[:10]): (int(repeat), int(members))
            for month, repeat, members in cursor.fetchall()
        }
