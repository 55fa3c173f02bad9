"""Races the points services must win: real threads, real row locks, PostgreSQL.

No point may appear, vanish or be spent twice whatever the timing: each thread
has its own connection, waits at a barrier so all hit the service together,
and the books must balance afterwards (wallet = lots, lots = allocations,
the hash chain contiguous).
"""

import threading
from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from members.models import Member, Visit
from members.services import VisitLineInput
from rewards.models import LedgerEntry, Reward, Voucher, Wallet
from rewards.services import (
    checkout_commit,
    checkout_quote,
    reward_redeem,
    voucher_issue,
)
from tests.conftest import error_codes, moscow
from tests.factories import MemberFactory, RewardFactory
from tests.members.test_concurrency import errors_of, race
from tests.rewards.conftest import assert_books_balance, balances, give_points

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite has no row locks to race on",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8
Kind = LedgerEntry.Kind


@pytest.fixture(autouse=True)
def shipped_program(program_defaults):
    """Transactional tests empty the tables: put the tiers and settings back."""


def codes_of(outcomes) -> Counter:
    return Counter(code for e in errors_of(outcomes) for code in error_codes(e))


def assert_only_refusals(outcomes):
    errors = errors_of(outcomes)
    assert all(isinstance(e, ValidationError) for e in errors), errors


# --- Redemptions ------------------------------------------------------------


def test_twenty_redemptions_against_points_for_three_issue_three(member):
    # Given 350 points and a reward costing 100
    give_points(member, 350)
    reward = RewardFactory(points_cost=100)

    # When 20 requests (different keys) redeem it at once
    outcomes = race(
        20,
        lambda i: reward_redeem(
            member=member, reward=reward, idempotency_key=f"req-{i}"
        ),
    )

    # Then exactly three vouchers, the other 17 told the points do not cover it
    assert_only_refusals(outcomes)
    assert codes_of(outcomes) == {"points_insufficient": 17}
    assert Voucher.objects.filter(member=member).count() == 3
    assert balances(member) == (50, 0, 0)
    assert LedgerEntry.objects.filter(member=member, kind=Kind.SPEND).count() == 3
    assert_books_balance(member)


def test_one_request_sent_many_times_at_once_issues_one_voucher(member):
    give_points(member, 1000)
    reward = RewardFactory(points_cost=100)

    outcomes = race(
        THREADS,
        lambda _i: reward_redeem(member=member, reward=reward, idempotency_key="req-1"),
    )

    assert errors_of(outcomes) == []
    assert len({voucher.pk for _kind, voucher in outcomes}) == 1
    assert balances(member) == (900, 0, 0)
    assert_books_balance(member)


def test_members_racing_for_the_last_items_get_exactly_the_stock():
    # Different members are not serialised by a wallet lock: the stock is
    reward = RewardFactory(points_cost=100, stock=3)
    members = MemberFactory.create_batch(THREADS)
    for m in members:
        give_points(m, 100)

    outcomes = race(
        THREADS,
        lambda i: reward_redeem(
            member=members[i], reward=reward, idempotency_key="req-1"
        ),
    )

    assert_only_refusals(outcomes)
    assert codes_of(outcomes) == {"out_of_stock": THREADS - 3}
    assert Voucher.objects.count() == 3
    assert Reward.objects.get(pk=reward.pk).stock == 0
    assert sum(balances(m)[0] for m in members) == (THREADS - 3) * 100
    for m in members:
        assert_books_balance(m)


# --- Checkout ---------------------------------------------------------------


def test_the_same_checkout_sent_at_once_records_one_visit_and_one_earn(
    member, location, service
):
    give_points(member, 1000)

    outcomes = race(
        THREADS,
        lambda _i: checkout_commit(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service)],
            points_to_use=300,
            source=Visit.Source.POS,
            external_id="booking-42",
            paid_at=moscow(2025, 6, 9, 19, 0),
        ),
    )

    assert errors_of(outcomes) == []
    results = [value for _kind, value in outcomes]
    assert Counter(r.created for r in results) == {True: 1, False: THREADS - 1}
    visit = Visit.objects.get()
    assert {r.visit.pk for r in results} == {visit.pk}
    entries = LedgerEntry.objects.filter(visit=visit)
    assert Counter(e.kind for e in entries) == {Kind.SPEND: 1, Kind.EARN: 1}
    # 3000 − 5% welcome − 300 in points = 2550 paid: 127 points
    assert balances(member) == (1000 - 300 + 127, 0, 0)
    assert_books_balance(member)


