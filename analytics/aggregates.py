"""Fill the daily aggregates (``analytics.models.daily``) from the raw tables.

Set-based: each query groups a range of days' visits, ledger entries or lots
in the database and returns a handful of rows per day (locations × tiers),
which replace that range's rows (delete + ``bulk_create``) in one
transaction. Nothing loops over members, and a second run writes the same
rows again.

A day's figures can change after the day: a visit is cancelled or partly
refunded, a later visit retains a new member (30 × 24 h), lots credited that
day expire. ``aggregates_refresh`` therefore also re-touches the days those
events reach back to (see ``days_touched``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from analytics.aggregates_extra import extra_refresh, member_value_refresh
from analytics.expressions import (  # noqa: F401 - also read from here
    PAID,
    RETENTION,
    _between,
    first_visits,
    first_visits_between,
    local_day,
    money,
    paid_visits,
    retained,
    tier_at,
)
from analytics.models import CohortStat, DailyStat
from members.models import Member, Visit, VisitRefund
from rewards.models import LedgerEntry, LotAllocation, PointLot
from rewards.selectors.program import day_start

COHORT_MONTHS = 12
# Days refreshed in one transaction by a rebuild.
CHUNK_DAYS = 31

Progress = Callable[[str], None]


@dataclass
class RefreshResult:
    days: list[date] = field(default_factory=list)
    rows: int = 0
    cohort_rows: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "days": len(self.days),
            "first": self.days[0].isoformat() if self.days else None,
            "last": self.days[-1].isoformat() if self.days else None,
            "rows": self.rows,
            "cohort_rows": self.cohort_rows,
            "seconds": round(self.seconds, 2),
        }


# --- The figures of a range of days -----------------------------------------

ISSUED = Q(kind__in=[LedgerEntry.Kind.EARN, LedgerEntry.Kind.BONUS]) | Q(
    kind=LedgerEntry.Kind.ADJUST, amount__gt=0
)


def _sum_if(condition: Q, expr) -> Sum:
    return Sum(Case(When(condition, then=expr), default=Value(0)))


def daily_rows(day_from: date, day_to: date) -> list[DailyStat]:
    """The DailyStat rows of [day_from, day_to], computed from the raw tables."""
    rows: dict[tuple, DailyStat] = {}

    def row(day, location_id, tier_id) -> DailyStat:
        key = (day, location_id, tier_id)
        if key not in rows:
            rows[key] = DailyStat(day=day, location_id=location_id, tier_id=tier_id)
        return rows[key]

    visits = (
        paid_visits()
        .filter(**_between("paid_at", day_from, day_to))
        .annotate(d=local_day("paid_at"), t=tier_at())
        .values("d", "location_id", "t")
        .annotate(
            mv=Count("id", filter=Q(member__isnull=False)),
            mm=Sum(money(), filter=Q(member__isnull=False)),
            av=Count("id", filter=Q(member__isnull=True)),
            am=Sum(money(), filter=Q(member__isnull=True)),
        )
        .order_by()
    )
    for v in visits:
        r = row(v["d"], v["location_id"], v["t"])
        r.member_visits, r.member_money = v["mv"], v["mm"] or 0
        r.anon_visits, r.anon_money = v["av"], v["am"] or 0

    firsts = (
        first_visits_between(day_from, day_to)
        .annotate(
            d=local_day("paid_at"),
            t=tier_at(),
            kept=Case(When(retained(), then=1), default=0, output_field=IntegerField()),
        )
        .values("d", "location_id", "t")
        .annotate(n=Count("id"), k=Sum("kept"))
        .order_by()
    )
    for v in firsts:
        r = row(v["d"], v["location_id"], v["t"])
        r.new_members, r.new_retained = v["n"], v["k"] or 0

    entries = (
        LedgerEntry.objects.filter(**_between("created_at", day_from, day_to))
        .annotate(
            d=local_day("created_at"),
            loc=F("visit__location_id"),
            t=tier_at(at="created_at"),
        )
        .values("d", "loc", "t")
        .annotate(
            issued=_sum_if(ISSUED, F("amount")),
            redeemed=_sum_if(Q(kind=LedgerEntry.Kind.SPEND), -F("amount")),
            expired=_sum_if(Q(kind=LedgerEntry.Kind.EXPIRE), -F("amount")),
        )
        .order_by()
    )
    for v in entries:
        if v["issued"] or v["redeemed"] or v["expired"]:
            r = row(v["d"], v["loc"], v["t"])
            r.points_issued = v["issued"] or 0
            r.points_redeemed = v["redeemed"] or 0
            r.points_expired = v["expired"] or 0

    lots = (
        PointLot.objects.filter(**_between("created_at", day_from, day_to))
        .annotate(
            d=local_day("created_at"),
            loc=F("entry__visit__location_id"),
            t=tier_at(at="created_at"),
        )
        .values("d", "loc", "t")
        .annotate(issued=Sum("amount"), expired=Sum("expired"))
        .order_by()
    )
    for v in lots:
        r = row(v["d"], v["loc"], v["t"])
        r.lots_issued, r.lots_expired = v["issued"] or 0, v["expired"] or 0

    return list(rows.values())


# --- Which days to refresh ---------------------------------------------------


def _changed_visits(day_from: date, day_to: date) -> list:
    """Visits cancelled, refunded or partly refunded in [day_from, day_to],
    as two querysets: each is an index scan, and an OR of the two made
    PostgreSQL read every visit."""
    refunded = VisitRefund.objects.filter(**_between("created_at", day_from, day_to))
    return [
        Visit.objects.filter(**_between("status_changed_at", day_from, day_to)),
        Visit.objects.filter(id__in=refunded.values("visit_id")),
    ]


def _paid_days(changed: list) -> set[date]:
    return {
        day
        for visits in changed
        for day in visits.annotate(d=local_day("paid_at")).values_list("d", flat=True)
    }


def days_touched(
    day_from: date, day_to: date, *, reach_back: bool = True
) -> list[date]:
    """[day_from, day_to] and, with ``reach_back``, the earlier days whose
    figures events in it changed: the 30 days before it (their new members'
    retention window is open), the days of visits cancelled, refunded or
    partly refunded in it, the first-visit days of those visits' members
    (a cancelled first visit makes the next one first), and the credit days
    of lots that expired in it."""
    days = {day_from + timedelta(days=i) for i in range((day_to - day_from).days + 1)}
    if not reach_back:
        return sorted(days)
    days |= {day_from - timedelta(days=i) for i in range(1, RETENTION.days + 2)}
    changed = _changed_visits(day_from, day_to)
    days |= _paid_days(changed)
    # Only a member whose first visit was undone has a new first-visit day:
    # the undone visit is at or before the member's first paid visit now
    # (``first_visit_at``, kept by the visit services; none left = NULL).
    for visits in changed:
        members = visits.filter(
            Q(member__first_visit_at__isnull=True)
            | Q(paid_at__lte=F("member__first_visit_at")),
            member__isnull=False,
        ).values("member_id")
        days |= set(
            Member.objects.filter(pk__in=members, first_visit_at__isnull=False)
            .annotate(d=local_day("first_visit_at"))
            .values_list("d", flat=True)
        )
    expiries = LotAllocation.objects.filter(
        entry__kind=LedgerEntry.Kind.EXPIRE,
        **_between("entry__created_at", day_from, day_to),
    )
    days |= set(
        PointLot.objects.filter(id__in=expiries.values("lot_id"))
        .annotate(d=local_day("created_at"))
        .values_list("d", flat=True)
    )
    return sorted(d for d in days if d is not None)


def runs(days: Iterable[date], longest: int = CHUNK_DAYS) -> list[tuple[date, date]]:
    """Sorted days as contiguous ranges of at most ``longest`` days."""
    runs: list[list[date]] = []
    for day in sorted(days):
        extends = runs and day - runs[-1][1] == timedelta(days=1)
        if extends and (day - runs[-1][0]).days < longest:
            runs[-1][1] = day
            continue
        runs.append([day, day])
    return [(a, b) for a, b in runs]


# --- Cohorts -----------------------------------------------------------------


def month_add(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def cohort_rows(month_from: date, month_to: date) -> list[CohortStat]:
    """CohortStat rows of the cohorts of months [month_from, month_to].

    One query per cohort month over its members (``Member.first_visit_at``,
    the cached time of the first-ever paid visit, kept exact by the visit
    services and the nightly reconcile): the first visit's location and tier,
    and for each of the 12 months after whether the member had a paid visit
    in it (an index probe per member and month, not a scan of every visit).
    """
    rows: list[CohortStat] = []
    cohort = month_from
    while cohort <= month_to:
        rows += _cohort_rows(cohort)
        cohort = month_add(cohort, 1)
    return rows


def _cohort_rows(cohort: date) -> list[CohortStat]:
    first = paid_visits().filter(
        member_id=OuterRef("pk"), paid_at=OuterRef("first_visit_at")
    )
    came_back = {
        f"m{k}": Exists(
            paid_visits().filter(
                member_id=OuterRef("pk"),
                member__isnull=False,
                paid_at__gte=day_start(month_add(cohort, k)),
                paid_at__lt=day_start(month_add(cohort, k + 1)),
            )
        )
        for k in range(1, COHORT_MONTHS + 1)
    }
    members = (
        Member.objects.filter(
            first_visit_at__gte=day_start(cohort),
            first_visit_at__lt=day_start(month_add(cohort, 1)),
        )
        .annotate(
            floc=Subquery(first.order_by("id").values("location_id")[:1]),
            ftier=tier_at(member="pk", at="first_visit_at"),
            **came_back,
        )
        .values("floc", "ftier")
        .annotate(
            m0=Count("pk"),
            **{k: Sum(Case(When(Q((k, True)), then=1), default=0)) for k in came_back},
        )
        .order_by()
    )
    return [
        CohortStat(
            cohort=cohort,
            offset=k,
            location_id=group["floc"],
            tier_id=group["ftier"],
            members=group[f"m{k}"],
        )
        for group in members
        for k in range(COHORT_MONTHS + 1)
        if group[f"m{k}"]
    ]


def cohorts_refresh(month_from: date, month_to: date) -> int:
    with transaction.atomic():
        CohortStat.objects.filter(cohort__gte=month_from, cohort__lte=month_to).delete()
        rows = CohortStat.objects.bulk_create(
            cohort_rows(month_from, month_to), batch_size=2000
        )
    return len(rows)


# --- Entry points ------------------------------------------------------------


def _days_refresh(day_from: date, day_to: date) -> int:
    with transaction.atomic():
        DailyStat.objects.filter(day__gte=day_from, day__lte=day_to).delete()
        rows = DailyStat.objects.bulk_create(
            daily_rows(day_from, day_to), batch_size=2000
        )
    return len(rows)


def _extra_days(day_from: date, day_to: date, reach_back: bool) -> list[date]:
    """The days the specialists' and services' tables (``aggregates_extra``)
    must redo: the range and the days of visits changed in it — not the open
    retention windows, which only the daily figures have."""
    days = {day_from + timedelta(days=i) for i in range((day_to - day_from).days + 1)}
    if reach_back:
        days |= _paid_days(_changed_visits(day_from, day_to))
    return sorted(d for d in days if d is not None)


def _extra_refresh(days: list[date], progress: Progress | None) -> None:
    for a, b in runs(days):
        extra_refresh(a, b, members=False)
    member_value_refresh()  # one snapshot of the members, not one per run
    if progress:
        progress("specialists, services and member value: done")


def aggregates_refresh(
    day_from: date,
    day_to: date,
    *,
    reach_back: bool = True,
    cohorts: bool = True,
    progress: Progress | None = None,
) -> RefreshResult:
    """Recompute the aggregates of [day_from, day_to] (local dates) and, with
    ``reach_back``, of the earlier days events in it changed
    (``days_touched``); with ``cohorts``, the cohorts those days reach (the 12
    months before). Idempotent: the days' rows are replaced."""
    if day_to < day_from:
        raise ValueError("day_to is before day_from")
    started = time.monotonic()
    result = RefreshResult(days=days_touched(day_from, day_to, reach_back=reach_back))
    for a, b in runs(result.days):
        result.rows += _days_refresh(a, b)
        if progress:
            progress(f"{a} – {b}: done")
    if cohorts and result.days:
        first = month_add(result.days[0].replace(day=1), -COHORT_MONTHS)
        result.cohort_rows = cohorts_refresh(first, result.days[-1].replace(day=1))
        if progress:
            progress(f"cohorts {first:%Y-%m} – {result.days[-1]:%Y-%m}: done")
    _extra_refresh(_extra_days(day_from, day_to, reach_back), progress)
    _spans().spans_refresh(
        _spans().span_days_touched(day_from, day_to)
        if reach_back
        else _extra_days(day_from, day_to, False),
        progress,
    )
    result.seconds = time.monotonic() - started
    return result


