"""Points: earning on a visit, the pending period, FIFO spending, debts, manual
adjustments, bonuses, the hash chain and reversing a visit's points.

The shipped program: points mode, 5 points per 100 paid, Base ×1, Silver ×1.25;
the ``service`` fixture costs 3000.00, so a plain visit earns 150 points.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from members import services as members_services
from members.services import VisitLineInput
from rewards.models import (
    AppendOnlyError,
    CategoryEarnRate,
    LedgerEntry,
    PointLot,
    Voucher,
)
from rewards.services import (
    points_adjust,
    points_bonus,
    reward_redeem,
    voucher_cancel,
)
from tests.conftest import error_codes, moscow
from tests.factories import (
    MemberFactory,
    RewardFactory,
    ServiceCategoryFactory,
    ServiceFactory,
)
from tests.rewards.conftest import (
    adjust,
    allocations,
    assert_books_balance,
    assert_chain_intact,
    balances,
    entries,
    give_points,
    lots,
    program_set,
    state_of,
    tier_set,
)

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
TODAY = date(2025, 6, 10)
Kind = LedgerEntry.Kind


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def earned(visit) -> int:
    return sum(
        LedgerEntry.objects.filter(visit=visit, kind=Kind.EARN).values_list(
            "amount", flat=True
        )
    )


# --- Earning on a visit -----------------------------------------------------


def test_a_paid_visit_earns_points_as_a_lot_of_their_own(member, record_visit):
    # Given the shipped program: 5 points per 100 paid
    # When a 3000.00 visit is recorded
    visit = record_visit(member)

    # Then 150 points are available, as one lot expiring in 365 days
    assert balances(member) == (150, 0, 0)
    (entry,) = entries(member)
    assert (entry.kind, entry.amount, entry.balance_after) == (Kind.EARN, 150, 150)
    assert entry.visit == visit
    assert entry.idempotency_key == f"earn:visit:{visit.pk}"
    (lot,) = lots(member)
    assert (lot.amount, lot.remaining, lot.pending_until) == (150, 150, None)
    assert lot.expires_on == TODAY + timedelta(days=365)
    assert lot.entry == entry
    assert_books_balance(member)


def test_cashback_mode_earns_a_percent_of_the_money_paid(member, record_visit):
    # Given cashback of 7% (1 point = 1 rouble)
    program_set(earn_mode="cashback", earn_rate=Decimal("7"))

    record_visit(member)

    assert balances(member)[0] == 210  # 3000 × 7%
    assert entries(member)[0].params["mode"] == "cashback"


def test_earning_counts_only_the_money_paid(member, record_visit):
    record_visit(member, amount_paid="1000")

    assert balances(member)[0] == 50


def test_a_category_rate_replaces_the_base_rate(member, record_visit, service, addon):
    # Given premium stones earning 10 per 100; massage keeps the base 5
    stones = ServiceFactory(
        category=ServiceCategoryFactory(code="stones"), base_price=Decimal("2000.00")
    )
    CategoryEarnRate.objects.create(category=stones.category, rate=Decimal("10"))

    record_visit(
        member,
        lines=[VisitLineInput(service=service), VisitLineInput(service=stones)],
    )

    assert balances(member)[0] == 150 + 200


def test_a_category_rate_of_zero_earns_nothing(member, record_visit, category):
    CategoryEarnRate.objects.create(category=category, rate=Decimal("0"))

    record_visit(member)

    assert balances(member) == (0, 0, 0)
    assert entries(member) == []


@pytest.mark.parametrize(
    "excluded_earn, points", [(False, 150), (True, 150 + 250)], ids=["off", "on"]
)
def test_services_excluded_from_discounts_earn_only_if_the_settings_say_so(
    member, record_visit, service, excluded_earn, points
):
    # Given a holiday special excluded from discounts, 5000.00
    special = ServiceFactory(excluded_from_discounts=True, base_price=Decimal("5000"))
    program_set(excluded_services_earn=excluded_earn)

    record_visit(
        member,
        lines=[VisitLineInput(service=service), VisitLineInput(service=special)],
    )

    assert balances(member)[0] == points


def test_the_tier_multiplier_applies_on_top_and_rounds_down(member, record_visit):
    # Given a Silver member (×1.25)
    tier_set(member, "silver")

    record_visit(member)

    # 3000 × 5% × 1.25 = 187.5
    assert balances(member)[0] == 187
    assert entries(member)[-1].params["tier"] == "Silver"


def test_points_round_down_once_on_the_total_not_per_line(
    member, record_visit, service, addon
):
    # Each line alone earns 50.5 points: per-line rounding would give 100
    record_visit(
        member,
        lines=[
            VisitLineInput(service=service, price="1010"),
            VisitLineInput(service=addon, price="1010"),
        ],
    )

    assert balances(member)[0] == 101


def test_a_free_visit_earns_nothing_and_writes_no_entry(member, record_visit):
    record_visit(member, amount_paid="0")

    assert entries(member) == []


# --- The pending period -----------------------------------------------------


def test_pending_points_wait_and_cannot_be_spent(member, record_visit, manager):
    # Given points held 14 days before they can be spent
    program_set(pending_days=14)

    # When a visit earns
    record_visit(member)

    # Then they are pending, in a lot that says until when
    assert balances(member) == (0, 150, 0)
    (lot,) = lots(member)
    assert lot.pending_until == NOW + timedelta(days=14)
    assert entries(member)[0].balance_after == 150
    # And nothing can spend them
    with pytest.raises(ValidationError) as caught:
        adjust(member, -10, actor=manager)
    assert error_codes(caught.value) == {"points_insufficient"}
    with pytest.raises(ValidationError) as caught:
        reward_redeem(member=member, reward=RewardFactory(), idempotency_key="k")
    assert error_codes(caught.value) == {"points_insufficient"}
    assert balances(member) == (0, 150, 0)


# --- Spending: FIFO by expiry, never below zero -----------------------------


@pytest.fixture
def three_lots(member):
    """100 points expiring in 300 days, 50 in 30 days, 80 in 90 days."""
    give_points(member, 100, lifetime_days=300)
    give_points(member, 50, lifetime_days=30)
    give_points(member, 80, lifetime_days=90)
    return {lot.amount: lot for lot in lots(member)}


def test_spending_takes_the_soonest_expiring_lots_first(member, three_lots, manager):
    # When 170 points are taken
    entry = adjust(member, -170, actor=manager)

    # Then the 30-day lot goes first, then the 90-day one, then 40 of the rest
    lot = three_lots
    assert allocations(entry) == {lot[50].pk: -50, lot[80].pk: -80, lot[100].pk: -40}
    assert sum(allocations(entry).values()) == entry.amount == -170
    assert {x.amount: x.remaining for x in lots(member)} == {100: 60, 50: 0, 80: 0}
    assert balances(member) == (60, 0, 0)
    assert_books_balance(member)


def test_a_reward_draws_fifo_and_its_allocations_add_up(member, three_lots):
    reward = RewardFactory(points_cost=120)

    voucher = reward_redeem(member=member, reward=reward, idempotency_key="r1")

    spend = LedgerEntry.objects.get(voucher=voucher, kind=Kind.SPEND)
    lot = three_lots
    assert allocations(spend) == {lot[50].pk: -50, lot[80].pk: -70}
    assert spend.amount == -120
    assert balances(member) == (110, 0, 0)
    assert_books_balance(member)


def test_lots_past_their_expiry_date_are_not_spent(member, manager):
    # Given 50 points expiring in 30 days and 100 in a year
    give_points(member, 50, lifetime_days=30)
    give_points(member, 100)

    # When, 30 days later (the expiry job has not run yet), 100 are taken
    with time_machine.travel(NOW + timedelta(days=30), tick=False):
        entry = adjust(member, -100, actor=manager)

    # Then they come from the lot still valid
    assert sorted(allocations(entry).values()) == [-100]


def test_an_adjustment_cannot_take_points_of_a_lot_past_its_date(member, manager):
    # Given 50 points past their date that the nightly expiry has not taken yet
    give_points(member, 50, lifetime_days=30)
    give_points(member, 100)

    with time_machine.travel(NOW + timedelta(days=30), tick=False):
        before = state_of(member)
        assert balances(member) == (150, 0, 0)  # the cache still counts them

        # When a manager takes all 150
        with pytest.raises(ValidationError) as caught:
            adjust(member, -150, actor=manager)

    # Then it is refused (the lots hold only 100 spendable), nothing written
    assert error_codes(caught.value) == {"points_insufficient"}
    assert "only 100 points" in str(caught.value)
    assert state_of(member) == before


def test_spending_more_than_available_is_refused_and_writes_nothing(
    member, three_lots, manager
):
    before = state_of(member)

    with pytest.raises(ValidationError) as caught:
        adjust(member, -231, actor=manager)

    assert error_codes(caught.value) == {"points_insufficient"}
    assert state_of(member) == before


# --- Manual adjustment ------------------------------------------------------


def test_a_positive_adjustment_is_a_new_lot_with_its_reason_and_actor(member, manager):
    entry = points_adjust(
        member=member, points=300, reason="  Apology for a late start ", actor=manager
    )

    assert (entry.kind, entry.amount, entry.reason) == (Kind.ADJUST, 300, "adjust")
    assert entry.note == "Apology for a late start"
    assert (entry.actor, entry.actor_name) == (manager, "olga")
    (lot,) = lots(member)
    assert (lot.entry, lot.amount, lot.expires_on) == (
        entry,
        300,
        TODAY + timedelta(days=365),
    )
    assert balances(member) == (300, 0, 0)


def test_a_negative_adjustment_draws_fifo(member, three_lots, manager):
    entry = adjust(member, -60, actor=manager)

    assert entry.amount == -60
    assert allocations(entry) == {three_lots[50].pk: -50, three_lots[80].pk: -10}
    assert PointLot.objects.count() == 3  # no new lot for a debit


@pytest.mark.parametrize(
    "points, reason, code",
    [
        (100, "", "required"),
        (100, "   ", "required"),
        (0, "Typo", "invalid_points"),
        (10_000_001, "Typo", "invalid_points"),
        (-231, "Typo", "points_insufficient"),
    ],
    ids=["no-reason", "blank-reason", "zero", "too-many", "overdraw"],
)
def test_a_bad_adjustment_is_refused_and_writes_nothing(
    member, three_lots, manager, points, reason, code
):
    before = state_of(member)

    with pytest.raises(ValidationError) as caught:
        points_adjust(member=member, points=points, reason=reason, actor=manager)

    assert error_codes(caught.value) == {code}
    assert state_of(member) == before


def test_an_adjustment_for_a_member_without_a_wallet_writes_nothing_on_error(
    member, manager
):
    before = state_of(member)

    with pytest.raises(ValidationError):
        adjust(member, -1, actor=manager)

    assert state_of(member) == before


# --- Bonus points -----------------------------------------------------------


def test_a_bonus_is_credited_once_per_key(member):
    first = points_bonus(
        member=member,
        points=500,
        key="welcome:1",
        reason="bonus",
        lifetime_days=45,
    )
    again = points_bonus(
        member=member,
        points=500,
        key="welcome:1",
        reason="bonus",
        lifetime_days=45,
    )

    assert again.pk == first.pk
    assert balances(member) == (500, 0, 0)
    (lot,) = lots(member)
    assert lot.expires_on == TODAY + timedelta(days=45)


def test_a_bonus_must_be_positive(member):
    with pytest.raises(ValidationError) as caught:
        points_bonus(member=member, points=0, key="x", reason="bonus")

    assert error_codes(caught.value) == {"invalid_points"}


# --- Refund after spend: the debt -------------------------------------------


def test_reversing_a_visit_whose_points_were_spent_records_a_debt(member, record_visit):
    # Given 150 points earned on a visit, 100 of them spent on a reward
    visit = record_visit(member)
    reward_redeem(
        member=member, reward=RewardFactory(points_cost=100), idempotency_key="r"
    )

    # When the visit is refunded
    members_services.visit_refund(visit=visit, reason="complaint")

    # Then the 50 left are taken back and the 100 spent become a debt
    assert balances(member) == (0, 0, 100)
    reverse = entries(member)[-1]
    assert (reverse.kind, reverse.amount, reverse.debt_change) == (
        Kind.REVERSE,
        -50,
        100,
    )
    assert (reverse.balance_after, reverse.debt_after) == (0, 100)
    assert reverse.reverses == LedgerEntry.objects.get(visit=visit, kind=Kind.EARN)
    assert_books_balance(member)


def test_the_next_earning_settles_the_debt_first(member, record_visit):
    # Given a debt of 150 points
    visit = record_visit(member)
    adjust(member, -150)
    members_services.visit_cancel(visit=visit)
    assert balances(member) == (0, 0, 150)

    # When the next visit earns 150 + an 80-point bonus later
    second = record_visit(member, amount_paid="2000")  # earns 100
    assert balances(member) == (0, 0, 50)
    give_points(member, 80)

    # Then the debt is paid off before anything is spendable
    assert balances(member) == (30, 0, 0)
    settlements = [e for e in entries(member) if e.kind == Kind.DEBT_SETTLEMENT]
    assert [(e.amount, e.debt_change, e.debt_after) for e in settlements] == [
        (-100, -100, 50),
        (-50, -50, 0),
    ]
    assert settlements[0].visit == second
    assert_books_balance(member)


def test_pending_earnings_settle_a_debt_too(member, record_visit):
    # Given a debt of 150 points and points now held 14 days
    visit = record_visit(member)
    adjust(member, -150)
    members_services.visit_cancel(visit=visit)
    program_set(pending_days=14)

    # When the next visit earns 100, pending
    second = record_visit(member, amount_paid="2000")

    # Then they pay the debt at once instead of becoming spendable later
    assert balances(member) == (0, 0, 50)
    assert_books_balance(member)

    # And if that visit is refunded, the debt is back where it was
    members_services.visit_refund(visit=second)
    assert balances(member) == (0, 0, 150)
    assert_books_balance(member)


def test_points_a_cancelled_voucher_returns_settle_the_debt_first(member, record_visit):
    # Given 200 bonus points and 150 earned on a visit, 300 spent on a voucher,
    # then the visit refunded: 50 taken back, 100 owed
    give_points(member, 200)
    visit = record_visit(member)
    voucher = reward_redeem(
        member=member, reward=RewardFactory(points_cost=300), idempotency_key="r"
    )
    members_services.visit_refund(visit=visit, reason="complaint")
    assert balances(member) == (0, 0, 100)

    # When the voucher is cancelled and its 300 points come back
    voucher_cancel(voucher=voucher)

    # Then they pay the debt first: only the rest is spendable
    assert balances(member) == (200, 0, 0)
    back, settlement = entries(member)[-2:]
    assert (back.kind, back.amount, back.voucher) == (Kind.REVERSE, 300, voucher)
    assert (
        settlement.kind,
        settlement.amount,
        settlement.debt_change,
        settlement.debt_after,
    ) == (Kind.DEBT_SETTLEMENT, -100, -100, 0)
    assert settlement.balance_after == 200
    assert_books_balance(member)


def test_a_voucher_cancelled_without_a_debt_settles_nothing(member):
    give_points(member, 300)
    voucher = reward_redeem(
        member=member, reward=RewardFactory(points_cost=100), idempotency_key="r"
    )

    voucher_cancel(voucher=voucher)

    assert balances(member) == (300, 0, 0)
    assert entries(member)[-1].kind == Kind.REVERSE
    assert not LedgerEntry.objects.filter(kind=Kind.DEBT_SETTLEMENT).exists()


# --- The hash chain and append-only entries ---------------------------------


def test_every_entry_links_to_the_previous_one(member, record_visit, manager):
    give_points(member, 40)
    visit = record_visit(member)
    adjust(member, -30, actor=manager)
    members_services.visit_cancel(visit=visit)

    chain = entries(member)
    assert [e.kind for e in chain] == [Kind.BONUS, Kind.EARN, Kind.ADJUST, Kind.REVERSE]
    assert chain[0].prev_hash == ""
    assert all(b.prev_hash == a.hash for a, b in zip(chain, chain[1:], strict=False))
    assert_chain_intact(member)


def test_chains_are_per_member(member):
    second = MemberFactory()
    give_points(member, 10)
    give_points(second, 20)
    give_points(member, 30)

    assert [e.seq for e in entries(member)] == [1, 2]
    assert [e.seq for e in entries(second)] == [1]
    assert entries(second)[0].prev_hash == ""
    assert_chain_intact(member)
    assert_chain_intact(second)


def test_entries_cannot_be_changed_or_deleted_through_the_orm(member):
    entry = give_points(member, 10)

    entry.amount = 1_000_000
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1_000_000)
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).delete()

    assert LedgerEntry.objects.get(pk=entry.pk).amount == 10


# --- Reversing a visit: cancel and refund -----------------------------------


@pytest.mark.parametrize(
    "reverse",
    [members_services.visit_cancel, members_services.visit_refund],
    ids=["cancel", "refund"],
)
def test_reversal_takes_back_the_visits_own_lot_first(member, record_visit, reverse):
    # Given older points that expire sooner than the visit's own
    give_points(member, 100, lifetime_days=30)
    visit = record_visit(member)
    own = PointLot.objects.get(entry__visit=visit)

    reverse(visit=visit)

    rev = entries(member)[-1]
    assert allocations(rev) == {own.pk: -150}
    assert balances(member) == (100, 0, 0)
    assert_books_balance(member)


def test_reversal_takes_pending_points_back_too(member, record_visit):
    program_set(pending_days=14)
    visit = record_visit(member)

    members_services.visit_cancel(visit=visit)

    assert balances(member) == (0, 0, 0)
    assert_books_balance(member)


def test_points_paid_on_a_visit_go_back_to_their_lots(member, checkout):
    # Given 600 points in two lots, 300 of them paid on a visit
    give_points(member, 200, lifetime_days=30)
    give_points(member, 400)
    first, second = lots(member)
    visit = checkout(member, points_to_use=300).visit
    spend = LedgerEntry.objects.get(visit=visit, kind=Kind.SPEND)
    assert allocations(spend) == {first.pk: -200, second.pk: -100}

    # When the visit is cancelled
    members_services.visit_cancel(visit=visit)

    # Then the 300 return to the lots they came from, and the earn is reversed
    back = LedgerEntry.objects.get(reverses=spend)
    assert allocations(back) == {first.pk: 200, second.pk: 100}
    assert back.amount == 300
    assert balances(member) == (600, 0, 0)
    assert {lot.pk: lot.remaining for lot in lots(member)}[first.pk] == 200
    assert_books_balance(member)


def test_vouchers_used_on_a_cancelled_visit_are_released(member, checkout):
    give_points(member, 100)
    voucher = reward_redeem(
        member=member, reward=RewardFactory(points_cost=100), idempotency_key="v"
    )
    visit = checkout(member, voucher_codes=[voucher.code]).visit
    voucher.refresh_from_db()
    assert (voucher.status, voucher.visit) == (Voucher.Status.USED, visit)

    members_services.visit_cancel(visit=visit)

    voucher.refresh_from_db()
    assert (voucher.status, voucher.visit, voucher.used_at) == (
        Voucher.Status.ACTIVE,
        None,
        None,
    )


def test_a_voucher_past_its_validity_is_not_given_back(member, checkout):
    give_points(member, 100)
    voucher = reward_redeem(
        member=member, reward=RewardFactory(points_cost=100), idempotency_key="v"
    )
    visit = checkout(member, voucher_codes=[voucher.code]).visit

    with time_machine.travel(NOW + timedelta(days=31), tick=False):
        members_services.visit_cancel(visit=visit)

    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.EXPIRED


@pytest.mark.parametrize(
    "reverse",
    [members_services.visit_cancel, members_services.visit_refund],
    ids=["cancel", "refund"],
)
def test_reversing_twice_changes_the_points_once(member, checkout, reverse):
    give_points(member, 400)
    visit = checkout(member, points_to_use=100).visit
    reverse(visit=visit)
    after_first = (balances(member), len(entries(member)))

    reverse(visit=visit)

    assert (balances(member), len(entries(member))) == after_first
    assert balances(member) == (400, 0, 0)
    assert_books_balance(member)


def test_earning_again_after_a_reversal_is_not_blocked_by_old_keys(
    member, record_visit
):
    visit = record_visit(member)
    members_services.visit_cancel(visit=visit)

    again = record_visit(member)

    assert earned(again) == 150
    assert balances(member) == (150, 0, 0)
    assert_chain_intact(member)
