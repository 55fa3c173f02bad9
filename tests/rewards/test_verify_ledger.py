"""``verify_ledger``: a clean ledger passes, an edited row is caught and named,
and the ledger refuses edits in the first place (ORM and raw SQL).

Tampering needs the append-only trigger out of the way: the tests disable it
(PostgreSQL) or drop it (SQLite) inside the test's transaction, so it is back
when the transaction rolls back.
"""

from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from rewards.dbfuncs import sha256_hex
from rewards.models import AppendOnlyError, LedgerEntry, PointLot, Wallet
from rewards.services import reward_redeem
from rewards.services.ledger import hash_payload
from rewards.verify import ledger_verify
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import adjust, give_points

pytestmark = pytest.mark.django_db

TRIGGER = "rewards_ledgerentry_append_only"


@pytest.fixture(autouse=True)
def frozen_clock(program_defaults):
    with time_machine.travel(moscow(2025, 6, 10, 15, 0), tick=False):
        yield


@pytest.fixture
def books(member, record_visit):
    """Two members with visits, a bonus, a spend and an adjustment each."""
    other = MemberFactory()
    reward = RewardFactory(points_cost=100)
    for m in (member, other):
        record_visit(m)
        give_points(m, 200, lifetime_days=30)
        reward_redeem(member=m, reward=reward, idempotency_key=f"r{m.pk}")
        adjust(m, -20)
    return member, other


def verify(*args) -> tuple[str, str | None]:
    """Run the command: (stdout, the error it ended with or None)."""
    out = StringIO()
    try:
        call_command("verify_ledger", *args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


def trigger_off() -> None:
    """Let this transaction change ledger rows (rolled back with the test)."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks of the rows just written are "pending
            # trigger events" that ALTER TABLE refuses to run beside: run them.
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute(f"ALTER TABLE rewards_ledgerentry DISABLE TRIGGER {TRIGGER}")
        else:
            cur.execute(f"DROP TRIGGER {TRIGGER}")


def raw(sql: str, params=()) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


# --- A clean ledger -----------------------------------------------------------


def test_a_clean_ledger_passes(books):
    out, error = verify()

    assert error is None
    assert "8 entries of 2 member(s) checked, 0 problem(s)" in out


def test_progress_goes_to_stderr(books):
    err = StringIO()
    call_command("verify_ledger", stdout=StringIO(), stderr=err)

    assert "entries of 2 members checked" in err.getvalue()


# --- Tampering is caught --------------------------------------------------------


def test_an_edited_amount_is_reported_with_its_entry(books):
    member, other = books
    entry = LedgerEntry.objects.get(member=member, seq=2)
    trigger_off()

    raw("UPDATE rewards_ledgerentry SET amount = 2000 WHERE id = %s", [entry.pk])
    out, error = verify()

    assert error == "8 entries of 2 member(s) checked, 2 problem(s)"
    assert f"[chain] member {member.pk}, seq 2, entry id {entry.pk}: " in out
    assert "hash mismatch" in out
    assert "balance_after 350 is not the running sum 2150" in out
    # The amount also no longer matches the lot it credited
    assert f"[entry_lots] member {member.pk}, seq 2, entry id {entry.pk}" in out
    assert f"member {other.pk}" not in out


def test_an_edit_with_a_recomputed_hash_breaks_the_link_to_the_next_entry(books):
    member, _ = books
    entry = LedgerEntry.objects.get(member=member, seq=3)
    trigger_off()
    forged = hash_payload(
        prev=entry.prev_hash,
        member=member.pk,
        seq=3,
        kind=entry.kind,
        amount=-1,
        debt_change=0,
        balance_after=entry.balance_after + 99,
        debt_after=0,
        key=entry.idempotency_key,
    )

    raw(
        "UPDATE rewards_ledgerentry SET amount = -1, balance_after = %s, hash = %s "
        "WHERE id = %s",
        [entry.balance_after + 99, sha256_hex(forged), entry.pk],
    )
    report = ledger_verify()

    (chain,) = [p for p in report.problems if p.check == "chain"]
    assert (chain.member_id, chain.seq) == (member.pk, 4)
    assert "prev_hash mismatch" in chain.message


def test_a_gap_in_the_sequence_is_reported(member):
    give_points(member, 10)
    head = LedgerEntry.objects.get(member=member)
    gap = LedgerEntry(
        member=member,
        seq=3,
        kind=LedgerEntry.Kind.BONUS,
        amount=0,
        balance_after=10,
        reason="bonus",
        idempotency_key="forged",
        prev_hash=head.hash,
    )
    gap.hash = sha256_hex(
        hash_payload(
            prev=head.hash,
            member=member.pk,
            seq=3,
            kind="bonus",
            amount=0,
            debt_change=0,
            balance_after=10,
            debt_after=0,
            key="forged",
        )
    )
    gap.save()

    out, error = verify("--member", str(member.pk))

    assert error is not None
    assert f"[chain] member {member.pk}, seq 3, entry id {gap.pk}: seq gap" in out
    assert "[wallet_head]" in out  # the wallet's head is still seq 1


def test_cached_balances_and_lots_that_drifted_are_reported(books):
    member, other = books
    Wallet.objects.filter(pk=member.pk).update(available=1)
    lot = PointLot.objects.filter(member=other).first()
    PointLot.objects.filter(pk=lot.pk).update(remaining=lot.remaining - 1)

    out, error = verify()

    assert error is not None
    assert f"[wallet_lots] member {member.pk}: wallet available/pending 1/0" in out
    assert f"[wallet_head] member {member.pk}" in out
    assert f"[wallet_lots] member {other.pk}" in out
    assert f"[lot_allocations] member {other.pk}, lot id {lot.pk}" in out


def test_one_member_can_be_checked_alone(books):
    member, other = books
    Wallet.objects.filter(pk=other.pk).update(available=1)

    out, error = verify("--member", str(member.pk))

    assert error is None
    assert "4 entries of 1 member(s) checked, 0 problem(s)" in out
    assert verify("--member", str(other.pk))[1] is not None


# --- Edits are refused in the first place ---------------------------------------


def test_the_orm_refuses_to_update_or_delete_an_entry(member):
    entry = give_points(member, 10)

    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    entry.amount = 1
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()


def test_the_database_refuses_a_raw_update(member):
    entry = give_points(member, 10)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("UPDATE rewards_ledgerentry SET amount = 1 WHERE id = %s", [entry.pk])

    assert LedgerEntry.objects.get(pk=entry.pk).amount == 10


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite keeps DELETE allowed: Django empties its tables with DELETE",
)
def test_the_database_refuses_a_raw_delete(member):
    entry = give_points(member, 10)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM rewards_ledgerentry WHERE id = %s", [entry.pk])

    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
