"""The nightly member scores (``MemberScore``) the segments read.

``scores_refresh(on)`` recomputes the row of every member (active or blocked)
as of the business date ``on``, from the paid visits paid before the end of
that day (in the program's time zone, as the rewards daily jobs count days):

* ``visits_12m``, ``spend_12m``: paid visits and money kept (paid − refunded)
  in the 365 days ending ``on``;
* ``r_score``, ``f_score``, ``m_score``: quintiles (``ntile(5)``, 5 = best)
  among the members with a visit in those 365 days, by last visit, visits and
  spend; ties go by member id so the split is stable. 0 for everyone else;
* ``spend_top_percent``: 100 × (rank − 1) / count by 12-month spend among the
  same members (0 = the top spender; equal spend, equal rank); 100 otherwise;
* ``recency_days``: days from the last paid visit (any time) to ``on``;
* ``main_location`` (most paid visits) and ``favourite_specialist`` (most
  lines not wholly refunded), over all history up to ``on``; a tie goes to the
  one visited last.

The same run refreshes ``MemberCategory``, the service categories each of those
members has tried: per member and category, the first and last paid visit and
the number of paid visits with a line of it not wholly refunded, over all
history up to ``on``. One upsert writes the rows that are new or changed, one
delete removes those no longer backed (the visit was refunded or cancelled,
the member erased, or a past date is given).

Set-based: one upsert (``INSERT … SELECT … ON CONFLICT DO UPDATE``) computes
every row in the database, whatever the number of members, plus a count and a
delete of the rows of erased members (and the upsert and delete of the
categories). The same SQL runs on PostgreSQL and on
SQLite ≥ 3.35; only the local date of the last visit differs. Rows whose values
would not change are not written, so running again for the same date writes
nothing, and a past date gives what that night would have given.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from django.db import connection, transaction
from django.utils import timezone

from members.models import Member
from rewards.selectors import day_start
from rewards.services.batch.common import day_end

WINDOW_DAYS = 365
SCORE_TABLE = "campaigns_memberscore"
CATEGORY_TABLE = "campaigns_membercategory"
COLUMNS = (
    "computed_on",
    "recency_days",
    "visits_12m",
    "spend_12m",
    "r_score",
    "f_score",
    "m_score",
    "spend_top_percent",
    "main_location_id",
    "favourite_specialist_id",
)

# The paid visits that count for ``on`` (any time before its end), as a filter
# on ``members_visit``: members' only (an anonymous visit is nobody's to score).
PAID = "{a}.status = %(paid)s AND {a}.member_id IS NOT NULL AND {a}.paid_at < %(end)s"

# Per member and location of their paid visits: how many, the last one, and
# the count and money of the 12 months. One scan of the visits serves both the
# members' figures and their main location.
BY_LOCATION = f"""
    SELECT v.member_id, v.location_id,
           COUNT(*) AS n,
           MAX(v.paid_at) AS last_at,
           SUM(CASE WHEN v.paid_at >= %(start)s THEN 1 ELSE 0 END) AS visits,
           SUM(CASE WHEN v.paid_at >= %(start)s
                    THEN v.amount_paid - v.amount_refunded
                    ELSE 0 END) AS spend
    FROM members_visit v
    WHERE {PAID.format(a="v")}
    GROUP BY v.member_id, v.location_id"""

# Per member with a paid visit. ``spend`` rounded so that both databases rank
# the same values.
STATS = """
    SELECT b.member_id, MAX(b.last_at) AS last_at, SUM(b.visits) AS visits,
           ROUND(SUM(b.spend), 2) AS spend
    FROM by_location b
    GROUP BY b.member_id"""

# Quintiles and spend rank among the members with a visit in 12 months.
RANKS = """
    SELECT s.member_id,
           ntile(5) OVER (ORDER BY s.last_at, s.member_id) AS r,
           ntile(5) OVER (ORDER BY s.visits, s.member_id) AS f,
           ntile(5) OVER (ORDER BY s.spend, s.member_id) AS m,
           rank() OVER (ORDER BY s.spend DESC) AS spend_rank,
           COUNT(*) OVER () AS n
    FROM stats s
    WHERE s.visits > 0"""

# The location of most paid visits; a tie: the one visited last.
LOCATIONS = """
    SELECT b.member_id, b.location_id,
           row_number() OVER (PARTITION BY b.member_id
                              ORDER BY b.n DESC, b.last_at DESC,
                                       b.location_id DESC) AS pick
    FROM by_location b"""

# The specialist of most lines still paid for; a tie: the one seen last.
SPECIALISTS = f"""
    SELECT v.member_id, l.specialist_id,
           row_number() OVER (PARTITION BY v.member_id
                              ORDER BY COUNT(*) DESC, MAX(v.paid_at) DESC,
                                       l.specialist_id DESC) AS pick
    FROM members_visitline l
    JOIN members_visit v ON v.id = l.visit_id
    WHERE {PAID.format(a="v")}
      AND l.specialist_id IS NOT NULL
      AND l.refunded_quantity < l.quantity
    GROUP BY v.member_id, l.specialist_id"""

# INSERT first, then WITH: Python's sqlite3 reports a row count only for a
# statement that starts with INSERT.
UPSERT = """
    INSERT INTO {table} (member_id, {columns})
    WITH by_location AS ({by_location}),
         stats AS ({stats}),
         ranks AS ({ranks}),
         locations AS ({locations}),
         specialists AS ({specialists})
    SELECT mb.id,
           %(on)s,
           {recency},
           COALESCE(s.visits, 0),
           COALESCE(s.spend, 0),
           COALESCE(r.r, 0),
           COALESCE(r.f, 0),
           COALESCE(r.m, 0),
           CASE WHEN r.member_id IS NULL THEN 100
                ELSE ROUND(100.0 * (r.spend_rank - 1) / r.n, 2) END,
           lo.location_id,
           sp.specialist_id
    FROM members_member mb
    LEFT JOIN stats s ON s.member_id = mb.id
    LEFT JOIN ranks r ON r.member_id = mb.id
    LEFT JOIN locations lo ON lo.member_id = mb.id AND lo.pick = 1
    LEFT JOIN specialists sp ON sp.member_id = mb.id AND sp.pick = 1
    WHERE mb.status IN (%(active)s, %(blocked)s)
    ON CONFLICT (member_id) DO UPDATE SET {assign}
    WHERE NOT ({same})"""

# Lines still paid for, with their visit, category and member, of the members
# that are scored: what backs a ``MemberCategory`` row.
CATEGORY_LINES = f"""
    FROM members_visitline l
    JOIN members_visit v ON v.id = l.visit_id
    JOIN members_service sv ON sv.id = l.service_id
    JOIN members_member mb ON mb.id = v.member_id
    WHERE {PAID.format(a="v")}
      AND l.refunded_quantity < l.quantity
      AND mb.status IN (%(active)s, %(blocked)s)"""

CATEGORY_COLUMNS = ("first_at", "last_at", "visits")

# Every member's categories; a row only written when new or changed.
CATEGORY_UPSERT = f"""
    INSERT INTO {CATEGORY_TABLE} (member_id, category_id, {", ".join(CATEGORY_COLUMNS)})
    SELECT v.member_id, sv.category_id,
           MIN(v.paid_at), MAX(v.paid_at), COUNT(DISTINCT v.id)
    {CATEGORY_LINES}
    GROUP BY v.member_id, sv.category_id
    ON CONFLICT (member_id, category_id) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in CATEGORY_COLUMNS)}
    WHERE {" OR ".join(f"{CATEGORY_TABLE}.{c} <> excluded.{c}" for c in CATEGORY_COLUMNS)}"""

# The rows no longer backed by a line still paid for up to ``on``. A single
# NOT EXISTS, so that PostgreSQL runs it as one anti-join.
CATEGORY_DELETE = f"""
    DELETE FROM {CATEGORY_TABLE}
    WHERE NOT EXISTS (
        SELECT 1
        {CATEGORY_LINES}
          AND v.member_id = {CATEGORY_TABLE}.member_id
          AND sv.category_id = {CATEGORY_TABLE}.category_id)"""


@dataclass(frozen=True)
class ScoresResult:
    on: date
    scored: int  # members with a score row for ``on`` (active and blocked)
    written: int  # rows inserted or changed (0 when run again)
    deleted: int  # rows of erased members removed
    seconds: float
    categories_written: int = 0  # ``MemberCategory`` rows inserted or changed
    categories_deleted: int = 0  # ``MemberCategory`` rows no longer backed

    def as_dict(self) -> dict:
        return {**asdict(self), "on": self.on.isoformat()}


def _same(a: str, b: str) -> str:
    """SQL: a equals b, two NULLs being equal (portable IS NOT DISTINCT FROM)."""
    return f"COALESCE({a} = {b}, {a} IS NULL AND {b} IS NULL)"


def _recency_sql(pg: bool) -> str:
    """Days from the local date of ``s.last_at`` to ``on``: the one vendor branch."""
    if pg:
        return (
            "CAST(%(on)s AS date) "
            "- CAST(timezone(CAST(%(tz)s AS text), s.last_at) AS date)"
        )
    # Django registers django_datetime_cast_date on every SQLite connection.
    return (
        "CAST(julianday(%(on)s) - julianday("
        "django_datetime_cast_date(s.last_at, %(tz)s, %(conn_tz)s)) AS INTEGER)"
    )


def upsert_sql(vendor: str) -> str:
    """The statement that writes every score row (for ``vendor``)."""
    return UPSERT.format(
        by_location=BY_LOCATION,
        stats=STATS,
        ranks=RANKS,
        locations=LOCATIONS,
        specialists=SPECIALISTS,
        table=SCORE_TABLE,
        columns=", ".join(COLUMNS),
        recency=_recency_sql(vendor == "postgresql"),
        assign=", ".join(f"{c} = excluded.{c}" for c in COLUMNS),
        same=" AND ".join(
            _same(f"{SCORE_TABLE}.{c}", f"excluded.{c}") for c in COLUMNS
        ),
    )


def _params(on: date) -> dict:
    end = day_end(on)
    start = day_start(on - timedelta(days=WINDOW_DAYS - 1))
    ops = connection.ops
    return {
        "on": ops.adapt_datefield_value(on),
        "start": ops.adapt_datetimefield_value(start),
        "end": ops.adapt_datetimefield_value(end),
        "tz": timezone.get_current_timezone_name(),
        "conn_tz": connection.timezone_name,
        "paid": "paid",
        "active": Member.Status.ACTIVE,
        "blocked": Member.Status.BLOCKED,
    }


def scores_refresh(on: date | None = None) -> ScoresResult:
    """Recompute every member's ``MemberScore`` as of business date ``on``.

    ``on`` defaults to today in the program's time zone. Five statements in
    one transaction, whatever the number of members: delete the rows of erased
    members, count the members scored, upsert their rows; then delete the
    ``MemberCategory`` rows no longer backed and upsert the others.
    """
    started = time.monotonic()
    on = on or timezone.localdate()
    params = _params(on)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            f"DELETE FROM {SCORE_TABLE} WHERE member_id IN ("
            "SELECT id FROM members_member "
            "WHERE status NOT IN (%(active)s, %(blocked)s))",
            params,
        )
        deleted = cur.rowcount
        cur.execute(
            "SELECT COUNT(*) FROM members_member "
            "WHERE status IN (%(active)s, %(blocked)s)",
            params,
        )
        scored = cur.fetchone()[0]
        cur.execute(upsert_sql(connection.vendor), params)
        written = cur.rowcount
        cur.execute(CATEGORY_DELETE, params)
        categories_deleted = cur.rowcount
        cur.execute(CATEGORY_UPSERT, params)
        categories_written = cur.rowcount
    return ScoresResult(
        on=on,
        scored=scored,
        written=written,
        deleted=deleted,
        seconds=round(time.monotonic() - started, 3),
        categories_written=categories_written,
        categories_deleted=categories_deleted,
    )
