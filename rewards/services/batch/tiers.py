"""Nightly tier jobs: missing wallets, the tier review, monthly perks."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from members.models import Member
from rewards import selectors
from rewards.models import Tier, TierChange, Voucher, Wallet
from rewards.services.batch.common import (
    _Db,
    day_end,
)
from rewards.services.vouchers import voucher_code_new, voucher_webhook_data
from webhooks.services import event_subscribed, events_emit_bulk

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
                                  ROUND(SUM(amount_paid - amount_refunded), 2) AS s
                           FROM members_visit
                           WHERE status = %(paid)s AND member_id IS NOT NULL
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
        if event_subscribed("tier.changed"):
            _tier_changes_emit(cur)
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


def _tier_changes_emit(cur) -> None:
    """One tier.changed event per change the review wrote (one SELECT)."""
    cur.execute(
        f"""
        SELECT r.member_id, ot.code, nt.code, r.reason FROM {REVIEW} r
        LEFT JOIN rewards_tier ot ON ot.id = r.old_tier_id
        JOIN rewards_tier nt ON nt.id = r.new_tier_id
        WHERE r.changed = 1"""
    )
    events_emit_bulk(
        type="tier.changed",
        data_rows=[
            {
                "member_id": member_id,
                "from": old,
                "to": new,
                "reason": reason,
                "visit_id": None,
            }
            for member_id, old, new, reason in cur.fetchall()
        ],
    )


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
            if event_subscribed("voucher.issued"):
                # The ones this attempt inserted (a conflict kept another's).
                events_emit_bulk(
                    type="voucher.issued",
                    data_rows=[
                        voucher_webhook_data(voucher)
                        for voucher in Voucher.objects.select_related("reward").filter(
                            idempotency_key__in=[keys[m] for m, _ in todo],
                            issued_at=now,
                        )
                    ],
                )
        todo = missing(todo)
    return len(first) - len(todo)
