"""What the nightly batch jobs share: chunking, locking, SQL dialect."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from rewards import selectors

CHUNK_MEMBERS = 50_000
BATCH = "regulars_job_batch"


class _Db:
    """What differs between PostgreSQL and SQLite in the jobs' SQL."""

    def __init__(self) -> None:
        self.vendor = connection.vendor
        self.pg = self.vendor == "postgresql"

    def p(self, value):
        """A date or datetime as the backend stores it (SQLite: text in UTC)."""
        if isinstance(value, datetime):
            return connection.ops.adapt_datetimefield_value(value)
        if isinstance(value, date):
            return connection.ops.adapt_datefield_value(value)
        return value

    def lock(self, alias: str) -> str:
        # SQLite has no row locks: its IMMEDIATE transactions already
        # serialise writers.
        return f" FOR UPDATE OF {alias}" if self.pg else ""

    def json(self, expr: str) -> str:
        return f"CAST({expr} AS jsonb)" if self.pg else expr

    def scratch(self, cur, name: str, columns: str) -> None:
        """A fresh temporary table for this transaction (dropped by ``drop``)."""
        self.drop(cur, name)
        cur.execute(f"CREATE TEMP TABLE {name} ({columns})")

    def drop(self, cur, name: str) -> None:
        schema = "pg_temp" if self.pg else "temp"
        cur.execute(f"DROP TABLE IF EXISTS {schema}.{name}")


def day_end(on: date) -> datetime:
    """Midnight at the end of ``on`` in the business time zone."""
    return selectors.day_start(on + timedelta(days=1))


def due_at(on: date) -> datetime:
    """The moment a job for ``on`` looks at: the end of that day, but never later
    than now, so a run at 00:10 does not release points or end vouchers that
    are still pending or valid for the rest of the day."""
    return min(day_end(on), timezone.now())


def _member_ranges(*, first: int | None, last: int | None) -> list[tuple[int, int]]:
    """Member-id ranges [lo, hi) of about CHUNK_MEMBERS wallets from first to last."""
    ranges: list[tuple[int, int]] = []
    if first is None or last is None:
        return ranges
    lo = first
    with connection.cursor() as cur:
        while lo <= last:
            cur.execute(
                "SELECT member_id FROM rewards_wallet WHERE member_id >= %s "
                "ORDER BY member_id LIMIT 1 OFFSET %s",
                [lo, CHUNK_MEMBERS],
            )
            row = cur.fetchone()
            hi = row[0] if row and row[0] <= last else last + 1
            ranges.append((lo, hi))
            lo = hi
    return ranges


def _chunks_run(ranges, work: Callable[[Any, int, int], dict]) -> dict:
    """Run ``work(cursor, lo, hi)`` for each range, one transaction each; sum up.

    On PostgreSQL, outside any transaction, ``settings.REGULARS_JOB_WORKERS``
    threads (read at each run) share the ranges, each on its own connection:
    the ranges hold different members, so the chunks never wait for each other,
    and the server uses every core. In a transaction (tests), on SQLite (one
    writer) or with one worker they run here, in order.
    """
    totals: dict = {}

    def add(done: dict) -> None:
        for name, n in done.items():
            totals[name] = totals.get(name, 0) + n

    def one(lo: int, hi: int) -> dict:
        with transaction.atomic(), connection.cursor() as cur:
            return work(cur, lo, hi)

    workers = min(django_settings.REGULARS_JOB_WORKERS, len(ranges))
    if workers <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        for lo, hi in ranges:
            add(one(lo, hi))
        return totals
    todo = queue.SimpleQueue()
    for r in ranges:
        todo.put(r)
    results: list[dict] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while not errors:
                try:
                    lo, hi = todo.get_nowait()
                except queue.Empty:
                    return
                results.append(one(lo, hi))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    for done in results:
        add(done)
    return totals


def _lock_batch(db: _Db, cur, *, select_sql: str, params: dict) -> None:
    """Fill the chunk's scratch table with member ids, locking their wallets."""
    cur.execute(
        f"INSERT INTO {BATCH} (member_id) {select_sql} "
        f"ORDER BY w.member_id{db.lock('w')}",
        params,
    )


# --- Pending points -----------------------------------------------------------
