"""Fill ``SpanStat`` (``analytics.models.spans``): distinct members over
windows of days, from the gaps between each member's paid visits.

For a member's paid visit on day t whose previous paid visit (in the scope:
anywhere, or at the same location) was on p1 and the one before on p2, the
visit is the member's first in a window starting on S (S ≤ t) when p1 < S,
and their second when p2 < S ≤ p1. So per day t and start S:

    first(t, S)  = Σ over t's visits of [S > p1]        (p1 absent: always)
    second(t, S) = Σ over t's visits of [p2 < S ≤ p1]

Each visit adds +1/−1 steps at S = t, p1 and p2; summing the steps from
S = t back gives both for every S, and ``SpanStat`` keeps them for S in
[t − ANALYTICS_SPAN_DAYS, t] (zero rows left out). A window [S, E] then reads
one row a day: Σ first = members with ≥ 1 paid visit in it, Σ second =
members with ≥ 2.

Set-based: one query a scope groups the steps in the database (a few rows a
day and start); Python only runs the sums along each day's starts. A day's
rows depend on its own visits and the two before each of them, so a day is
recomputed when a visit of it changes and when an earlier visit of the same
member is undone (``span_days_touched``). ``spans_rebuild`` reads every
visit once with window functions; a refresh looks the two previous visits
up by index, a few days at a time.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Lag
from django.utils import timezone

from analytics.aggregates import _changed_visits, _paid_days, runs
from analytics.db import WORK_MEM
from analytics.expressions import _between, local_day
from analytics.models import SpanStat, SpanState
from core.bulk import rows_copy
from members.models import Visit

Progress = Callable[[str], None]
COLUMNS = ["day", "since", "location_id", "members", "repeat_members"]
# Days recomputed (and written) in one transaction.
CHUNK_DAYS = 31
TEMP = "analytics_span_gaps"


def span_days() -> int:
    return settings.ANALYTICS_SPAN_DAYS


def is_built() -> bool:
    """Whether the rows are complete: rebuilt from scratch, with today's
    window limit (the dashboards count from the visits until then)."""
    return SpanState.objects.filter(pk=1, span_days=span_days()).exists()


# --- The gaps: each visit's day and the days of the two before it -------------


def _paid_members_visits() -> QuerySet:
    return Visit.objects.filter(status=Visit.Status.PAID, member__isnull=False)


def _gaps_probed(day_from: date, day_to: date, by_location: bool) -> QuerySet:
    """The paid visits of [day_from, day_to] as (location, t, p1, p2), the
    previous two looked up per visit (an index probe on the member's visits)."""
    earlier = _paid_members_visits().filter(
        Q(paid_at__lt=OuterRef("paid_at"))
        | Q(paid_at=OuterRef("paid_at"), id__lt=OuterRef("id")),
        member_id=OuterRef("member_id"),
    )
    if by_location:
        earlier = earlier.filter(location_id=OuterRef("location_id"))
    earlier = earlier.order_by("-paid_at", "-id").values(d=local_day("paid_at"))
    return (
        _paid_members_visits()
        .filter(**_between("paid_at", day_from, day_to))
        .annotate(
            t=local_day("paid_at"),
            p1=Subquery(earlier[:1]),
            p2=Subquery(earlier[1:2]),
        )
        .values("location_id", "t", "p1", "p2")
    )


def _gaps_windowed(by_location: bool) -> QuerySet:
    """Every paid visit as (location, t, p1, p2), by window functions over
    each member's visits (one sorted pass; for the rebuild)."""
    partition = [F("member_id"), *([F("location_id")] if by_location else [])]
    order = [F("paid_at").asc(), F("id").asc()]

    def lag(n: int) -> Window:
        return Window(
            Lag(local_day("paid_at"), n), partition_by=partition, order_by=order
        )

    return (
        _paid_members_visits()
        .annotate(t=local_day("paid_at"), p1=lag(1), p2=lag(2))
        .values("location_id", "t", "p1", "p2")
    )


STEPS = """
WITH gaps AS ({gaps})
SELECT {loc} AS loc, t, s, SUM(f) AS f, SUM(r) AS r FROM (
    SELECT location_id, t, t AS s, 1 AS f, 0 AS r FROM gaps
    UNION ALL
    SELECT location_id, t, p1, -1, 1 FROM gaps WHERE p1 IS NOT NULL
    UNION ALL
    SELECT location_id, t, p2, 0, -1 FROM gaps WHERE p2 IS NOT NULL
    UNION ALL
    SELECT location_id, t, NULL, 1, 0 FROM gaps WHERE p1 IS NULL
) steps
GROUP BY {group}t, s
"""


def _steps(gaps_sql: str, params: Iterable, by_location: bool) -> list[tuple]:
    """(location, t, s, Δfirst, Δsecond) summed; s NULL: first-ever visits."""
    loc = "location_id" if by_location else "NULL"
    group = "location_id, " if by_location else ""
    sql = STEPS.format(loc=loc, group=group, gaps=gaps_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _rows(steps: Iterable[tuple]) -> list[tuple]:
    """Run the sums along each day's starts: the ``SpanStat`` rows (as
    ``COLUMNS`` tuples) of the days the steps cover."""
    limit = span_days()
    per_day: dict[tuple, dict] = defaultdict(dict)
    rows = []
    for loc, t, s, f, r in steps:
        t, s = _as_date(t), _as_date(s)
        if s is None:
            rows.append((t, None, loc, int(f), 0))
            continue
        per_day[(loc, t)][s] = (int(f), int(r))
    for (loc, t), deltas in per_day.items():
        first = second = 0
        oldest = t - timedelta(days=limit)
        later = sorted((s for s in deltas if s >= oldest), reverse=True)
        # The sums are constant between two steps: one row per day back.
        for i, step in enumerate(later):
            df, dr = deltas[step]
            first, second = first + df, second + dr
            until = later[i + 1] if i + 1 < len(later) else oldest - timedelta(days=1)
            if not (first or second):
                continue
            s = step
            while s > until:
                rows.append((t, s, loc, first, second))
                s -= timedelta(days=1)
    return rows


def _write(day_from: date, day_to: date, rows: list[tuple]) -> int:
    with transaction.atomic():
        SpanStat.objects.filter(day__gte=day_from, day__lte=day_to).delete()
        rows_copy(SpanStat, COLUMNS, rows)
    return len(rows)


def _days_refresh(day_from: date, day_to: date) -> int:
    steps = []
    for by_location in (False, True):
        sql, params = _gaps_probed(
            day_from, day_to, by_location
        ).query.sql_with_params()
        steps += _steps(sql, params, by_location)
    return _write(day_from, day_to, _rows(steps))


# --- Which days ---------------------------------------------------------------


def span_days_touched(day_from: date, day_to: date) -> list[date]:
    """[day_from, day_to], the days of visits cancelled or refunded in it and
    the days of those members' later paid visits (their previous visits
    changed)."""
    days = {day_from + timedelta(days=i) for i in range((day_to - day_from).days + 1)}
    changed = _changed_visits(day_from, day_to)
    days |= _paid_days(changed)
    for visits in changed:
        undone = visits.filter(member__isnull=False).exclude(status=Visit.Status.PAID)
        since = undone.aggregate(since=Min("paid_at"))["since"]
        if since is None:
            continue
        later = _paid_members_visits().filter(
            member_id__in=undone.values("member_id"), paid_at__gte=since
        )
        days |= set(later.values_list(local_day("paid_at"), flat=True).distinct())
    return sorted(d for d in days if d is not None)


# --- Entry points ---------------------------------------------------------------


def spans_refresh(days: Iterable[date], progress: Progress | None = None) -> int:
    """Recompute the rows of ``days`` (when the table is built; else nothing:
    the rebuild will). Returns the rows written."""
    if not is_built():
        return 0
    written = 0
    for a, b in runs(days, CHUNK_DAYS):
        written += _days_refresh(a, b)
    if progress:
        progress(f"window figures: {written} rows")
    return written


def spans_rebuild(progress: Progress | None = None) -> int:
    """Every row from scratch: the visits' gaps by window functions into a
    temporary table, then a month of days at a time."""
    started = time.monotonic()
    SpanState.objects.filter(pk=1).delete()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TEMP}")
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {SpanStat._meta.db_table}")
        else:
            SpanStat.objects.all().delete()
    written = 0
    try:
        for by_location in (False, True):
            written += _rebuild_scope(by_location, progress)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TEMP}")
    SpanState.objects.update_or_create(
        pk=1, defaults={"built_at": timezone.now(), "span_days": span_days()}
    )
    if progress:
        seconds = time.monotonic() - started
        progress(f"window figures: {written} rows in {seconds:.0f} s")
    return written


