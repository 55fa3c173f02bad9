"""Fill the specialists' and services' aggregates from the visit lines.

:func:`extra_refresh` recomputes a range of days: it deletes their rows and
inserts them again from grouped queries over the paid visits' lines (one
``GROUP BY`` per table, whatever the number of visits; only the grouped rows
travel to Python, to ``bulk_create``). A second run over the same days
writes the same rows. ``analytics.aggregates.aggregates_refresh`` calls it
after its own tables. The monthly tables (long periods read them) are
summed again from the daily rows of the months the range touches.

What counts: visits with status paid, by the local date of ``paid_at`` in the
program's time zone; a line's units are ``quantity − refunded_quantity`` and
its money ``price × units`` (a line whose every unit was refunded counts for
nothing, not even its visit).

A refresh reads and writes the primary (``analytics.db``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import TruncDate, TruncMonth

from analytics.models import (
    MemberValueDaily,
    ServiceDaily,
    ServiceMonthly,
    ServicePairDaily,
    ServicePairMonthly,
    SpecialistDaily,
    SpecialistMonthly,
)
from members.models import Member, Visit, VisitLine
from rewards.selectors.program import day_start

BATCH = 2000
LINE_MONEY = DecimalField(max_digits=16, decimal_places=2)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _sold_lines(start: datetime, end: datetime) -> QuerySet:
    """Lines with a unit left, of the visits paid in [start, end)."""
    return VisitLine.objects.filter(
        visit__status=Visit.Status.PAID,
        visit__paid_at__gte=start,
        visit__paid_at__lt=end,
        refunded_quantity__lt=F("quantity"),
    ).order_by()


def _units():
    return F("quantity") - F("refunded_quantity")


def _line_money():
    return ExpressionWrapper(F("price") * _units(), output_field=LINE_MONEY)


def _service_rows(start: datetime, end: datetime) -> Iterator[ServiceDaily]:
    rows = (
        _sold_lines(start, end)
        .annotate(day=TruncDate("visit__paid_at", tzinfo=_zone()))
        .values("day", "visit__location_id", "specialist_id", "service_id")
        .annotate(
            n_units=Sum(_units()),
            money=Sum(_line_money(), output_field=LINE_MONEY),
            n_visits=Count("visit_id", distinct=True),
        )
    )
    for row in rows.iterator(chunk_size=BATCH):
        yield ServiceDaily(
            day=row["day"],
            location_id=row["visit__location_id"],
            specialist_id=row["specialist_id"],
            service_id=row["service_id"],
            units=row["n_units"],
            revenue=row["money"],
            visits=row["n_visits"],
        )


def _served_before() -> Exists:
    """The visit's member had an earlier paid visit with a line by the same
    specialist (earlier: paid before, or at the same instant with a lower id)."""
    # ``paid_at <= the visit's`` on its own too: with the member it bounds
    # the scan of ``visit_member_paid_idx``; the OR only breaks ties.
    earlier = VisitLine.objects.filter(
        specialist_id=OuterRef("specialist_id"),
        visit__member_id=OuterRef("visit__member_id"),
        visit__paid_at__lte=OuterRef("visit__paid_at"),
        visit__status=Visit.Status.PAID,
        refunded_quantity__lt=F("quantity"),
    ).filter(
        Q(visit__paid_at__lt=OuterRef("visit__paid_at"))
        | Q(
            visit__paid_at=OuterRef("visit__paid_at"), visit_id__lt=OuterRef("visit_id")
        )
    )
    return Exists(earlier)


def _specialist_rows(start: datetime, end: datetime) -> Iterator[SpecialistDaily]:
    rows = (
        _sold_lines(start, end)
        .filter(specialist__isnull=False)
        .annotate(
            day=TruncDate("visit__paid_at", tzinfo=_zone()),
            returning=_served_before(),
        )
        .values("day", "visit__location_id", "specialist_id")
        .annotate(
            n_visits=Count("visit_id", distinct=True),
            money=Sum(_line_money(), output_field=LINE_MONEY),
            n_member_visits=Count(
                "visit_id", distinct=True, filter=Q(visit__member__isnull=False)
            ),
            n_returning=Count(
                "visit_id",
                distinct=True,
                filter=Q(visit__member__isnull=False, returning=True),
            ),
        )
    )
    for row in rows.iterator(chunk_size=BATCH):
        yield SpecialistDaily(
            day=row["day"],
            location_id=row["visit__location_id"],
            specialist_id=row["specialist_id"],
            visits=row["n_visits"],
            revenue=row["money"],
            member_visits=row["n_member_visits"],
            returning_visits=row["n_returning"],
        )


def _pair_rows(start: datetime, end: datetime) -> Iterator[ServicePairDaily]:
    # The line joined to the other sold lines of its visit with a greater
    # service id: each unordered pair of distinct services once per visit.
    rows = (
        _sold_lines(start, end)
        .filter(
            visit__lines__service_id__gt=F("service_id"),
            visit__lines__refunded_quantity__lt=F("visit__lines__quantity"),
        )
        .annotate(day=TruncDate("visit__paid_at", tzinfo=_zone()))
        .values("day", "visit__location_id", "service_id", "visit__lines__service_id")
        .annotate(n_visits=Count("visit_id", distinct=True))
    )
    for row in rows.iterator(chunk_size=BATCH):
        yield ServicePairDaily(
            day=row["day"],
            location_id=row["visit__location_id"],
            service_a_id=row["service_id"],
            service_b_id=row["visit__lines__service_id"],
            visits=row["n_visits"],
        )


# Each monthly table is its daily one summed: every figure is additive over
# days (a visit has one day), so a month is rebuilt from at most 31 days of
# grouped rows, not from the visits.
MONTHLY = [
    (
        ServiceDaily,
        ServiceMonthly,
        ["location_id", "specialist_id", "service_id"],
        ["units", "revenue", "visits"],
    ),
    (
        SpecialistDaily,
        SpecialistMonthly,
        ["location_id", "specialist_id"],
        ["visits", "revenue", "member_visits", "returning_visits"],
    ),
    (
        ServicePairDaily,
        ServicePairMonthly,
        ["location_id", "service_a_id", "service_b_id"],
        ["visits"],
    ),
]


def _months_refresh(first: date, last: date) -> None:
    """Rebuild the monthly tables of the months [first, last] from the days."""
    for daily, monthly, keys, figures in MONTHLY:
        monthly.objects.filter(month__gte=first, month__lte=last).delete()
        rows = (
            daily.objects.filter(day__gte=first, day__lt=next_month(last))
            .order_by()
            .annotate(month=TruncMonth("day"))
            .values("month", *keys)
            .annotate(**{f"sum_{name}": Sum(name) for name in figures})
        )
        _insert(
            monthly,
            (
                monthly(
                    month=row["month"],
                    **{key: row[key] for key in keys},
                    **{name: row[f"sum_{name}"] for name in figures},
                )
                for row in rows.iterator(chunk_size=BATCH)
            ),
        )


def _member_value_rows() -> Iterator[MemberValueDaily]:
    rows = (
        Member.objects.filter(first_visit_at__isnull=False)
        .order_by()
        .annotate(first_day=TruncDate("first_visit_at", tzinfo=_zone()))
        .values(
            "first_day", "registration_location_id", "wallet__tier_id", "joined_via"
        )
        .annotate(
            n=Count("pk"),
            lifetime=Sum("total_spent", output_field=LINE_MONEY),
            n_12m=Count("pk", filter=Q(score__visits_12m__gt=0)),
            spend_12m=Sum("score__spend_12m", output_field=LINE_MONEY),
        )
    )
    for row in rows.iterator(chunk_size=BATCH):
        yield MemberValueDaily(
            first_day=row["first_day"],
            location_id=row["registration_location_id"],
            tier_id=row["wallet__tier_id"],
            joined_via=row["joined_via"],
            members=row["n"],
            lifetime_revenue=row["lifetime"] or 0,
            members_12m=row["n_12m"],
            revenue_12m=row["spend_12m"] or 0,
        )


@transaction.atomic
def member_value_refresh() -> None:
    """Rebuild the members' value snapshot whole (``MemberValueDaily``): the
    member caches it groups change with any visit, whatever its day."""
    MemberValueDaily.objects.all().delete()
    _insert(MemberValueDaily, _member_value_rows())


def _insert(model, rows: Iterable) -> None:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            model.objects.bulk_create(batch)
            batch = []
    if batch:
        model.objects.bulk_create(batch)


@transaction.atomic
def extra_refresh(day_from: date, day_to: date, *, members: bool = True) -> None:
    """Recompute the specialists' and services' aggregates of the days
    [day_from, day_to] and the monthly sums of the months they touch,
    idempotently, and, with ``members``, rebuild the members' value snapshot
    (whatever the days: a caller refreshing many ranges in a row passes
    ``members=False`` and calls :func:`member_value_refresh` once).

    Readers see the old rows or the new ones, never a half-written day: the
    delete and the inserts share one transaction.
    """
    if members:
        member_value_refresh()
    if day_to < day_from:
        return
    start, end = day_start(day_from), day_start(day_to + timedelta(days=1))
    for model, rows in [
        (ServiceDaily, _service_rows),
        (SpecialistDaily, _specialist_rows),
        (ServicePairDaily, _pair_rows),
    ]:
        model.objects.filter(day__gte=day_from, day__lte=day_to).delete()
        _insert(model, rows(start, end))
    _months_refresh(month_start(day_from), month_start(day_to))
