"""Posting to the points ledger: the primitives every points service uses.

The recipe (STYLE.md §6): the caller opens a transaction and locks the wallet
with ``wallet_lock`` (the member row first when it also touches visits); if the
idempotency key exists it returns the earlier entry; it checks; it appends
entries, lots and allocations; it writes the wallet's cached balances with
``F()`` deltas. Database constraints back every invariant: a balance below zero
or a duplicate key aborts the whole transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import F, Sum, Window
from django.utils import timezone

from core import locks, rows
from core.rows import rows_insert
from rewards import selectors
from rewards.dbfuncs import sha256_hex
from rewards.models import LedgerEntry, LotAllocation, PointLot, TierChange, Wallet
from webhooks.services import event_emit, iso

Kind = LedgerEntry.Kind


def hash_payload(
    *, prev, member, seq, kind, amount, debt_change, balance_after, debt_after, key
) -> str:
    """The text an entry's hash covers; ``dbfuncs.hash_payload_sql`` is its twin."""
    parts = [
        prev,
        member,
        seq,
        kind,
        amount,
        debt_change,
        balance_after,
        debt_after,
        key,
    ]
    return "|".join(str(p) for p in parts)


def entry_hash(entry: LedgerEntry) -> str:
    return sha256_hex(
        hash_payload(
            prev=entry.prev_hash,
            member=entry.member_id,
            seq=entry.seq,
            kind=entry.kind,
            amount=entry.amount,
            debt_change=entry.debt_change,
            balance_after=entry.balance_after,
            debt_after=entry.debt_after,
            key=entry.idempotency_key,
        )
    )


@dataclass
class WalletState:
    """A locked wallet plus what this transaction changed, written once at the end."""

    wallet: Wallet
    d_available: int = 0
    d_pending: int = 0
    d_debt: int = 0
    new_entries: list[LedgerEntry] = field(default_factory=list)

    @property
    def available(self) -> int:
        return self.wallet.available + self.d_available

    @property
    def pending(self) -> int:
        return self.wallet.pending + self.d_pending

    @property
    def debt(self) -> int:
        return self.wallet.debt + self.d_debt

    @property
    def member_id(self) -> int:
        return self.wallet.member_id


def wallet_lock(
    member_id: int, *, now: datetime | None = None, create: bool = True
) -> WalletState:
    """Lock the member's wallet row (creating it at the base tier if missing).

    Lock order across the project: the member row (members' visit services)
    before the wallet, wallets of several members in pk order. With
    ``create=False`` (a read such as a quote) a missing wallet is an empty one
    at the base tier, in memory only: reading writes nothing.
    """
    # The tier comes from the process cache, not a join.
    wallet = locks.row_lock(Wallet, member_id)
    if wallet is not None:
        wallet.tier = selectors.tier_by_id(wallet.tier_id)
    if wallet is None and not create:
        base = selectors.tier_base()
        return WalletState(wallet=Wallet(member_id=member_id, tier=base))
    if wallet is None:
        base = selectors.tier_base()
        now = now or timezone.now()
        created = Wallet.objects.bulk_create(
            [Wallet(member_id=member_id, tier=base, tier_since=now if base else None)],
            ignore_conflicts=True,
        )
        wallet = locks.row_lock(Wallet, member_id)
        wallet.tier = selectors.tier_by_id(wallet.tier_id)
        if created and base is not None and wallet.seq == 0:
            TierChange.objects.get_or_create(
                member_id=member_id,
                reason=TierChange.Reason.JOINED,
                defaults={"to_tier": base, "changed_at": now},
            )
    return WalletState(wallet=wallet)


def wallet_read(member_id: int, wallet: Wallet | None = None) -> WalletState:
    """The member's wallet without a lock (a quote, a read): never waits on a
    commit. A missing wallet is an empty one at the base tier, in memory only.
    ``wallet``: the row when the caller already read it (joined to the member).
    """
    if wallet is None:
        wallet = Wallet.objects.filter(pk=member_id).first()
    if wallet is None:
        return WalletState(
            wallet=Wallet(member_id=member_id, tier=selectors.tier_base())
        )
    wallet.tier = selectors.tier_by_id(wallet.tier_id)
    return WalletState(wallet=wallet)


