"""The nightly jobs' writes: set-based SQL over all members, safe to run twice.

Each job takes a business date and returns a dict of what it did. They select
by state ("due and not done") and move everything in a few statements, so a
second run for the same date finds nothing left to do; ``rewards.jobs`` records
runs and runs them in order.

The points jobs work in member-id chunks of ``CHUNK_MEMBERS`` wallets, one
transaction each, so a live checkout waits at most for one chunk (on PostgreSQL
``JOB_WORKERS`` chunks run side by side). A chunk first copies the ids of the
members it will touch into a scratch table *and locks their wallet rows* (in
member-id order, the project's lock order), then every statement of the chunk
joins that table: a member's lots and wallet cannot move under the job, and the
job cannot touch a member whose wallet it does not hold. SQL below runs on
PostgreSQL and SQLite (``UPDATE … FROM``, ``ON CONFLICT DO NOTHING``); the few
differences go through ``_Db``.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from members.models import Member
from rewards import selectors
from rewards.dbfuncs import hash_payload_sql, sha256_sql
from rewards.models import LedgerEntry, Tier, TierChange, Voucher, Wallet
from rewards.services.vouchers import voucher_code_new, vouchers_expire

CHUNK_MEMBERS = 50_000
# Chunks run side by side on PostgreSQL (one connection each); 1 = one by one.
JOB_WORKERS = getattr(django_settings, "REGULARS_JOB_WORKERS", 2)
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

    On PostgreSQL, outside any transaction, ``JOB_WORKERS`` threads share the
    ranges, each on its own connection: the ranges hold different members, so
    the chunks never wait for each other, and the server uses every core. In a
    transaction (tests) or on SQLite (one writer) they run here, in order.
    """
    totals: dict = {}

    def add(done: dict) -> None:
        for name, n in done.items():
            totals[name] = totals.get(name, 0) + n

    def one(lo: int, hi: int) -> dict:
        with transaction.atomic(), connection.cursor() as cur:
            return work(cur, lo, hi)

    workers = min(JOB_WORKERS, len(ranges))
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


def lots_activate(*, on: date) -> dict:
    """Pending lots whose pending period ended become spendable.

    Moves each member's sum from ``pending`` to ``available`` in one UPDATE and
    clears the lots' ``pending_until``. No ledger entry: the balance is the same.
    """
    db = _Db()
    due = (
        "l.pending_until IS NOT NULL AND l.pending_until <= %(at)s "
        "AND l.member_id >= %(lo)s AND l.member_id < %(hi)s"
    )
    base = {"at": db.p(due_at(on)), "now": db.p(timezone.now())}

    def work(cur, lo: int, hi: int) -> dict:
        params = {**base, "lo": lo, "hi": hi}
        db.scratch(cur, BATCH, "member_id bigint PRIMARY KEY, total bigint")
        _lock_batch(
            db,
            cur,
            select_sql=f"""
            SELECT w.member_id FROM rewards_wallet w
            WHERE w.member_id >= %(lo)s AND w.member_id < %(hi)s
              AND EXISTS (SELECT 1 FROM rewards_pointlot l
                          WHERE l.member_id = w.member_id AND {due})""",
            params=params,
        )
        cur.execute(
            f"""
            UPDATE {BATCH} SET total = a.total
            FROM (SELECT l.member_id, CAST(SUM(l.remaining) AS BIGINT) AS total
                  FROM rewards_pointlot l JOIN {BATCH} b ON b.member_id = l.member_id
                  WHERE {due} GROUP BY l.member_id) a
            WHERE {BATCH}.member_id = a.member_id""",
            params,
        )
        cur.execute(
            f"""
            UPDATE rewards_wallet
            SET pending = pending - b.total, available = available + b.total,
                updated_at = %(now)s
            FROM {BATCH} b
            WHERE rewards_wallet.member_id = b.member_id AND b.total > 0""",
            params,
        )
        members = cur.rowcount
        cur.execute(f"SELECT COALESCE(SUM(total), 0) FROM {BATCH}")
        points = int(cur.fetchone()[0])
        cur.execute(
            f"""
            UPDATE rewards_pointlot AS l SET pending_until = NULL
            WHERE l.member_id IN (SELECT member_id FROM {BATCH}) AND {due}""",
            params,
        )
        lots = cur.rowcount
        db.drop(cur, BATCH)
        return {"members": members, "lots": lots, "points": points}

    with connection.cursor() as cur:
        cur.execute(
            "SELECT MIN(member_id), MAX(member_id) FROM rewards_pointlot "
            "WHERE pending_until IS NOT NULL AND pending_until <= %(at)s",
            base,
        )
        first, last = cur.fetchone()
    done = _chunks_run(_member_ranges(first=first, last=last), work)
    return {"members": 0, "lots": 0, "points": 0, **done}


