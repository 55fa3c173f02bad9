"""The nightly jobs over the scaled demo database, timed one by one.

    DATABASE_URL=postgres://…/regulars_bench_nightly .venv/bin/python \\
        bench/nightly_jobs.py [--date YYYY-MM-DD] [--due 0.5] [--only NAME …]

Runs each daily job through ``rewards.jobs.job_run(name, on, force=True)``, in
the order the beat runs them, for one business date, with the clock set to
03:00 of that date (so "today" is the business date, as in the real night).
Then it runs ``expire_points`` again for the same date and checks that the
re-run changed nothing (ledger entries, lots' remaining points, wallet totals).

Without ``--date`` the date is chosen so that ``--due`` (default half) of the
open lots are due on it: the target scenario is 1,000,000 members with about
5,000,000 lots of which about 2,500,000 are due.

The run writes (it expires lots, reviews tiers…): run it on a copy made once
after the backfill, e.g.

    psql -c "CREATE DATABASE regulars_bench_nightly TEMPLATE regulars_bench"

and drop and copy again before the next run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
# Timed as production runs: DEBUG on would wrap every statement in the query
# log (+27 % Python function calls per checkout_commit).
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

import time_machine  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from rewards.jobs import JOBS, job_names, job_run  # noqa: E402


def scalar(sql: str, params=None):
    with connection.cursor() as cur:
        cur.execute(sql, params or [])
        return cur.fetchone()


def due_date(share: float) -> date:
    """The first date on or before which ``share`` of the open lots expire."""
    (on,) = scalar(
        "SELECT percentile_disc(%s) WITHIN GROUP (ORDER BY expires_on) "
        "FROM rewards_pointlot WHERE remaining > 0",
        [share],
    )
    if on is None:
        sys.exit("No open lots: run manage.py points_backfill first.")
    return on


def books() -> tuple:
    """What a re-run must not change: entries, open points, wallet totals."""
    entries, last_id = scalar("SELECT COUNT(*), MAX(id) FROM rewards_ledgerentry")
    open_lots, remaining = scalar(
        "SELECT COUNT(*), COALESCE(SUM(remaining), 0) FROM rewards_pointlot "
        "WHERE remaining > 0"
    )
    wallets = scalar(
        "SELECT COUNT(*), SUM(available), SUM(pending), SUM(debt), SUM(seq) "
        "FROM rewards_wallet"
    )
    return entries, last_id, open_lots, remaining, *wallets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", type=date.fromisoformat, default=None)
    parser.add_argument("--due", type=float, default=0.5)
    parser.add_argument("--only", nargs="+", default=None, choices=list(JOBS))
    args = parser.parse_args()
    on = args.date or due_date(args.due)
    members, wallets = scalar(
        "SELECT (SELECT COUNT(*) FROM members_member), "
        "(SELECT COUNT(*) FROM rewards_wallet)"
    )
    lots, open_lots, due = scalar(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE remaining > 0), "
        "COUNT(*) FILTER (WHERE remaining > 0 AND expires_on <= %s) "
        "FROM rewards_pointlot",
        [on],
    )
    due_members = scalar(
        "SELECT COUNT(DISTINCT member_id) FROM rewards_pointlot "
        "WHERE remaining > 0 AND expires_on <= %s",
        [on],
    )[0]
    print(
        f"Business date {on}: {members:,} members, {wallets:,} wallets, "
        f"{lots:,} lots ({open_lots:,} open), {due:,} due for "
        f"{due_members:,} members"
    )
    # Others' work on the same cores skews every figure: say how busy it was.
    print(f"  load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    night = timezone.make_aware(datetime.combine(on, dtime(3, 0)))
    with time_machine.travel(night, tick=True):
        for name in job_names(args.only):
            started = time.perf_counter()
            outcome = job_run(name, on, force=True)
            seconds = time.perf_counter() - started
            print(
                f"  {name:<22} {outcome.status:<8} {seconds:8.1f} s  "
                f"{outcome.result or outcome.note}"
            )
        if args.only and "expire_points" not in args.only:
            return
        before = books()
        started = time.perf_counter()
        outcome = job_run("expire_points", on, force=True)
        seconds = time.perf_counter() - started
        after = books()
        print(
            f"  {'expire_points again':<22} {outcome.status:<8} {seconds:8.1f} s  "
            f"{outcome.result or outcome.note}; "
            f"{'changed nothing' if before == after else 'CHANGED THE BOOKS'}"
        )
        print(f"  load average {os.getloadavg()[0]:.1f} at the end")
        if before != after:
            print(f"    before {before}\n    after  {after}")
            sys.exit(1)


if __name__ == "__main__":
    main()