def wallet_save(state: WalletState) -> None:
    """Write the cached balances and the chain head in one UPDATE."""
    if not state.new_entries and not (
        state.d_available or state.d_pending or state.d_debt
    ):
        return
    last = state.new_entries[-1] if state.new_entries else None
    # Written out rather than compiled by the ORM on every posting (half the
    # CPU): deltas added in SQL, as ``F()`` would, so the row's own values win.
    sets = ["available = available + %s", "pending = pending + %s", "debt = debt + %s"]
    params = [state.d_available, state.d_pending, state.d_debt]
    sets.append("updated_at = %s")
    params.append(connection.ops.adapt_datetimefield_value(timezone.now()))
    if last is not None:
        sets += ["seq = %s", "last_hash = %s"]
        params += [last.seq, last.hash]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Wallet._meta.db_table} SET {', '.join(sets)} "
            "WHERE member_id = %s",
            [*params, state.member_id],
        )
    w = state.wallet
    w.available, w.pending, w.debt = state.available, state.pending, state.debt
    if last is not None:
        w.seq, w.last_hash = last.seq, last.hash
    state.d_available = state.d_pending = state.d_debt = 0
    state.new_entries = []


def entry_append(
    state: WalletState,
    *,
    kind: str,
    amount: int,
    key: str,
    reason: str,
    params: dict | None = None,
    debt_change: int = 0,
    visit=None,
    voucher=None,
    reverses: LedgerEntry | None = None,
    actor=None,
    note: str = "",
    now: datetime | None = None,
) -> LedgerEntry:
    """Append one entry after the caller applied its deltas to ``state``.

    ``amount`` and ``debt_change`` must already be reflected in ``state``'s
    deltas: the entry records the balances that result.
    """
    head_seq = state.new_entries[-1].seq if state.new_entries else state.wallet.seq
    head_hash = (
        state.new_entries[-1].hash if state.new_entries else state.wallet.last_hash
    )
    entry = LedgerEntry(
        member_id=state.member_id,
        seq=head_seq + 1,
        kind=kind,
        amount=amount,
        debt_change=debt_change,
        balance_after=state.available + state.pending,
        debt_after=state.debt,
        reason=reason,
        params=params or {},
        note=note[:255],
        visit=visit,
        voucher=voucher,
        reverses=reverses,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=(actor.get_username() if getattr(actor, "pk", None) else ""),
        idempotency_key=key,
        created_at=now or timezone.now(),
        prev_hash=head_hash,
    )
    entry.hash = entry_hash(entry)
    rows_insert([entry])
    state.new_entries.append(entry)
    event_emit(type="points.changed", data=lambda: entry_webhook_data(entry))
    return entry


def entry_webhook_data(entry: LedgerEntry) -> dict:
    """A ledger entry in the points.changed webhook event."""
    return {
        "member_id": entry.member_id,
        "entry_id": entry.pk,
        "kind": entry.kind,
        "delta": entry.amount,
        "balance": entry.balance_after,
        "debt": entry.debt_after,
        "reason": entry.reason,
        "visit_id": entry.visit_id,
        "voucher_id": entry.voucher_id,
        "created_at": iso(entry.created_at),
    }


def lot_open(
    state: WalletState,
    *,
    entry: LedgerEntry,
    amount: int,
    now: datetime,
    lifetime_days: int,
    pending_days: int = 0,
) -> PointLot:
    """Credit ``amount`` points as a new lot; pending first if ``pending_days``."""
    pending_until = now + timedelta(days=pending_days) if pending_days else None
    lot = PointLot(
        member_id=state.member_id,
        entry=entry,
        amount=amount,
        remaining=amount,
        pending_until=pending_until,
        expires_on=timezone.localdate(now) + timedelta(days=lifetime_days),
        created_at=now,
    )
    rows_insert([lot])
    return lot


# The open lots with the points before each in FIFO order (``lots_draw``),
# aliased as the table for ``core.rows.rows_find``.
_DRAW_SQL = (
    "(SELECT *, SUM(remaining) OVER (ORDER BY expires_on, id) - remaining AS before "
    "FROM {t} WHERE member_id = %s AND remaining > 0 AND expires_on > %s{pending}) "
    "AS {t}"
)
_DRAW_SOURCE = _DRAW_SQL.format(
    t=PointLot._meta.db_table, pending=" AND pending_until IS NULL"
)
_DRAW_PENDING_SOURCE = _DRAW_SQL.format(t=PointLot._meta.db_table, pending="")