def _rebuild_scope(by_location: bool, progress: Progress | None) -> int:
    sql, params = _gaps_windowed(by_location).query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The sort of every visit by member: in memory where it can be.
            cursor.execute(f"SET work_mem = '{WORK_MEM}'")
        cursor.execute(f"CREATE TEMPORARY TABLE {TEMP} AS {sql}", params)
        if connection.vendor == "postgresql":
            cursor.execute("RESET work_mem")
        cursor.execute(f"CREATE INDEX {TEMP}_t ON {TEMP} (t)")
        cursor.execute(f"SELECT MIN(t), MAX(t) FROM {TEMP}")
        first, last = (_as_date(v) for v in cursor.fetchone())
    written = 0
    day = first
    while day is not None and day <= last:
        end = min(day + timedelta(days=CHUNK_DAYS - 1), last)
        chunk = f"SELECT * FROM {TEMP} WHERE t >= %s AND t <= %s"
        rows = _rows(_steps(chunk, [day, end], by_location))
        with transaction.atomic():
            rows_copy(SpanStat, COLUMNS, rows)
        written += len(rows)
        if progress:
            scope = "by location" if by_location else "all locations"
            progress(f"window figures, {scope}: {day} – {end}: {len(rows)} rows")
        day = end + timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TEMP}")
    return written