def data_first_day() -> date | None:
    """The earliest local day with a visit or a ledger entry."""
    visit = Visit.objects.order_by("paid_at").values_list("paid_at", flat=True).first()
    entry = (
        LedgerEntry.objects.order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    moments = [m for m in (visit, entry) if m is not None]
    return timezone.localdate(min(moments)) if moments else None


def aggregates_rebuild(*, progress: Progress | None = None) -> RefreshResult:
    """Every aggregate from scratch, from the first day with data to today."""
    started = time.monotonic()
    today = timezone.localdate()
    first = data_first_day() or today
    DailyStat.objects.all().delete()
    CohortStat.objects.all().delete()
    result = RefreshResult()
    day = first
    while day <= today:
        last = min(day + timedelta(days=CHUNK_DAYS - 1), today)
        result.rows += _days_refresh(day, last)
        result.days += [day + timedelta(days=i) for i in range((last - day).days + 1)]
        if progress:
            progress(f"{day} – {last}: done")
        day = last + timedelta(days=1)
    month = first.replace(day=1)
    while month <= today:
        last_month = min(month_add(month, 11), today.replace(day=1))
        result.cohort_rows += cohorts_refresh(month, last_month)
        if progress:
            progress(f"cohorts {month:%Y-%m} – {last_month:%Y-%m}: done")
        month = month_add(last_month, 1)
    _extra_refresh(result.days, progress)
    _spans().spans_rebuild(progress)
    result.seconds = time.monotonic() - started
    return result


def _spans():
    """``analytics.spans`` (imported late: it builds on this module)."""
    from analytics import spans

    return spans