def test_one_booking_id_checked_out_for_many_members_at_once_goes_to_one(
    location, service
):
    # Given one booking id sent for 8 different members at once (a POS bug): the
    # member locks do not serialise them, the unique key does
    members = MemberFactory.create_batch(THREADS)

    outcomes = race(
        THREADS,
        lambda i: checkout_commit(
            member=members[i],
            location=location,
            lines=[VisitLineInput(service=service)],
            source=Visit.Source.POS,
            external_id="booking-7",
        ),
    )

    # Then one checkout records it; every other is refused as another booking's
    # content (the losers' transactions rolled back whole: no savepoint)
    oks = [value for kind, value in outcomes if kind == "ok"]
    assert [r.created for r in oks] == [True]
    assert codes_of(outcomes) == {"external_id_conflict": THREADS - 1}
    visit = Visit.objects.get()
    assert LedgerEntry.objects.filter(kind=Kind.EARN).count() == 1
    assert LedgerEntry.objects.get(kind=Kind.EARN).visit_id == visit.pk
    assert_books_balance(visit.member)


def test_many_checkouts_spending_one_members_points_never_overspend(
    member, record_visit, location, service
):
    # Given a regular with 1000 points; each checkout pays 300 and earns 135
    record_visit(member, paid_at=moscow(2025, 5, 1, 12, 0), amount_paid="0")
    give_points(member, 1000)

    outcomes = race(
        THREADS,
        lambda i: checkout_commit(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service)],
            points_to_use=300,
            external_id=f"booking-{i}",
        ),
    )

    # Then five fit (1000 → 835 → 670 → 505 → 340 → 175), the rest are refused
    assert_only_refusals(outcomes)
    assert codes_of(outcomes) == {"points_insufficient": THREADS - 5}
    assert Visit.objects.filter(member=member).count() == 1 + 5
    assert balances(member) == (175, 0, 0)
    assert_books_balance(member)


def test_one_voucher_on_two_tills_at_once_is_used_once(member, location, service):
    voucher = voucher_issue(
        member=member,
        reward=RewardFactory(),
        key="gift",
        source=Voucher.Source.MANUAL,
    )

    outcomes = race(
        2,
        lambda i: checkout_commit(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service)],
            voucher_codes=[voucher.code],
            external_id=f"till-{i}",
        ),
    )

    assert_only_refusals(outcomes)
    assert codes_of(outcomes) == {"voucher_not_active": 1}
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED
    assert Visit.objects.count() == 1
    assert voucher.visit == Visit.objects.get()


# --- A quote never waits behind a commit ------------------------------------


def test_a_quote_does_not_wait_for_a_checkout_holding_the_members_locks(
    member, location, service
):
    # Given a checkout of this member in progress: its transaction holds the
    # member's row and wallet locks (as checkout_commit does until it commits)
    give_points(member, 1000)
    locked, release = threading.Event(), threading.Event()

    def hold_locks():
        try:
            with transaction.atomic():
                Member.objects.select_for_update().get(pk=member.pk)
                Wallet.objects.select_for_update().get(pk=member.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_locks)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        # When the front desk asks for a quote meanwhile, with any lock wait an
        # error rather than a delay
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '100ms'")
            quote = checkout_quote(
                member=member,
                location=location,
                lines=[VisitLineInput(service=service)],
                points_to_use=100,
            )
    finally:
        release.set()
        holder.join(timeout=30)

    # Then it is priced at once, from the committed state
    assert quote.points_available == 1000
    assert quote.points_used == 100
