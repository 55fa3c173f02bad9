"""Reads about members and visits shared by admin, API, tasks and services."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import (
    Count,
    DecimalField,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from core import stamps
from members.models import Member, Service, Specialist, Visit


def visit_by_external_id(*, source: str, external_id: str) -> Visit | None:
    return Visit.objects.filter(source=source, external_id=external_id).first()


def visit_id_by_external_id(*, source: str, external_id: str) -> int | None:
    """The id of the visit recorded under this booking id, if any.

    Asked on every checkout with a booking id, and almost always answered "none":
    one plain statement, without the ORM's per-call compilation.
    """
    table = connection.ops.quote_name(Visit._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} WHERE source = %s AND external_id = %s",
            [source, external_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


@stamps.process_cached()
def _service_maps() -> tuple[dict[int, Service], dict[str, Service]]:
    services = list(Service.objects.all())
    return {s.pk: s for s in services}, {s.code: s for s in services if s.code}


def services_by_id() -> dict[int, Service]:
    """Every service by id, cached per process until one changes (read-only)."""
    return _service_maps.get()[0]


def services_by_code() -> dict[str, Service]:
    return _service_maps.get()[1]


def member_paid_visit_bounds(
    *, member_id: int
) -> tuple[datetime | None, datetime | None]:
    """First and last ``paid_at`` among the member's paid visits (None if none)."""
    bounds = Visit.objects.filter(
        member_id=member_id, status=Visit.Status.PAID
    ).aggregate(first=Min("paid_at"), last=Max("paid_at"))
    return bounds["first"], bounds["last"]


def _paid_visits_of_outer_member():
    return (
        Visit.objects.filter(member=OuterRef("pk"), status=Visit.Status.PAID)
        .order_by()
        .values("member")
    )


def member_stats_expressions() -> dict:
    """Correlated subqueries giving each member's true stats from paid visits."""
    paid = _paid_visits_of_outer_member()
    money = DecimalField(max_digits=12, decimal_places=2)
    return {
        "visits_count": Coalesce(Subquery(paid.annotate(v=Count("id")).values("v")), 0),
        # Rounded to kopecks like the services' writes: on SQLite a SUM of
        # decimals is a binary float, which would never equal the cache exactly.
        "total_spent": Round(
            Coalesce(
                # Partial refunds gave some of it back.
                Subquery(
                    paid.annotate(
                        v=Sum(F("amount_paid") - F("amount_refunded"))
                    ).values("v"),
                    output_field=money,
                ),
                Value(0, output_field=money),
            ),
            2,
        ),
        "first_visit_at": Subquery(paid.annotate(v=Min("paid_at")).values("v")),
        "last_visit_at": Subquery(paid.annotate(v=Max("paid_at")).values("v")),
    }


def members_with_stale_stats() -> QuerySet[Member]:
    """Members whose cached stats differ from what their paid visits say."""
    truth = member_stats_expressions()
    stale = (
        Member.objects.annotate(**{f"true_{k}": v for k, v in truth.items()})
        .filter(_or(_differs(name, f"true_{name}") for name in truth))
        .values("pk")
    )
    return Member.objects.filter(pk__in=stale)


def _differs(a: str, b: str) -> Q:
    """``a IS DISTINCT FROM b``: NULL equals NULL, NULL differs from a value."""
    return (
        Q(**{f"{a}__isnull": True, f"{b}__isnull": False})
        | Q(**{f"{a}__isnull": False, f"{b}__isnull": True})
        | (Q(**{f"{a}__isnull": False, f"{b}__isnull": False}) & ~Q(**{a: F(b)}))
    )


def _or(conditions) -> Q:
    combined = Q(pk__in=[])
    for condition in conditions:
        combined |= condition
    return combined


def member_recent_visits(*, member: Member, limit: int = 50) -> QuerySet[Visit]:
    return (
        Visit.objects.filter(member=member)
        .select_related("location")
        .prefetch_related("lines__service")
        .order_by("-paid_at")[:limit]
    )


FAVOURITE_SPECIALIST_DAYS = 365


def member_favourite_specialist(*, member_id: int) -> Specialist | None:
    """Who performed most of the member's paid visit lines in the last 12
    months (ties: by name); None if nobody did. One aggregate query."""
    since = timezone.now() - timedelta(days=FAVOURITE_SPECIALIST_DAYS)
    return (
        Specialist.objects.filter(
            visit_lines__visit__member_id=member_id,
            visit_lines__visit__status=Visit.Status.PAID,
            visit_lines__visit__paid_at__gte=since,
        )
        .annotate(lines_count=Count("visit_lines"))
        .order_by("-lines_count", "name", "pk")
        .first()
    )