def lots_draw(
    state: WalletState,
    *,
    amount: int,
    today: date,
    include_pending: bool = False,
    first: list[PointLot] | None = None,
) -> list[tuple[PointLot, int]]:
    """Choose up to ``amount`` points from open lots, soonest expiry first.

    ``first`` are lots to draw from before the FIFO order (a reversal takes
    back the visit's own lots first). Returns (lot, points) pairs and updates
    the lots in memory; ``lots_commit`` writes them. One query whatever the
    number of lots.
    """
    taken: list[tuple[PointLot, int]] = []
    need = amount
    seen = set()
    candidates = list(first or [])
    if need > 0 and not candidates:
        # A payment's draw (the hot case), through a statement written once.
        source = _DRAW_PENDING_SOURCE if include_pending else _DRAW_SOURCE
        candidates = rows.rows_find(
            PointLot,
            "before < %s ORDER BY expires_on, id",
            [state.member_id, connection.ops.adapt_datefield_value(today), need],
            source=source,
        )
    elif need > 0:
        qs = PointLot.objects.filter(
            member_id=state.member_id, remaining__gt=0, expires_on__gt=today
        ).exclude(pk__in=[lot.pk for lot in candidates])
        if not include_pending:
            qs = qs.filter(pending_until__isnull=True)
        # Only the lots the FIFO order reaches: those with fewer than ``need``
        # points before them, so a member with a thousand open lots reads the
        # few a payment takes, not all of them.
        order = [F("expires_on").asc(), F("id").asc()]
        qs = (
            qs.annotate(
                before=Window(Sum("remaining"), order_by=order) - F("remaining")
            )
            .filter(before__lt=need)
            .order_by(*order)
        )
        candidates += list(qs)
    for lot in candidates:
        if need <= 0:
            break
        if lot.pk in seen or lot.remaining <= 0:
            continue
        seen.add(lot.pk)
        take = min(lot.remaining, need)
        lot.remaining -= take
        need -= take
        taken.append((lot, take))
    return taken


def lots_commit(entry: LedgerEntry, moves: list[tuple[PointLot, int]]) -> None:
    """Write lots changed in memory and their allocations (signed) for ``entry``.

    ``moves`` are (lot, signed points): negative drawn, positive returned.
    """
    if not moves:
        return
    # Written out (the ORM's bulk_update compiles a CASE per call): one
    # statement, sent once per lot.
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {PointLot._meta.db_table} SET remaining = %s WHERE id = %s",
            [(lot.remaining, lot.pk) for lot, _ in moves],
        )
    rows_insert(
        [LotAllocation(entry=entry, lot=lot, amount=points) for lot, points in moves]
    )


def split_pending(moves: list[tuple[PointLot, int]]) -> tuple[int, int]:
    """(available, pending) points among drawn lots."""
    avail = sum(p for lot, p in moves if lot.pending_until is None)
    pend = sum(p for lot, p in moves if lot.pending_until is not None)
    return avail, pend


def debt_settle(
    state: WalletState, *, key: str, now: datetime, actor=None, visit=None
) -> LedgerEntry | None:
    """Pay the member's points debt from their points, soonest-expiring lots first.

    Called right after a credit: earnings settle a debt before they can be spent.
    Pending points settle it too: left pending, they would become spendable
    later with the debt still open (and if their visit is reversed, the
    shortfall is recorded as debt again).
    """
    balance = state.available + state.pending
    if state.debt <= 0 or balance <= 0:
        return None
    today = timezone.localdate(now)
    moves = lots_draw(
        state, amount=min(state.debt, balance), today=today, include_pending=True
    )
    from_available, from_pending = split_pending(moves)
    paid = from_available + from_pending
    if paid <= 0:
        return None
    state.d_available -= from_available
    state.d_pending -= from_pending
    state.d_debt -= paid
    entry = entry_append(
        state,
        kind=Kind.DEBT_SETTLEMENT,
        amount=-paid,
        debt_change=-paid,
        key=key,
        reason="debt_settlement",
        params={"points": paid, "debt_left": state.debt},
        visit=visit,
        actor=actor,
        now=now,
    )
    lots_commit(entry, [(lot, -p) for lot, p in moves])
    return entry


def entry_by_key(key: str) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(idempotency_key=key).first()
