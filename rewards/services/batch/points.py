"""Nightly points jobs: activate pending, expire (and inactivity burn), notices."""

from __future__ import annotations

import json
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from rewards import selectors
from rewards.dbfuncs import hash_payload_sql, sha256_sql
from rewards.models import ExpiryNotice, LedgerEntry
from rewards.services.batch.common import (
    BATCH,
    _chunks_run,
    _Db,
    _lock_batch,
    _member_ranges,
    due_at,
)
from rewards.services.vouchers import vouchers_expire
from webhooks.services import event_subscribed, events_emit_bulk, iso


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
    if event_subscribed("points.changed"):
        _expired_emit(cur, reason=params["reason"])
    db.drop(cur, BATCH)
    return {"members": members, "lots": lots, "points": points}


def _expired_emit(cur, *, reason: str) -> None:
    """One points.changed event per expiry entry of the chunk (one SELECT)."""
    cur.execute(
        f"SELECT member_id, entry_id, total, balance_after, debt_after FROM {BATCH}"
    )
    at = iso(timezone.now())
    events_emit_bulk(
        type="points.changed",
        data_rows=[
            {
                "member_id": member_id,
                "entry_id": entry_id,
                "kind": LedgerEntry.Kind.EXPIRE.value,
                "delta": -total,
                "balance": balance,
                "debt": debt,
                "reason": reason,
                "visit_id": None,
                "voucher_id": None,
                "created_at": at,
            }
            for member_id, entry_id, total, balance, debt in cur.fetchall()
        ],
    )


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


NOTICE_CHUNK = 1000


def expiry_notices_send(*, on: date) -> dict:
    """Hand queued "your points expire soon" notices to the outbox; mark them sent.

    Each notice becomes one message per channel of its member: the in-app inbox
    always, SMS, push and email where the member opted in
    (``member_channels``). The message is transactional (a notice about the
    member's own balance, not an offer), deduplicated by
    ``expiry:<notice id>:<channel>``. A chunk of notices and their messages
    commit together, so a crash leaves each notice queued (a re-run adds none
    of its messages twice) or sent. Selects by state, not by ``on``: a re-run
    for any date finds nothing left. Notices whose date has passed, or of
    members no longer active, are skipped.
    """
    from members.messaging.services import (
        OutgoingMessage,
        member_channels,
        messages_queue_bulk,
    )

    queued = ExpiryNotice.objects.filter(status=ExpiryNotice.Status.QUEUED)
    skipped = queued.filter(
        Q(expires_on__lt=timezone.localdate()) | ~Q(member__status="active")
    ).update(status=ExpiryNotice.Status.SKIPPED)
    sent = messages = 0
    while True:
        with transaction.atomic():
            notices = list(
                queued.select_for_update(skip_locked=True, of=("self",))
                .select_related("member")
                .order_by("pk")[:NOTICE_CHUNK]
            )
            if not notices:
                break
            messages += messages_queue_bulk(
                messages=[
                    OutgoingMessage(
                        channel=channel,
                        template_key="points_expiring",
                        context={"points": n.points, "expires_on": n.expires_on},
                        member=n.member,
                        dedupe_key=f"expiry:{n.pk}:{channel}",
                    )
                    for n in notices
                    for channel in member_channels(n.member)
                ]
            )
            ExpiryNotice.objects.filter(pk__in=[n.pk for n in notices]).update(
                status=ExpiryNotice.Status.SENT
            )
            sent += len(notices)
    return {"notices_sent": sent, "notices_skipped": skipped, "messages": messages}


# --- Vouchers -----------------------------------------------------------------


def vouchers_expire_due(*, on: date) -> dict:
    """Active vouchers whose validity ended by the end of ``on`` (and by now)."""
    return {"vouchers": vouchers_expire(at=due_at(on))}


# --- Tiers --------------------------------------------------------------------