# --- Expiry -------------------------------------------------------------------

_IKEY = "(%(key_head)s || CAST(w.member_id AS TEXT) || %(key_tail)s)"
_ENTRY_HASH = hash_payload_sql(
    prev="w.last_hash",
    member="w.member_id",
    seq="(w.seq + 1)",
    kind="%(kind)s",
    amount="(-a.total)",
    debt_change="0",
    balance_after="(w.available + w.pending - a.total)",
    debt_after="w.debt",
    key=_IKEY,
)
_EXPIRE_BATCH = (
    "member_id bigint PRIMARY KEY, total bigint, lots bigint, s_avail bigint, "
    "s_pend bigint, seq bigint, prev_hash varchar(64), balance_after bigint, "
    "debt_after bigint, ikey varchar(160), params text, hash varchar(64), "
    "entry_id bigint"
)


def _expire_chunk(db: _Db, cur, *, select_sql: str, lots_due: str, params) -> dict:
    """Expire the due lots of the members ``select_sql`` picks in [lo, hi).

    Per member one ledger entry (its hash computed in SQL, ``dbfuncs``), one
    allocation per lot, the wallet's balances and chain head moved, the lots
    emptied. The entry is first built whole in the scratch table, so every
    later statement is a plain join on it. Runs inside the chunk's transaction.
    """
    lots_due += " AND l.member_id >= %(lo)s AND l.member_id < %(hi)s"
    db.scratch(cur, BATCH, _EXPIRE_BATCH)
    _lock_batch(db, cur, select_sql=select_sql, params=params)
    # PostgreSQL: take the entries' ids from their sequence now, so nothing has
    # to look them up after the insert. SQLite looks them up by key.
    entry_id = (
        ", entry_id = nextval(pg_get_serial_sequence('rewards_ledgerentry', 'id'))"
        if db.pg
        else ""
    )
    cur.execute(
        f"""
        UPDATE {BATCH}
        SET total = a.total, lots = a.n, s_avail = a.s_avail, s_pend = a.s_pend,
            seq = w.seq + 1, prev_hash = w.last_hash,
            balance_after = w.available + w.pending - a.total, debt_after = w.debt,
            ikey = {_IKEY},
            params = %(params_head)s || CAST(a.n AS TEXT) || %(params_tail)s,
            hash = {sha256_sql(db.vendor, _ENTRY_HASH)}{entry_id}
        FROM (SELECT l.member_id, CAST(SUM(l.remaining) AS BIGINT) AS total,
                     COUNT(*) AS n,
                     CAST(SUM(CASE WHEN l.pending_until IS NULL
                                   THEN l.remaining ELSE 0 END) AS BIGINT) AS s_avail,
                     CAST(SUM(CASE WHEN l.pending_until IS NULL
                                   THEN 0 ELSE l.remaining END) AS BIGINT) AS s_pend
              FROM rewards_pointlot l JOIN {BATCH} b ON b.member_id = l.member_id
              WHERE {lots_due} GROUP BY l.member_id) a
        JOIN rewards_wallet w ON w.member_id = a.member_id
        WHERE {BATCH}.member_id = a.member_id""",
        params,
    )
    cur.execute(f"DELETE FROM {BATCH} WHERE total IS NULL OR total <= 0")
    id_column, id_value = ("id, ", "entry_id, ") if db.pg else ("", "")
    cur.execute(
        f"""
        INSERT INTO rewards_ledgerentry
            ({id_column}member_id, seq, kind, amount, debt_change, balance_after,
             debt_after, reason, params, note, actor_name, idempotency_key,
             created_at, prev_hash, hash)
        SELECT {id_value}member_id, seq, %(kind)s, -total, 0, balance_after,
               debt_after, %(reason)s, {db.json("params")}, '', '', ikey, %(now)s,
               prev_hash, hash
        FROM {BATCH}""",
        params,
    )
    members = cur.rowcount
    if not db.pg:
        cur.execute(
            f"""
            UPDATE {BATCH} SET entry_id = (SELECT e.id FROM rewards_ledgerentry e
                                           WHERE e.idempotency_key = {BATCH}.ikey)"""
        )
    cur.execute(
        f"""
        INSERT INTO rewards_lotallocation (entry_id, lot_id, amount)
        SELECT b.entry_id, l.id, -l.remaining
        FROM {BATCH} b JOIN rewards_pointlot l ON l.member_id = b.member_id
        WHERE {lots_due}""",
        params,
    )
    lots = cur.rowcount
    cur.execute(
        f"""
        UPDATE rewards_wallet
        SET available = available - b.s_avail, pending = pending - b.s_pend,
            seq = b.seq, last_hash = b.hash, updated_at = %(now)s
        FROM {BATCH} b WHERE rewards_wallet.member_id = b.member_id""",
        params,
    )
    cur.execute(
        f"""
        UPDATE rewards_pointlot AS l
        SET expired = l.expired + l.remaining, remaining = 0, pending_until = NULL
        WHERE l.member_id IN (SELECT member_id FROM {BATCH}) AND {lots_due}""",
        params,
    )
    cur.execute(f"SELECT COALESCE(SUM(total), 0) FROM {BATCH}")
    points = int(cur.fetchone()[0])
    db.drop(cur, BATCH)
    return {"members": members, "lots": lots, "points": points}


