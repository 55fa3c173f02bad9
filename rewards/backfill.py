"""The points history of members who have visits but no wallet, written in bulk.

``manage.py points_backfill`` gives the demo chain (or an imported visit
history) balances, lots, tiers and a ledger. Each member's paid visits are
replayed in ``paid_at`` order with the live rules: ``earn_calculate`` per visit
at the multiplier of the tier held *before* it (upgrades apply from the next
visit; a tier lapses once its window stops qualifying — the review's grace
period is not replayed), one ``earn_visit`` entry and one lot per earn expiring
``lot_lifetime_days`` after the visit's date; every ``SPEND_EVERY``-th member
pays half their spendable points (capped by the max share of the bill) at their
last visit, soonest-expiring lots first. Lots past their expiry stay open: that
is the nightly ``expire_points`` job's work. Hashes come from
``rewards.services.ledger.hash_payload``, so ``verify_ledger`` checks these
chains like any other. COPY on PostgreSQL, ``executemany`` on SQLite, one
transaction per chunk with the members locked; members with a wallet are
skipped, so a second run adds nothing and an interrupted one resumes.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from multiprocessing import get_context

from django.db import connection, connections, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from members import demo_worker
from members.bulk import ids_reserve, rows_insert
from members.models import Member, Service, Visit, VisitLine
from members.money import money
from rewards import selectors
from rewards.dbfuncs import sha256_hex
from rewards.models import (
    LedgerEntry,
    LotAllocation,
    PointLot,
    ProgramSettings,
    Tier,
    TierChange,
    Wallet,
)
from rewards.services.ledger import hash_payload
from rewards.services.points import EarnLine, earn_calculate

SPEND_EVERY = 4  # by default members whose id is a multiple of 4 spend once


@dataclass
class BackfillStats:
    members: int = 0  # wallets created
    skipped: int = 0  # members who had a wallet by the time their chunk ran
    entries: int = 0
    lots: int = 0
    spends: int = 0
    tier_changes: int = 0

    def add(self, other: BackfillStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Program:
    """What the replay needs, loaded once and handed to the worker processes."""

    settings: ProgramSettings
    tiers: list[Tier]
    rates: dict[int, Decimal]
    services: dict[int, Service]
    now: datetime
    spend_every: int

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.settings.tier_window_days)


def members_to_backfill() -> list[int]:
    """Ids of members with at least one paid visit and no wallet, in order."""
    return list(
        Member.objects.filter(
            ~Exists(Wallet.objects.filter(member_id=OuterRef("pk"))),
            Exists(
                Visit.objects.filter(member_id=OuterRef("pk"), status=Visit.Status.PAID)
            ),
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def points_backfill(
    *,
    chunk_size: int = 2_000,
    jobs: int = 1,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    member_ids: list[int] | None = None,
    spend_every: int = SPEND_EVERY,
) -> BackfillStats:
    """Write wallets, entries, lots and tier history for members without a wallet.

    ``jobs`` > 1 writes chunks in that many worker processes (PostgreSQL only;
    SQLite has one writer anyway). ``progress`` is called with each chunk's size.
    ``member_ids`` limits the run to those members (default: all that need it);
    members whose id is a multiple of ``spend_every`` spend once (0: nobody).
    """
    program = _Program(
        settings=selectors.program_settings(),
        tiers=selectors.tiers(),
        rates=selectors.category_rates(),
        services={s.pk: s for s in Service.objects.all()},
        now=now or timezone.now(),
        spend_every=spend_every,
    )
    ids = members_to_backfill() if member_ids is None else sorted(member_ids)
    chunks = [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]
    stats = BackfillStats()

    def done(size: int, chunk_stats: BackfillStats) -> None:
        stats.add(chunk_stats)
        if progress:
            progress(size)

    # Worker processes are spawned, not forked (a fork would share this
    # process's database socket), and only on PostgreSQL outside a transaction:
    # other connections could not see uncommitted rows.
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        jobs = 1
    if jobs == 1:
        for chunk in chunks:
            done(len(chunk), chunk_backfill(program, chunk))
    else:
        _chunks_in_workers(program, chunks, jobs, done)
    if stats.members and connection.vendor == "postgresql":
        # The nightly jobs run next: let them plan with statistics of the rows
        # just written, not with autovacuum's guess of some minutes from now.
        with connection.cursor() as cursor:
            tables = [m._meta.db_table for m in (Wallet, LedgerEntry, PointLot)]
            tables += [LotAllocation._meta.db_table, TierChange._meta.db_table]
            cursor.execute("ANALYZE " + ", ".join(f'"{t}"' for t in tables))
    return stats


def _chunks_in_workers(program, chunks, jobs: int, done) -> None:
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=get_context("spawn"),
        initializer=demo_worker.init,
        initargs=(connection.settings_dict["NAME"],),
    )
    with pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append((len(chunk), pool.submit(_chunk_in_worker, program, chunk)))
            while len(pending) > jobs:
                size, future = pending.popleft()
                done(size, future.result())
        while pending:
            size, future = pending.popleft()
            done(size, future.result())


def _chunk_in_worker(program: _Program, member_ids: list[int]) -> BackfillStats:
    try:
        return chunk_backfill(program, member_ids)
    finally:
        connections.close_all()


# --- One chunk --------------------------------------------------------------


@transaction.atomic
def chunk_backfill(program: _Program, member_ids: list[int]) -> BackfillStats:
    """Backfill one chunk of members in one transaction."""
    stats = BackfillStats()
    if connection.vendor == "postgresql":
        # A chunk lost in a crash is redone by the next run (its members still
        # have no wallet): don't wait for each chunk's WAL flush.
        # JIT compiling is pure overhead for these small indexed reads, and
        # right after a bulk load the planner's row estimates invite it.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute("SET LOCAL jit TO OFF")
    # Lock order as everywhere: member rows, then wallets. A visit recorded
    # meanwhile waits for this chunk, or this chunk sees its wallet and skips.
    locked = list(
        Member.objects.select_for_update(no_key=True)
        .filter(pk__in=member_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    have_wallet = set(
        Wallet.objects.filter(member_id__in=locked).values_list("member_id", flat=True)
    )
    todo = [m for m in locked if m not in have_wallet]
    stats.skipped = len(member_ids) - len(todo)
    if not todo:
        return stats
    visits = _paid_visits(todo)
    out = _Rows()
    for member_id in todo:
        if visits.get(member_id):
            _MemberReplay(program, member_id, visits[member_id], out).run()
    out.write()
    stats.members = len(out.wallets)
    stats.skipped += len(todo) - len(out.wallets)
    stats.entries, stats.lots = len(out.entries), len(out.lots)
    stats.spends = sum(1 for e in out.entries if e[3] == LedgerEntry.Kind.SPEND)
    stats.tier_changes = len(out.tier_changes)
    return stats


@dataclass
class _Visit:
    id: int
    paid_at: datetime
    amount_paid: Decimal
    lines: list[tuple[int, Decimal, int]] = field(default_factory=list)


def _paid_visits(member_ids: list[int]) -> dict[int, list[_Visit]]:
    """Paid visits with their lines, per member, in ``paid_at`` order."""
    lo, hi = member_ids[0], member_ids[-1]
    wanted = set(member_ids)
    by_id: dict[int, _Visit] = {}
    per_member: dict[int, list[_Visit]] = {}
    rows = (
        Visit.objects.filter(
            member_id__gte=lo, member_id__lte=hi, status=Visit.Status.PAID
        )
        .order_by("member_id", "paid_at", "id")
        .values_list("id", "member_id", "paid_at", "amount_paid")
    )
    for visit_id, member_id, paid_at, amount_paid in rows:
        if member_id in wanted:
            visit = by_id[visit_id] = _Visit(visit_id, paid_at, amount_paid)
            per_member.setdefault(member_id, []).append(visit)
    # By visit ids, so the foreign key's index finds them whatever the planner's
    # statistics say right after a bulk load.
    for visit_id, service_id, price, quantity in _visit_lines(sorted(by_id)):
        by_id[visit_id].lines.append((service_id, price, quantity))
    return per_member


def _visit_lines(visit_ids: list[int]):
    if connection.vendor == "postgresql":
        # One array parameter: ten thousand placeholders cost more to build and
        # plan than the query takes to run.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT visit_id, service_id, price, quantity "  # noqa: S608
                f'FROM "{VisitLine._meta.db_table}" WHERE visit_id = ANY(%s) '
                "ORDER BY id",
                [visit_ids],
            )
            yield from cursor.fetchall()
        return
    for start in range(0, len(visit_ids), 10_000):
        yield from (
            VisitLine.objects.filter(visit_id__in=visit_ids[start : start + 10_000])
            .order_by("id")
            .values_list("visit_id", "service_id", "price", "quantity")
        )


# --- Replaying one member ---------------------------------------------------


@dataclass(slots=True)
class _Lot:
    row: list  # LOT_COLUMNS; row[4] is what remains
    expires_on: date
    spendable_at: datetime


class _MemberReplay:
    def __init__(self, program: _Program, member_id: int, visits, out: _Rows):
        self.p, self.member_id, self.visits, self.out = program, member_id, visits, out
        self.seq, self.prev, self.balance, self.pending = 0, "", 0, 0
        self.lots: list[_Lot] = []
        self.window: deque = deque()
        self.window_visits, self.window_spend = 0, Decimal("0")
        self.tier: Tier | None = None
        self.tier_since: datetime | None = None

    def run(self) -> None:
        p, first = self.p, self.visits[0]
        if p.tiers:
            self._tier_change(p.tiers[0], TierChange.Reason.JOINED, first.paid_at)
        every = p.spend_every
        spend_at = self.visits[-1] if every and self.member_id % every == 0 else None
        for visit in self.visits:
            self._tier_review(visit.paid_at)
            if visit is spend_at:
                self._spend(visit)
            self._earn(visit)
            self.window.append((visit.paid_at, visit.amount_paid))
            self.window_visits += 1
            self.window_spend += visit.amount_paid
            target = self._qualified()
            if target is not None and target.rank > self.tier.rank:
                self._tier_change(
                    target, TierChange.Reason.UPGRADE, visit.paid_at, visit.id
                )
        self._tier_review(p.now)
        self.out.wallets.append([
            self.member_id, self.balance - self.pending, self.pending, 0,
            self.seq, self.prev, self.tier.pk if self.tier else None,
            self.tier_since, None, None, p.now,
        ])  # fmt: skip

    # Tiers: the rolling window of paid visits ending at ``at``.
    def _qualified(self) -> Tier | None:
        stats = selectors.TierWindowStats(
            visits=self.window_visits, spend=money(self.window_spend)
        )
        return selectors.tier_for_stats(self.p.tiers, stats)

    def _tier_review(self, at: datetime) -> None:
        while self.window and self.window[0][0] <= at - self.p.window:
            _paid_at, amount = self.window.popleft()
            self.window_visits -= 1
            self.window_spend -= amount
        target = self._qualified()
        if target is not None and target.rank < self.tier.rank:
            self._tier_change(target, TierChange.Reason.DOWNGRADE, at)

    def _tier_change(self, tier: Tier, reason: str, at: datetime, visit_id=None):
        self.out.tier_changes.append([
            self.member_id, self.tier.pk if self.tier else None, tier.pk,
            reason, "", visit_id, None, at,
        ])  # fmt: skip
        self.tier, self.tier_since = tier, at

    # Points.
    def _entry(self, *, kind, amount, reason, params, visit_id, key, at) -> list:
        self.seq += 1
        self.balance += amount
        digest = sha256_hex(hash_payload(
            prev=self.prev, member=self.member_id, seq=self.seq, kind=kind,
            amount=amount, debt_change=0, balance_after=self.balance, debt_after=0,
            key=key,
        ))  # fmt: skip
        row = [
            None, self.member_id, self.seq, kind, amount, 0, self.balance, 0,
            reason, json.dumps(params), "", visit_id, None, None, None, "", key,
            at, self.prev, digest,
        ]  # fmt: skip
        self.prev = digest
        self.out.entries.append(row)
        return row

    def _earn(self, visit: _Visit) -> None:
        p = self.p
        settings = p.settings
        total = sum((price * qty for _s, price, qty in visit.lines), Decimal("0"))
        if not total:
            return
        # As ``rewards.flow`` does for a visit recorded without a quote: the
        # money paid is spread over the lines pro rata.
        lines = [
            EarnLine(p.services[s], money(visit.amount_paid * price * qty / total))
            for s, price, qty in visit.lines
        ]
        calc = earn_calculate(
            lines=lines, tier=self.tier, settings=settings, rates=p.rates
        )
        if calc.points <= 0:
            return
        paid_on = timezone.localdate(visit.paid_at)
        row = self._entry(
            kind=LedgerEntry.Kind.EARN.value,
            amount=calc.points,
            reason="earn_visit",
            params={
                "visit": visit.id,
                "date": paid_on.isoformat(),
                "paid": str(calc.paid),
                "rate": str(calc.rate),
                "tier": calc.tier_name,
                "mode": calc.mode,
                "pending_days": settings.pending_days,
            },
            visit_id=visit.id,
            key=f"earn:visit:{visit.id}",
            at=visit.paid_at,
        )
        spendable_at = visit.paid_at + timedelta(days=settings.pending_days)
        pending_until = spendable_at if spendable_at > p.now else None
        if pending_until is not None:
            self.pending += calc.points
        expires_on = paid_on + timedelta(days=settings.lot_lifetime_days)
        lot_row = [
            None, self.member_id, row, calc.points, calc.points, 0,
            pending_until, expires_on, visit.paid_at,
        ]  # fmt: skip
        self.out.lots.append(lot_row)
        self.lots.append(_Lot(lot_row, expires_on, spendable_at))

    def _spend(self, visit: _Visit) -> None:
        """Pay up to the max share of the bill with half the spendable points."""
        settings = self.p.settings
        today = timezone.localdate(visit.paid_at)
        open_lots = [
            lot
            for lot in self.lots
            if lot.row[4] > 0
            and lot.expires_on > today
            and lot.spendable_at <= visit.paid_at
        ]
        open_lots.sort(key=lambda lot: lot.expires_on)  # stable: FIFO by creation
        spendable = sum(lot.row[4] for lot in open_lots)
        per_point = settings.money_per_point
        cap = int(visit.amount_paid * settings.max_points_share / 100 / per_point)
        points = min(spendable // 2, cap)
        if points <= 0:
            return
        row = self._entry(
            kind=LedgerEntry.Kind.SPEND.value,
            amount=-points,
            reason="spend_visit",
            params={
                "visit": visit.id,
                "date": today.isoformat(),
                "money": str(money(points * per_point)),
            },
            visit_id=visit.id,
            key=f"spend:visit:{visit.id}",
            at=visit.paid_at,
        )
        need = points
        for lot in open_lots:
            take = min(lot.row[4], need)
            lot.row[4] -= take
            self.out.allocations.append([row, lot.row, -take])
            need -= take
            if need == 0:
                break


# --- Writing ----------------------------------------------------------------


def _columns(model, names: str) -> list[str]:
    """Column names of ``model``'s fields, in the order the rows list them."""
    return [model._meta.get_field(name).column for name in names.split()]


