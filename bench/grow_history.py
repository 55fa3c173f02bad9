"""Make a demo database's visit history several times longer, for read benchmarks.

    DATABASE_URL=postgres://…/regulars_bench .venv/bin/python \\
        bench/grow_history.py --copies 3

``seed_demo`` writes about 5.4 visits per member over 18 months; the
analytics issue asks for dashboards fast on 1M members / 20M visits. This
copies every visit (and its lines) ``--copies`` times, each copy moved back
by the span of the history (18 months, 36, 54…), so 5.4M visits become
21.7M over six years. Copies get ids ``id + k × OFFSET`` (lines follow their
visit), external ids a ``-h<k>`` suffix; the members' cached visit figures
are recomputed set-based at the end. Ledger, lots, vouchers and campaigns are
not copied: the points and campaign figures stay those of the last 18 months.

Synthetic on purpose (a member's first visit may now precede their
registration): it is for timing reads, not for looking at. PostgreSQL only;
the database's name must start with "regulars_bench".
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from members.models import Visit, VisitLine  # noqa: E402


def columns(model, skip=("id",)) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if f.column not in skip]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=3)
    args = parser.parse_args()
    db = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql" or not str(db).startswith("regulars_bench"):
        sys.exit("PostgreSQL, and a database whose name starts with regulars_bench")
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id), min(paid_at), max(paid_at) FROM members_visit")
        top, first, last = cursor.fetchone()
    offset = 10 ** len(str(top))
    if top >= 10**7:
        sys.exit("the history has been grown already")
    span = f"{(last - first).days + 1} days"
    visit_cols = columns(Visit)
    line_cols = columns(VisitLine)
    print(
        f"{top:,} visits from {first:%Y-%m-%d} to {last:%Y-%m-%d}; copies every {span}"
    )
    for k in range(1, args.copies + 1):
        started = time.perf_counter()
        visit_select = [
            f"{c} - {k} * interval '{span}'"
            if c in ("paid_at", "created_at", "status_changed_at")
            else "CASE WHEN external_id = '' THEN '' "
            f"ELSE external_id || '-h{k}' END" if c == "external_id"
            else c
            for c in visit_cols
        ]  # fmt: skip
        line_select = [
            f"visit_id + {k * offset}" if c == "visit_id" else c for c in line_cols
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO members_visit (id, {', '.join(visit_cols)}) "
                f"SELECT id + {k * offset}, {', '.join(visit_select)} "
                f"FROM members_visit WHERE id < {offset}"
            )
            visits = cursor.rowcount
            cursor.execute(
                f"INSERT INTO members_visitline ({', '.join(line_cols)}) "
                f"SELECT {', '.join(line_select)} FROM members_visitline "
                f"WHERE visit_id < {offset}"
            )
            lines = cursor.rowcount
        print(
            f"copy {k}: {visits:,} visits, {lines:,} lines in {time.perf_counter() - started:,.0f} s",
            flush=True,
        )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('members_visit', 'id'), "
            "(SELECT max(id) FROM members_visit))"
        )
    with transaction.atomic(), connection.cursor() as cursor:
        # The members' cached visit figures, as members.selectors'
        # member_stats_expressions has them, from one aggregate
        # (member_stats_reconcile's correlated subqueries took 170 s for
        # 100,000 members all stale at once).
        cursor.execute(
            "UPDATE members_member m SET visits_count = s.n, "
            "total_spent = round(s.money, 2), first_visit_at = s.first, "
            "last_visit_at = s.last FROM (SELECT member_id, count(*) n, "
            "sum(amount_paid - amount_refunded) money, min(paid_at) first, "
            "max(paid_at) last FROM members_visit WHERE status = 'paid' "
            "AND member_id IS NOT NULL GROUP BY member_id) s "
            "WHERE s.member_id = m.id"
        )
        repaired = cursor.rowcount
    print(
        f"{repaired:,} members' caches in {time.perf_counter() - started:,.0f} s; "
        "VACUUM ANALYZE…",
        flush=True,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) members_visit")
        cursor.execute("VACUUM (ANALYZE) members_visitline")
        cursor.execute("VACUUM (ANALYZE) members_member")
        cursor.execute("SELECT count(*) FROM members_visit")
        print(f"{cursor.fetchone()[0]:,} visits now")


if __name__ == "__main__":
    main()
