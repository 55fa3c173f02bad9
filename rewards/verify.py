"""Verify the points ledger: every member's hash chain, and the books balance.

The chain check streams entries in (member, seq) order, a page at a time
(keyset pagination on the unique (member, seq) index), so memory stays flat
whatever the ledger's size. For each member it reports the first broken entry:
a seq gap, a ``prev_hash`` that is not the previous entry's hash, a ``hash`` that
does not match the entry's content, or balances that are not the running sums
of the amounts. The invariant checks run in SQL:

* a wallet's available / pending equal the remaining points of its lots
  (pending: lots still waiting for their pending period);
* a wallet's chain head (seq, last hash) and balances are its last entry's;
* every lot: amount + Σ allocations == remaining, and what expired is what
  the expiry entries took from it;
* every entry: its amount is what it put into lots (the lot it credited) plus
  what it moved in or out of lots (its allocations).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection

from rewards.dbfuncs import sha256_hex
from rewards.services.ledger import hash_payload

PAGE = 10_000
MAX_REPORTED = 1_000


@dataclass(frozen=True)
class Problem:
    check: str
    member_id: int | None
    message: str
    entry_id: int | None = None
    seq: int | None = None
    lot_id: int | None = None

    def __str__(self) -> str:
        where = [f"member {self.member_id}"] if self.member_id is not None else []
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.entry_id is not None:
            where.append(f"entry id {self.entry_id}")
        if self.lot_id is not None:
            where.append(f"lot id {self.lot_id}")
        return f"[{self.check}] {', '.join(where)}: {self.message}"


@dataclass
class LedgerReport:
    members: int = 0
    entries: int = 0
    problems: list[Problem] = field(default_factory=list)
    problems_total: int = 0

    @property
    def ok(self) -> bool:
        return self.problems_total == 0

    def add(self, problem: Problem) -> None:
        self.problems_total += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(problem)


def ledger_verify(
    *,
    member_id: int | None = None,
    progress: Callable[[str], None] | None = None,
    page: int = PAGE,
) -> LedgerReport:
    """Check every chain (or one member's) and the ledger's invariants."""
    report = LedgerReport()
    _chains_verify(report, member_id=member_id, progress=progress, page=page)
    for check in _INVARIANTS:
        if progress:
            progress(f"checking {check.__name__.removeprefix('_check_')}")
        check(report, member_id)
    return report


# --- Hash chains --------------------------------------------------------------

_COLUMNS = (
    "id, member_id, seq, kind, amount, debt_change, balance_after, debt_after, "
    "idempotency_key, prev_hash, hash"
)


def _pages(member_id: int | None, page: int):
    """Entries in (member, seq) order, one page of rows at a time."""
    after = (0, 0) if member_id is None else (member_id, 0)
    while True:
        with connection.cursor() as cur:
            if member_id is None:
                cur.execute(
                    f"SELECT {_COLUMNS} FROM rewards_ledgerentry "
                    "WHERE (member_id, seq) > (%s, %s) "
                    "ORDER BY member_id, seq LIMIT %s",
                    [*after, page],
                )
            else:
                cur.execute(
                    f"SELECT {_COLUMNS} FROM rewards_ledgerentry "
                    "WHERE member_id = %s AND seq > %s ORDER BY seq LIMIT %s",
                    [member_id, after[1], page],
                )
            rows = cur.fetchall()
        if not rows:
            return
        yield rows
        after = (rows[-1][1], rows[-1][2])


def _chains_verify(report, *, member_id, progress, page) -> None:
    current = None
    expect_seq, prev_hash, balance, debt, broken = 1, "", 0, 0, False
    for rows in _pages(member_id, page):
        for row in rows:
            (eid, mid, seq, kind, amount, debt_change, bal_after, debt_after) = row[:8]
            key, prev, digest = row[8:]
            if mid != current:
                current = mid
                report.members += 1
                expect_seq, prev_hash, balance, debt, broken = 1, "", 0, 0, False
            report.entries += 1
            if broken:
                continue
            why = []
            if seq != expect_seq:
                why.append(f"seq gap: expected {expect_seq}, found {seq}")
            if prev != prev_hash:
                why.append("prev_hash mismatch: not the previous entry's hash")
            payload = hash_payload(
                prev=prev,
                member=mid,
                seq=seq,
                kind=kind,
                amount=amount,
                debt_change=debt_change,
                balance_after=bal_after,
                debt_after=debt_after,
                key=key,
            )
            if sha256_hex(payload) != digest:
                why.append("hash mismatch: the entry's content changed")
            balance += amount
            debt += debt_change
            if bal_after != balance:
                why.append(
                    f"balance_after {bal_after} is not the running sum {balance}"
                )
            if debt_after != debt:
                why.append(f"debt_after {debt_after} is not the running sum {debt}")
            if why:
                broken = True
                report.add(Problem("chain", mid, "; ".join(why), entry_id=eid, seq=seq))
            expect_seq, prev_hash = seq + 1, digest
        if progress:
            progress(f"{report.entries} entries of {report.members} members checked")


# --- Invariants in SQL ------------------------------------------------------


def _rows(sql: str, params: list):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        while True:
            chunk = cur.fetchmany(1_000)
            if not chunk:
                return
            yield from chunk


def _member_filter(column: str, member_id: int | None) -> tuple[str, list]:
    if member_id is None:
        return "", []
    return f" AND {column} = %s", [member_id]


def _check_wallet_lots(report: LedgerReport, member_id: int | None) -> None:
    where, params = _member_filter("w.member_id", member_id)
    sql = f"""
        SELECT w.member_id, w.available, w.pending,
               COALESCE(l.avail, 0), COALESCE(l.pend, 0)
        FROM rewards_wallet w
        LEFT JOIN (SELECT member_id,
                          SUM(CASE WHEN pending_until IS NULL
                                   THEN remaining ELSE 0 END) AS avail,
                          SUM(CASE WHEN pending_until IS NULL
                                   THEN 0 ELSE remaining END) AS pend
                   FROM rewards_pointlot WHERE remaining > 0
                   GROUP BY member_id) l ON l.member_id = w.member_id
        WHERE (w.available <> COALESCE(l.avail, 0)
               OR w.pending <> COALESCE(l.pend, 0)){where}"""
    for mid, avail, pend, lots_avail, lots_pend in _rows(sql, params):
        report.add(
            Problem(
                "wallet_lots",
                mid,
                f"wallet available/pending {avail}/{pend} but its lots hold "
                f"{lots_avail}/{lots_pend}",
            )
        )


def _check_wallet_head(report: LedgerReport, member_id: int | None) -> None:
    where, params = _member_filter("w.member_id", member_id)
    sql = f"""
        SELECT w.member_id, w.seq, w.last_hash, w.available + w.pending, w.debt,
               e.id, COALESCE(e.seq, 0), COALESCE(e.hash, ''),
               COALESCE(e.balance_after, 0), COALESCE(e.debt_after, 0)
        FROM rewards_wallet w
        LEFT JOIN rewards_ledgerentry e ON e.member_id = w.member_id
             AND e.seq = (SELECT MAX(e2.seq) FROM rewards_ledgerentry e2
                          WHERE e2.member_id = w.member_id)
        WHERE NOT (w.seq = COALESCE(e.seq, 0) AND w.last_hash = COALESCE(e.hash, '')
                   AND w.available + w.pending = COALESCE(e.balance_after, 0)
                   AND w.debt = COALESCE(e.debt_after, 0)){where}"""
    for row in _rows(sql, params):
        mid, seq, last_hash, balance, debt, eid, e_seq, e_hash, e_bal, e_debt = row
        why = []
        if (seq, last_hash) != (e_seq, e_hash):
            why.append(f"wallet chain head is seq {seq}, last entry is seq {e_seq}")
            if seq == e_seq:
                why[-1] = "wallet last_hash is not its last entry's hash"
        if (balance, debt) != (e_bal, e_debt):
            why.append(
                f"wallet balance/debt {balance}/{debt} but the last entry "
                f"says {e_bal}/{e_debt}"
            )
        report.add(
            Problem("wallet_head", mid, "; ".join(why), entry_id=eid, seq=e_seq or None)
        )


def _check_lot_allocations(report: LedgerReport, member_id: int | None) -> None:
    where, params = _member_filter("l.member_id", member_id)
    sql = f"""
        SELECT l.id, l.member_id, l.amount, l.remaining, l.expired,
               COALESCE(a.moved, 0), COALESCE(a.expired, 0)
        FROM rewards_pointlot l
        LEFT JOIN (SELECT a.lot_id, SUM(a.amount) AS moved,
                          SUM(CASE WHEN e.kind = 'expire' THEN -a.amount
                                   ELSE 0 END) AS expired
                   FROM rewards_lotallocation a
                   JOIN rewards_ledgerentry e ON e.id = a.entry_id
                   GROUP BY a.lot_id) a ON a.lot_id = l.id
        WHERE (l.amount + COALESCE(a.moved, 0) <> l.remaining
               OR l.expired <> COALESCE(a.expired, 0)){where}"""
    for lot_id, mid, amount, remaining, expired, moved, by_expiry in _rows(sql, params):
        why = []
        if amount + moved != remaining:
            why.append(
                f"amount {amount} + allocations {moved} != remaining {remaining}"
            )
        if expired != by_expiry:
            why.append(f"expired {expired} but expiry entries took {by_expiry}")
        report.add(Problem("lot_allocations", mid, "; ".join(why), lot_id=lot_id))


def _check_entry_moves(report: LedgerReport, member_id: int | None) -> None:
    where, params = _member_filter("e.member_id", member_id)
    sql = f"""
        SELECT e.id, e.member_id, e.seq, e.amount,
               COALESCE(a.moved, 0) + COALESCE(l.credited, 0)
        FROM rewards_ledgerentry e
        LEFT JOIN (SELECT entry_id, SUM(amount) AS moved
                   FROM rewards_lotallocation GROUP BY entry_id) a
               ON a.entry_id = e.id
        LEFT JOIN (SELECT entry_id, SUM(amount) AS credited
                   FROM rewards_pointlot GROUP BY entry_id) l
               ON l.entry_id = e.id
        WHERE e.amount <> COALESCE(a.moved, 0) + COALESCE(l.credited, 0){where}"""
    for eid, mid, seq, amount, moved in _rows(sql, params):
        report.add(
            Problem(
                "entry_lots",
                mid,
                f"amount {amount} but the entry moved {moved} points in lots",
                entry_id=eid,
                seq=seq,
            )
        )


_INVARIANTS = [
    _check_wallet_lots,
    _check_wallet_head,
    _check_lot_allocations,
    _check_entry_moves,
]