ENTRY_COLUMNS = _columns(
    LedgerEntry,
    "id member seq kind amount debt_change balance_after debt_after reason params "
    "note visit voucher reverses actor actor_name idempotency_key created_at "
    "prev_hash hash",
)
LOT_COLUMNS = _columns(
    PointLot,
    "id member entry amount remaining expired pending_until expires_on created_at",
)
ALLOCATION_COLUMNS = _columns(LotAllocation, "entry lot amount")
WALLET_COLUMNS = _columns(
    Wallet,
    "member available pending debt seq last_hash tier tier_since "
    "tier_at_risk_since tier_override_until updated_at",
)
TIER_CHANGE_COLUMNS = _columns(
    TierChange, "member from_tier to_tier reason note visit actor changed_at"
)


class _Rows:
    """A chunk's rows, as lists; entries and lots get their ids at the end."""

    def __init__(self):
        self.entries: list[list] = []
        self.lots: list[list] = []
        self.allocations: list[list] = []  # [entry row, lot row, points]
        self.wallets: list[list] = []
        self.tier_changes: list[list] = []

    def write(self) -> None:
        entry_ids = ids_reserve(LedgerEntry, len(self.entries))
        for row, pk in zip(self.entries, entry_ids, strict=True):
            row[0] = pk
        for row, pk in zip(
            self.lots, ids_reserve(PointLot, len(self.lots)), strict=True
        ):
            row[0] = pk
            row[2] = row[2][0]  # the entry row -> its id
        allocations = [(e[0], lot[0], points) for e, lot, points in self.allocations]
        rows_insert(LedgerEntry, ENTRY_COLUMNS, self.entries)
        rows_insert(PointLot, LOT_COLUMNS, self.lots)
        rows_insert(LotAllocation, ALLOCATION_COLUMNS, allocations)
        rows_insert(Wallet, WALLET_COLUMNS, self.wallets)
        rows_insert(TierChange, TIER_CHANGE_COLUMNS, self.tier_changes)