def _json_around(fields: dict) -> tuple[str, str]:
    """JSON text of {"lots": <n>, **fields} split around n, for SQL concatenation."""
    return '{"lots": ', ", " + json.dumps(fields)[1:]


def _months_before(on: date, months: int) -> date:
    month = on.month - 1 - months
    year, month = on.year + month // 12, month % 12 + 1
    for day in (on.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def lots_expire(*, on: date) -> dict:
    """Expire what is left of lots due on or before ``on``, then burn inactive
    members' points if the program says so.

    Per member and date one ``expire`` entry (key ``expire:<member>:<date>``)
    with an allocation per lot, so ``lot.amount + Σ allocations == remaining``
    keeps holding and the chain stays verifiable. Inactivity burn: members with
    no visit (or, never visiting, no registration) for ``inactivity_burn_months``
    lose every remaining point (``expire_inactive:<member>:<date>``).
    """
    db = _Db()
    settings = selectors.program_settings()
    head, tail = _json_around({"date": on.isoformat()})
    base = {
        "on": db.p(on),
        "now": db.p(timezone.now()),
        "kind": LedgerEntry.Kind.EXPIRE.value,
        "reason": "expire",
        "key_head": "expire:",
        "key_tail": f":{on.isoformat()}",
        "params_head": head,
        "params_tail": tail,
    }
    due = "l.remaining > 0 AND l.expires_on <= %(on)s"
    select = f"""
        SELECT w.member_id FROM rewards_wallet w
        WHERE w.member_id >= %(lo)s AND w.member_id < %(hi)s
          AND EXISTS (SELECT 1 FROM rewards_pointlot l
                      WHERE l.member_id = w.member_id AND {due})"""

    def work(cur, lo: int, hi: int) -> dict:
        params = {**base, "lo": lo, "hi": hi}
        return _expire_chunk(db, cur, select_sql=select, lots_due=due, params=params)

    with connection.cursor() as cur:
        cur.execute(
            f"SELECT MIN(l.member_id), MAX(l.member_id) FROM rewards_pointlot l "
            f"WHERE {due}",
            base,
        )
        first, last = cur.fetchone()
    done = _chunks_run(_member_ranges(first=first, last=last), work)
    result = {"members": 0, "lots": 0, "points": 0, **done}
    months = settings.inactivity_burn_months
    if months:
        result.update(_inactive_burn(db, on=on, months=months, now=base["now"]))
    return result


def _inactive_burn(db: _Db, *, on: date, months: int, now) -> dict:
    head, tail = _json_around({"date": on.isoformat(), "months": months})
    base = {
        "cutoff": db.p(selectors.day_start(_months_before(on, months))),
        "now": now,
        "kind": LedgerEntry.Kind.EXPIRE.value,
        "reason": "expire_inactive",
        "key_head": "expire_inactive:",
        "key_tail": f":{on.isoformat()}",
        "params_head": head,
        "params_tail": tail,
    }
    select = """
        SELECT w.member_id FROM rewards_wallet w
        JOIN members_member m ON m.id = w.member_id
        WHERE w.member_id >= %(lo)s AND w.member_id < %(hi)s
          AND COALESCE(m.last_visit_at, m.registered_at) < %(cutoff)s
          AND EXISTS (SELECT 1 FROM rewards_pointlot l
                      WHERE l.member_id = w.member_id AND l.remaining > 0)"""

    def work(cur, lo: int, hi: int) -> dict:
        params = {**base, "lo": lo, "hi": hi}
        return _expire_chunk(
            db, cur, select_sql=select, lots_due="l.remaining > 0", params=params
        )

    with connection.cursor() as cur:
        cur.execute("SELECT MIN(member_id), MAX(member_id) FROM rewards_wallet")
        first, last = cur.fetchone()
    done = _chunks_run(_member_ranges(first=first, last=last), work)
    return {
        f"inactive_{name}": done.get(name, 0) for name in ("members", "lots", "points")
    }


def expiry_notices_queue(*, on: date) -> dict:
    """Queue one "your points expire soon" notice per member for the points
    expiring exactly ``expiry_warning_days`` after ``on``. Once per member and
    expiry date (unique key), whatever the number of runs."""
    db = _Db()
    settings = selectors.program_settings()
    expires_on = on + timedelta(days=settings.expiry_warning_days)
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO rewards_expirynotice
                (member_id, expires_on, points, status, created_at)
            SELECT l.member_id, l.expires_on, SUM(l.remaining), %(queued)s, %(now)s
            FROM rewards_pointlot l
            WHERE l.remaining > 0 AND l.expires_on = %(expires_on)s
            GROUP BY l.member_id, l.expires_on
            ON CONFLICT (member_id, expires_on) DO NOTHING""",
            {
                "queued": "queued",
                "now": db.p(timezone.now()),
                "expires_on": db.p(expires_on),
            },
        )
        notices = cur.rowcount
    return {"notices": notices, "expires_on": expires_on.isoformat()}


# --- Vouchers -----------------------------------------------------------------


def vouchers_expire_due(*, on: date) -> dict:
    """Active vouchers whose validity ended by the end of ``on`` (and by now)."""
    return {"vouchers": vouchers_expire(at=due_at(on))}


# --- Tiers --------------------------------------------------------------------

REVIEW = "regulars_tier_review"


def _same(a: str, b: str) -> str:
    """SQL: a equals b, two NULLs being equal (portable IS NOT DISTINCT FROM)."""
    return f"COALESCE({a} = {b}, {a} IS NULL AND {b} IS NULL)"


def wallets_create_missing(*, now: datetime | None = None) -> int:
    """Give every member without a wallet one at the base tier, set-based.

    Writes the "joined" tier change for exactly the wallets it inserted: a
    checkout creating the same wallet at the same moment (``wallet_lock``)
    conflicts on the primary key and one of the two inserts does nothing.
    """
    db = _Db()
    base = selectors.tier_base()
    params = {
        "base": base.pk if base else None,
        "since": db.p(now or timezone.now()) if base else None,
        "now": db.p(now or timezone.now()),
        "joined": TierChange.Reason.JOINED.value,
    }
    insert = """
        INSERT INTO rewards_wallet (member_id, available, pending, debt, seq,
                                    last_hash, tier_id, tier_since, updated_at)
        SELECT m.id, 0, 0, 0, 0, '', %(base)s, %(since)s, %(now)s
        FROM members_member m
        WHERE NOT EXISTS (SELECT 1 FROM rewards_wallet w WHERE w.member_id = m.id)"""
    joined = """
        INSERT INTO rewards_tierchange (member_id, to_tier_id, reason, note, changed_at)
        SELECT {ids}, %(base)s, %(joined)s, '', %(now)s"""
    with transaction.atomic(), connection.cursor() as cur:
        if db.pg:
            cur.execute(
                f"WITH ins AS ({insert} ON CONFLICT (member_id) DO NOTHING "
                f"RETURNING member_id) "
                + (
                    joined.format(ids="ins.member_id") + " FROM ins"
                    if base
                    else "SELECT COUNT(*) FROM ins"
                ),
                params,
            )
            return cur.rowcount if base else cur.fetchone()[0]
        # SQLite: one writer at a time, so "missing" cannot change in between.
        if base:
            cur.execute(
                joined.format(ids="m.id") + " FROM members_member m WHERE NOT EXISTS "
                "(SELECT 1 FROM rewards_wallet w WHERE w.member_id = m.id)",
                params,
            )
        cur.execute(insert, params)
        return cur.rowcount


def _qualifying_rank_sql(tiers, params: dict) -> str:
    """SQL CASE: the highest rank whose visits or spend threshold is met."""
    whens = []
    for tier in reversed(tiers[1:]):
        conds = []
        if tier.min_visits is not None:
            conds.append(f"COALESCE(v.n, 0) >= {int(tier.min_visits)}")
        if tier.min_spend is not None:
            params[f"spend_{tier.rank}"] = str(tier.min_spend)
            conds.append(f"COALESCE(v.s, 0) >= CAST(%(spend_{tier.rank})s AS NUMERIC)")
        if conds:
            whens.append(f"WHEN {' OR '.join(conds)} THEN {int(tier.rank)}")
    lowest = int(tiers[0].rank)
    return f"CASE {' '.join(whens)} ELSE {lowest} END" if whens else str(lowest)


def tiers_review(*, on: date) -> dict:
    """The nightly tier review of every wallet (creating missing wallets first).

    Qualifying rank: the highest tier whose visits or spend threshold the
    member's paid visits in the window ending at the end of ``on`` meet. Above
    the current tier: up at once. At or above: any "at risk" mark is cleared.
    Below, without a manager's override in force: marked at risk on ``on``,
    and once ``tier_grace_days`` have passed, down ONE step (the mark cleared,
    so the next step waits another grace period). Ended overrides are cleared
    and the rules apply again. Only wallets that change are written; each
    tier change gets a ``TierChange`` row.
    """
    all_tiers = selectors.tiers()
    if not all_tiers:
        return {"skipped": "no tiers"}
    db = _Db()
    settings = selectors.program_settings()
    now = timezone.now()
    end = day_end(on)
    params = {
        "on": db.p(on),
        "now": db.p(now),
        "start": db.p(end - timedelta(days=settings.tier_window_days)),
        "end": db.p(end),
        "risk_cutoff": db.p(on - timedelta(days=settings.tier_grace_days)),
        "paid": "paid",
    }
    q = _qualifying_rank_sql(all_tiers, params)
    created = wallets_create_missing(now=now)
    dt = "date" if db.pg else "text"
    with transaction.atomic(), connection.cursor() as cur:
        db.scratch(
            cur,
            REVIEW,
            f"member_id bigint PRIMARY KEY, old_tier_id bigint, new_tier_id bigint, "
            f"old_at_risk {dt}, new_at_risk {dt}, old_override {dt}, "
            f"ended integer, changed integer, reason varchar(20)",
        )
        cur.execute(
            f"""
            INSERT INTO {REVIEW} (member_id, old_tier_id, new_tier_id, old_at_risk,
                                  new_at_risk, old_override, ended, changed, reason)
            SELECT y.member_id, y.tier_id, nt.id, y.at_risk, y.new_at_risk,
                   y.override_until, y.ended,
                   CASE WHEN nt.id = y.tier_id THEN 0 ELSE 1 END,
                   CASE WHEN nt.id = y.tier_id THEN ''
                        WHEN y.ended = 1 THEN 'override_ended'
                        WHEN y.new_rank > y.cur THEN 'upgrade'
                        ELSE 'downgrade' END
            FROM (
              SELECT x.*,
                CASE WHEN x.q > x.cur THEN x.q
                     WHEN x.q < x.cur AND x.risk_over = 1 THEN
                       (SELECT MAX(t2.rank) FROM rewards_tier t2 WHERE t2.rank < x.cur)
                     ELSE x.cur END AS new_rank,
                CASE WHEN x.q >= x.cur THEN NULL
                     WHEN x.risk_over = 1 THEN NULL
                     WHEN x.at_risk IS NULL THEN %(on)s
                     ELSE x.at_risk END AS new_at_risk
              FROM (
                SELECT w.member_id, w.tier_id, COALESCE(ct.rank, -1) AS cur,
                       w.tier_at_risk_since AS at_risk,
                       w.tier_override_until AS override_until,
                       CASE WHEN w.tier_override_until IS NULL THEN 0 ELSE 1 END
                           AS ended,
                       CASE WHEN w.tier_at_risk_since <= %(risk_cutoff)s THEN 1
                            ELSE 0 END AS risk_over,
                       {q} AS q
                FROM rewards_wallet w
                LEFT JOIN rewards_tier ct ON ct.id = w.tier_id
                LEFT JOIN (SELECT member_id, COUNT(*) AS n,
                                  ROUND(SUM(amount_paid), 2) AS s
                           FROM members_visit
                           WHERE status = %(paid)s
                             AND paid_at > %(start)s AND paid_at <= %(end)s
                           GROUP BY member_id) v ON v.member_id = w.member_id
                WHERE w.tier_override_until IS NULL
                   OR w.tier_override_until < %(on)s
              ) x
            ) y
            JOIN rewards_tier nt ON nt.rank = y.new_rank
            WHERE y.tier_id IS NULL OR nt.id <> y.tier_id OR y.ended = 1
               OR NOT {_same("y.new_at_risk", "y.at_risk")}""",
            params,
        )
        if db.pg:
            cur.execute(
                f"SELECT w.member_id FROM rewards_wallet w WHERE w.member_id IN "
                f"(SELECT member_id FROM {REVIEW}) ORDER BY w.member_id"
                f"{db.lock('w')}"
            )
        # With the wallets locked: drop decisions a checkout or a manager made
        # stale meanwhile (an upgrade, a new override); tomorrow decides again.
        cur.execute(
            f"""
            DELETE FROM {REVIEW} WHERE member_id IN (
              SELECT r.member_id FROM {REVIEW} r
              JOIN rewards_wallet w ON w.member_id = r.member_id
              WHERE NOT ({_same("w.tier_id", "r.old_tier_id")}
                     AND {_same("w.tier_at_risk_since", "r.old_at_risk")}
                     AND {_same("w.tier_override_until", "r.old_override")}))"""
        )
        cur.execute(
            f"""
            UPDATE rewards_wallet
            SET tier_id = r.new_tier_id,
                tier_since = CASE WHEN r.changed = 1 THEN %(now)s
                                  ELSE rewards_wallet.tier_since END,
                tier_at_risk_since = r.new_at_risk,
                tier_override_until = CASE WHEN r.ended = 1 THEN NULL
                                      ELSE rewards_wallet.tier_override_until END,
                updated_at = %(now)s
            FROM {REVIEW} r WHERE rewards_wallet.member_id = r.member_id""",
            params,
        )
        cur.execute(
            f"""
            INSERT INTO rewards_tierchange
                (member_id, from_tier_id, to_tier_id, reason, note, changed_at)
            SELECT member_id, old_tier_id, new_tier_id, reason, '', %(now)s
            FROM {REVIEW} WHERE changed = 1""",
            params,
        )
        cur.execute(
            f"""
            SELECT
              SUM(CASE WHEN reason = 'upgrade' THEN 1 ELSE 0 END),
              SUM(CASE WHEN reason = 'downgrade' THEN 1 ELSE 0 END),
              SUM(CASE WHEN reason = 'override_ended' THEN 1 ELSE 0 END),
              SUM(ended),
              SUM(CASE WHEN old_at_risk IS NULL AND new_at_risk IS NOT NULL
                       THEN 1 ELSE 0 END),
              SUM(CASE WHEN changed = 0 AND old_at_risk IS NOT NULL
                        AND new_at_risk IS NULL THEN 1 ELSE 0 END)
            FROM {REVIEW}"""
        )
        counts = [int(n or 0) for n in cur.fetchone()]
        db.drop(cur, REVIEW)
    names = [
        "upgraded",
        "downgraded",
        "changed_after_override",
        "overrides_ended",
        "at_risk",
        "recovered",
    ]
    return {"wallets_created": created, **dict(zip(names, counts, strict=True))}


PERK_BATCH = 5_000


def tier_perks_issue(*, on: date) -> dict:
    """On the 1st of a month, a voucher for each member whose tier has a monthly
    perk: source ``tier_perk``, free, key ``perk:<member>:<YYYY-MM>`` so a month's
    perk is issued once however many runs. Other dates do nothing."""
    if on.day != 1:
        return {"skipped": "not the 1st of the month", "vouchers": 0}
    month = f"{on:%Y-%m}"
    perks = {
        t.pk: t.monthly_reward
        for t in Tier.objects.select_related("monthly_reward").filter(
            monthly_reward__isnull=False, monthly_reward__is_active=True
        )
    }
    issued = 0
    last = 0
    while perks:
        rows = list(
            Wallet.objects.filter(
                member_id__gt=last,
                tier_id__in=list(perks),
                member__status=Member.Status.ACTIVE,
            )
            .order_by("member_id")
            .values_list("member_id", "tier_id")[:PERK_BATCH]
        )
        if not rows:
            break
        last = rows[-1][0]
        issued += _perks_create(rows, perks=perks, month=month)
    return {"vouchers": issued, "month": month}


def _perks_create(rows, *, perks: dict, month: str) -> int:
    keys = {member_id: f"perk:{member_id}:{month}" for member_id, _ in rows}

    def missing(candidates):
        have = set(
            Voucher.objects.filter(
                idempotency_key__in=[keys[m] for m, _ in candidates]
            ).values_list("idempotency_key", flat=True)
        )
        return [(m, t) for m, t in candidates if keys[m] not in have]

    todo = first = missing(rows)
    # A fresh code colliding with an existing one is skipped by ignore_conflicts
    # like a voucher issued meanwhile; the retry gives those members a new code.
    for _attempt in range(3):
        if not todo:
            break
        now = timezone.now()
        with transaction.atomic():
            Voucher.objects.bulk_create(
                [
                    Voucher(
                        code=voucher_code_new(),
                        reward=perks[tier_id],
                        member_id=member_id,
                        status=Voucher.Status.ACTIVE,
                        source=Voucher.Source.TIER_PERK,
                        points_cost=0,
                        issued_at=now,
                        valid_until=now
                        + timedelta(days=perks[tier_id].voucher_valid_days),
                        idempotency_key=keys[member_id],
                    )
                    for member_id, tier_id in todo
                ],
                ignore_conflicts=True,
                batch_size=1_000,
            )
        todo = missing(todo)
    return len(first) - len(todo)


__all__ = [
    "CHUNK_MEMBERS",
    "day_end",
    "due_at",
    "expiry_notices_queue",
    "lots_activate",
    "lots_expire",
    "tier_perks_issue",
    "tiers_review",
    "vouchers_expire_due",
    "wallets_create_missing",
]
