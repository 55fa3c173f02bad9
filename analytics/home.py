"""The manager's home (the admin index): what it reads, for whom.

Today's and this month's figures against the previous period, the program's
health, quick actions and alerts, each block for those whose permissions
allow it (:func:`home_for`); ``{% analytics_home %}`` renders them.

The figures read the raw tables over small date ranges (never the daily
aggregates: they must be right this minute), a few indexed aggregate queries
whatever the size of the data, from ``reading()`` (the replica if any).
Today so far compares with yesterday up to the same time of day; this month
so far with the previous month up to the same day and time (all of it when
it has no such day).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics import selectors_spans as spans
from analytics.db import reading
from analytics.home_links import (  # noqa: F401 - the home's names
    VIEW_CAMPAIGNS,
    Alert,
    Link,
    home_alerts,
    home_dashboards,
    url_or_none,
)
from analytics.tables import Filters, Kpi
from campaigns.results import program_results
from members.models import Member, Visit
from rewards.models import LedgerEntry
from rewards.selectors.program import day_start

# Who sees which block. The money figures and the program's health are the
# dashboards' permission; a visits count needs only to see visits.
VIEW_MONEY = "analytics.view_dailystat"
VIEW_VISITS = "members.view_visit"
CHECKOUT = "members.add_visit"
VIEW_MEMBERS = "members.view_member"

MONEY_SUM = DecimalField(max_digits=20, decimal_places=2)
ZERO = Decimal("0")
Kind = LedgerEntry.Kind
ISSUED_KINDS = [Kind.EARN, Kind.BONUS]
REDEEMED_KINDS = [Kind.SPEND]


# --- Periods ------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """[start, end], both included, as aware datetimes."""

    start: datetime
    end: datetime

    def q(self, field_name: str) -> Q:
        return Q(**{f"{field_name}__gte": self.start, f"{field_name}__lte": self.end})


@dataclass(frozen=True)
class Periods:
    today: Period
    yesterday: Period  # up to the same time of day
    month: Period
    previous_month: Period  # up to the same day and time

    def all(self) -> dict[str, Period]:
        return {
            "today": self.today,
            "yesterday": self.yesterday,
            "month": self.month,
            "previous_month": self.previous_month,
        }


def home_periods(now: datetime) -> Periods:
    """Today and this month so far, and the previous periods to the same point
    (local days in the program's time zone)."""
    today = timezone.localdate(now)
    today_start = day_start(today)
    into_day = now - today_start
    yesterday = today - timedelta(days=1)
    month_start = day_start(today.replace(day=1))
    previous_start_day = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    try:
        same_day = previous_start_day.replace(day=today.day)
    except ValueError:  # the 31st against a 30-day month: all of that month
        previous_end = month_start - timedelta(microseconds=1)
    else:
        previous_end = day_start(same_day) + into_day
    return Periods(
        today=Period(today_start, now),
        yesterday=Period(day_start(yesterday), day_start(yesterday) + into_day),
        month=Period(month_start, now),
        previous_month=Period(day_start(previous_start_day), previous_end),
    )


# --- Figures ------------------------------------------------------------------


def _union(branches: list[tuple[str, QuerySet]], **sums) -> dict[str, dict]:
    """``sums`` over each ``(key, queryset)`` branch, by key: one query, a
    UNION ALL of one range scan per period, so that each reads only its own
    range of the index (a single scan from the earliest start would also
    read the weeks between the previous month's same day and the 1st)."""
    parts = [
        queryset.order_by()
        .annotate(branch=Value(key))
        .values("branch")
        .annotate(**sums)
        for key, queryset in branches
    ]
    return {row["branch"]: row for row in parts[0].union(*parts[1:], all=True)}


def _visit_sums(periods: dict[str, Period], *, money: bool) -> dict:
    """Paid visits (and their money) of each period, members' and anonymous
    ones together: one query.

    Members' visits are read on ``visit_paid_cover_idx`` (its predicate is
    exactly ``status = paid AND member IS NOT NULL``, and it holds the
    amounts); anonymous visits, when the POS records them, by ``paid_at``.
    """
    sums = {"n": Count("paid_at")}
    if money:
        sums["money"] = Sum(
            F("amount_paid") - F("amount_refunded"), output_field=MONEY_SUM
        )
    paid = Visit.objects.using(reading()).filter(status=Visit.Status.PAID)
    rows = _union(
        [
            (
                f"{key} {anonymous}",
                paid.filter(period.q("paid_at"), member__isnull=anonymous),
            )
            for key, period in periods.items()
            for anonymous in (False, True)
        ],
        **sums,
    )
    out = {}
    for key in periods:
        got = [rows.get(f"{key} {anonymous}", {}) for anonymous in (False, True)]
        out[f"{key}_n"] = sum(r.get("n") or 0 for r in got)
        out[f"{key}_money"] = sum((r.get("money") or ZERO for r in got), ZERO)
    return out


def _member_counts(periods: dict[str, Period]) -> dict:
    """New members of each period (first-ever paid visit in it), by the
    members' cached first-visit time (indexed: one range each)."""
    aggregates = {
        f"{key}_new": Count("pk", filter=period.q("first_visit_at"))
        for key, period in periods.items()
    }
    where = Q()
    for period in periods.values():
        where |= period.q("first_visit_at")
    return (
        Member.objects.using(reading()).filter(where).order_by().aggregate(**aggregates)
    )


def _active(now: datetime) -> int:
    """Active members at the end of today (the dashboards' definition)."""
    today = timezone.localdate(now)
    return spans.active_count(Filters(today, today))


def _points(periods: dict[str, Period]) -> dict:
    """Points issued and redeemed per period, net of their reversals (a
    refunded or cancelled visit takes its points back; a cancelled spend
    gives them back), reversals counting on the day they happen: one query.

    A reversal's sign tells what it reverses, no join needed: taking back
    earned or bonus points is negative, counting the debt it leaves when the
    member no longer has them (``amount − debt_change``); giving spent
    points back is positive.
    """
    taken_back = F("amount") - F("debt_change")
    aggregates = {}
    for key, period in periods.items():
        window = period.q("created_at")
        aggregates |= {
            f"{key}_issued": Sum("amount", filter=window & Q(kind__in=ISSUED_KINDS)),
            f"{key}_issued_back": Sum(
                taken_back,
                filter=window & Q(kind=Kind.REVERSE, amount__lt=F("debt_change")),
            ),
            f"{key}_redeemed": Sum(
                "amount", filter=window & Q(kind__in=REDEEMED_KINDS)
            ),
            f"{key}_redeemed_back": Sum(
                "amount", filter=window & Q(kind=Kind.REVERSE, amount__gt=0)
            ),
        }
    # One scan of the whole range: the entries are not in a covering index,
    # so a scan per period would read their pages once per period.
    sums = (
        LedgerEntry.objects.using(reading())
        .filter(
            kind__in=[*ISSUED_KINDS, *REDEEMED_KINDS, Kind.REVERSE],
            created_at__gte=min(p.start for p in periods.values()),
            created_at__lte=max(p.end for p in periods.values()),
        )
        .order_by()
        .aggregate(**aggregates)
    )
    return {
        f"{key}_{what}": (sums[f"{key}_{what}"] or 0)
        + (sums[f"{key}_{what}_back"] or 0)
        for key in periods
        for what in ("issued", "redeemed")
    }


# key → (label, unit, definition: the card's tooltip).
FIGURES = {
    "visits": (_("Visits"), "count", _(
        "Paid visits, of members and anonymous ones; cancelled and refunded "
        "visits do not count.")),
    "revenue": (_("Revenue"), "money", _(
        "Money of the paid visits (members' and anonymous): amount paid less "
        "amounts refunded; points are not money.")),
    "new_members": (_("New members"), "count", _(
        "Members whose first-ever paid visit falls in the period.")),
    "points_issued": (_("Points issued"), "points", _(
        "Points earned on visits and given as bonuses, less those taken back "
        "(refunds, cancellations) in the period.")),
    "points_redeemed": (_("Points redeemed"), "points", _(
        "Points spent at checkout, less those given back in the period.")),
}  # fmt: skip


def _kpi(key: str, value, previous) -> Kpi:
    label, unit, definition = FIGURES[key]
    return Kpi(key, label, value, unit, definition=definition, previous=previous)


@dataclass(frozen=True)
class Figures:
    """The figure cards of today and of this month (each with ``previous``),
    and the active members, read by the same query as the new ones."""

    today: list[Kpi]
    month: list[Kpi]
    active_members: int


# On PostgreSQL the planner prices the covering index's index-only scan of
# a month of visits above a sequential scan of the whole table (measured
# on 10M visits: 60 ms against 1.5–3 s), and compiling these one-off
# aggregates (JIT) costs more than running them. Both are set for the
# home's own transaction only.
INDEX_ONLY = (
    "SET LOCAL jit = off; SET LOCAL enable_seqscan = off; "
    "SET LOCAL enable_bitmapscan = off"
)
PLANNER_DEFAULT = "SET LOCAL enable_seqscan = on; SET LOCAL enable_bitmapscan = on"


@contextmanager
def _planned(alias: str):
    """``plan(statements)`` for the queries inside: on PostgreSQL the planner
    settings, local to a transaction around them; elsewhere nothing."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        yield lambda _statements: None
        return
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        yield cursor.execute


def home_figures(*, now: datetime | None = None) -> Figures:
    """Visits, revenue, new members, points issued and redeemed, today and this
    month, each against the previous period, and the active members: five
    queries (and the planner settings on PostgreSQL)."""
    now = now or timezone.now()
    periods = home_periods(now).all()
    with _planned(reading()) as plan:
        plan(INDEX_ONLY)
        visits = _visit_sums(periods, money=True)
        plan(PLANNER_DEFAULT)
        counts = _member_counts(periods)
        points = _points(periods)
        active = _active(now)

    def figures(key: str) -> dict:
        return {
            "visits": visits[f"{key}_n"],
            "revenue": visits[f"{key}_money"],
            "new_members": counts[f"{key}_new"],
            "points_issued": points[f"{key}_issued"],
            "points_redeemed": -points[f"{key}_redeemed"],
        }

    def cards(current: str, previous: str) -> list[Kpi]:
        now_, before = figures(current), figures(previous)
        return [_kpi(key, now_[key], before[key]) for key in now_]

    return Figures(
        today=cards("today", "yesterday"),
        month=cards("month", "previous_month"),
        active_members=active,
    )


def home_visits_today(*, now: datetime | None = None) -> Kpi:
    """Today's paid visits (a count, no money) against yesterday to the same
    time: one query."""
    periods = home_periods(now or timezone.now())
    wanted = {"today": periods.today, "yesterday": periods.yesterday}
    with _planned(reading()) as plan:
        plan(INDEX_ONLY)
        sums = _visit_sums(wanted, money=False)
    return _kpi("visits", sums["today_n"], sums["yesterday_n"])


# --- Program health -------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    """The campaigns' sum (``campaigns.stats.ProgramResult``) and the active
    members. ``roi`` is None while no campaign has a measured cost;
    ``enough_data`` is false while no campaign has enough data to conclude."""

    campaigns: int
    measured: int
    conclusive: int
    incremental_revenue: Decimal
    roi: Decimal | None
    enough_data: bool
    active_members: int
    active_days: int


def home_health(*, program, active_members: int) -> Health:
    """The campaigns' overall result (``program``: what
    ``campaigns.results.program_results`` returned; the campaigns app reads
    its own tables, so these are the numbers of its program page) and the
    active members (``Figures.active_members``)."""
    _rows, result = program
    return Health(
        campaigns=result.campaigns,
        measured=result.measured,
        conclusive=result.conclusive,
        incremental_revenue=result.incremental_revenue,
        roi=result.roi,
        enough_data=result.conclusive > 0,
        active_members=active_members,
        active_days=settings.ANALYTICS_ACTIVE_DAYS,
    )


# --- The home -------------------------------------------------------------------


@dataclass
class Home:
    """What one user's home shows; an empty or None block is not shown."""

    periods: Periods | None = None
    figures: Figures | None = None
    visits_today: Kpi | None = None
    health: Health | None = None
    checkout_url: str | None = None
    find_url: str | None = None
    find_field: str = ""
    dashboards: list[Link] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def home_for(user, *, now: datetime | None = None) -> Home:
    """The blocks ``user`` may see, read. A superuser sees everything.

    Money (figures, health, dashboards) needs the dashboards' permission; the
    front desk, who may only see visits, gets today's visits as a count;
    each alert needs the view permission of the list it links to.
    """
    now = now or timezone.now()
    home = Home(periods=home_periods(now))
    sees_money = user.has_perm(VIEW_MONEY)
    if sees_money:
        home.figures = home_figures(now=now)
    elif user.has_perm(VIEW_VISITS):
        home.visits_today = home_visits_today(now=now)
    program = None
    if sees_money or user.has_perm(VIEW_CAMPAIGNS):
        program = program_results(now=now)
    if sees_money:
        home.health = home_health(
            program=program, active_members=home.figures.active_members
        )
        home.dashboards = home_dashboards(user)
    if user.has_perm(CHECKOUT):
        home.checkout_url = url_or_none("admin:rewards_checkout")
        home.find_url, home.find_field = home.checkout_url, "find"
    if not home.find_url and user.has_perm(VIEW_MEMBERS):
        home.find_url = url_or_none("admin:members_member_changelist")
        home.find_field = "q"
    home.alerts = home_alerts(user, now=now, program=program)
    return home
