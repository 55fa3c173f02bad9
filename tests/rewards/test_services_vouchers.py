"""Buying rewards with points and the vouchers that come out: reward_redeem,
voucher_cancel, voucher_issue, voucher_by_code.

Every refusal is checked twice: its code, and that nothing was written (no
voucher, no entry, no stock taken, the wallet untouched).
"""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from members.models import Member
from rewards.models import LedgerEntry, Reward, Voucher
from rewards.services import reward_redeem, voucher_cancel, voucher_issue
from rewards.services.vouchers import (
    CODE_ALPHABET,
    reward_redeem_once,
    voucher_by_code,
    voucher_mark_used,
)
from tests.conftest import error_codes, moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import (
    allocations,
    assert_books_balance,
    balances,
    give_points,
    lots,
    state_of,
    tier,
    tier_set,
)

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
Kind = LedgerEntry.Kind


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def rich(member):
    """The ``member`` with 1000 points: 300 expiring in 30 days, 700 in a year."""
    give_points(member, 300, lifetime_days=30)
    give_points(member, 700)
    return member


@pytest.fixture
def reward(db):
    return RewardFactory(name="10% off the next visit", points_cost=400)


def redeem(member, reward, key="req-1"):
    return reward_redeem(member=member, reward=reward, idempotency_key=key)


def assert_refused(code, call, member):
    """``call`` raises a ValidationError with ``code`` and writes nothing."""
    before = state_of(member)

    with pytest.raises(ValidationError) as caught:
        call()

    assert error_codes(caught.value) == {code}
    assert state_of(member) == before
    return caught.value


# --- reward_redeem: the happy path ------------------------------------------


def test_redeeming_deducts_the_points_and_issues_an_active_voucher(rich, reward):
    voucher = redeem(rich, reward)

    voucher.refresh_from_db()
    assert (voucher.member, voucher.reward, voucher.status, voucher.source) == (
        rich,
        reward,
        Voucher.Status.ACTIVE,
        Voucher.Source.REDEMPTION,
    )
    assert voucher.points_cost == 400
    assert voucher.issued_at == NOW
    assert voucher.valid_until == NOW + timedelta(days=30)
    assert len(voucher.code) == 10
    assert set(voucher.code) <= set(CODE_ALPHABET)
    assert not set(voucher.code) & set("01OIL")
    assert balances(rich) == (600, 0, 0)
    spend = LedgerEntry.objects.get(voucher=voucher)
    assert (spend.kind, spend.amount, spend.reason) == (
        Kind.SPEND,
        -400,
        "spend_reward",
    )
    assert_books_balance(rich)


def test_codes_differ_from_voucher_to_voucher(rich):
    cheap = RewardFactory(points_cost=10)

    codes = {redeem(rich, cheap, key=f"req-{i}").code for i in range(20)}

    assert len(codes) == 20


def test_a_reward_with_stock_takes_one_item(rich, reward):
    Reward.objects.filter(pk=reward.pk).update(stock=2)

    redeem(rich, reward)

    reward.refresh_from_db()
    assert reward.stock == 1


def test_a_free_reward_writes_no_ledger_entry(member):
    voucher = redeem(member, RewardFactory(points_cost=0))

    assert voucher.status == Voucher.Status.ACTIVE
    assert not LedgerEntry.objects.filter(member=member).exists()


def test_a_reward_for_gold_members_is_open_to_gold_and_platinum(rich, reward):
    Reward.objects.filter(pk=reward.pk).update(min_tier=tier("gold"))
    tier_set(rich, "platinum")

    assert redeem(rich, reward).status == Voucher.Status.ACTIVE


# --- reward_redeem: idempotency ---------------------------------------------


def test_the_same_request_key_returns_the_same_voucher(rich, reward):
    first = redeem(rich, reward, key="req-1")
    before = state_of(rich)

    again = redeem(rich, reward, key="req-1")

    assert again.pk == first.pk
    assert state_of(rich) == before
    assert balances(rich) == (600, 0, 0)


def test_a_retry_is_told_apart_from_the_redemption_it_repeats(rich, reward):
    first = reward_redeem_once(member=rich, reward=reward, idempotency_key="req-1")

    again = reward_redeem_once(member=rich, reward=reward, idempotency_key="req-1")

    assert (first.replayed, again.replayed) == (False, True)
    assert again.voucher.pk == first.voucher.pk
    assert balances(rich) == (600, 0, 0)


def test_the_same_request_key_for_another_reward_is_refused(rich, reward):
    redeem(rich, reward, key="req-1")
    other = RewardFactory(points_cost=100)

    assert_refused(
        "idempotency_key_reused", lambda: redeem(rich, other, key="req-1"), rich
    )


def test_request_keys_are_per_member(rich, reward):
    other = MemberFactory()
    give_points(other, 500)

    mine = redeem(rich, reward, key="req-1")
    theirs = redeem(other, reward, key="req-1")

    assert mine.pk != theirs.pk
    assert (balances(rich)[0], balances(other)[0]) == (600, 100)


# --- reward_redeem: refusals ------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"is_active": False},
        {"active_from": NOW + timedelta(days=1)},
        {"active_until": NOW},
        {"active_until": NOW - timedelta(days=1)},
    ],
    ids=["inactive", "not-yet", "ends-now", "ended"],
)
def test_a_reward_that_is_not_available_is_refused(rich, reward, change):
    Reward.objects.filter(pk=reward.pk).update(**change)

    assert_refused("reward_not_available", lambda: redeem(rich, reward), rich)


def test_a_reward_inside_its_dates_is_available(rich, reward):
    Reward.objects.filter(pk=reward.pk).update(
        active_from=NOW - timedelta(days=1), active_until=NOW + timedelta(seconds=1)
    )

    assert redeem(rich, reward).status == Voucher.Status.ACTIVE


def test_a_reward_above_the_members_tier_is_refused(rich, reward):
    Reward.objects.filter(pk=reward.pk).update(min_tier=tier("silver"))

    exc = assert_refused("tier_too_low", lambda: redeem(rich, reward), rich)
    assert "Silver" in str(exc)


def test_the_per_member_limit_counts_vouchers_held_not_cancelled_ones(rich, reward):
    # Given a limit of one, one voucher cancelled and one held
    Reward.objects.filter(pk=reward.pk).update(per_member_limit=1)
    voucher_cancel(voucher=redeem(rich, reward, key="req-1"))
    redeem(rich, reward, key="req-2")

    # Then a third is refused
    assert_refused("limit_reached", lambda: redeem(rich, reward, key="req-3"), rich)


def test_a_used_voucher_still_counts_toward_the_limit(rich, reward, checkout):
    Reward.objects.filter(pk=reward.pk).update(per_member_limit=1)
    voucher = redeem(rich, reward, key="req-1")
    checkout(rich, voucher_codes=[voucher.code])

    assert_refused("limit_reached", lambda: redeem(rich, reward, key="req-2"), rich)


def test_a_reward_out_of_stock_is_refused(rich, reward):
    Reward.objects.filter(pk=reward.pk).update(stock=0)

    assert_refused("out_of_stock", lambda: redeem(rich, reward), rich)


def test_a_reward_the_points_do_not_cover_is_refused(member, reward):
    give_points(member, 399)

    exc = assert_refused("points_insufficient", lambda: redeem(member, reward), member)
    assert "399 available, 400 needed" in str(exc)


def test_a_member_without_any_points_is_refused_and_gets_no_wallet(member, reward):
    assert_refused("points_insufficient", lambda: redeem(member, reward), member)


@pytest.mark.parametrize("status", [Member.Status.BLOCKED, Member.Status.ERASED])
def test_a_member_who_is_not_active_cannot_redeem(rich, reward, status):
    Member.objects.filter(pk=rich.pk).update(status=status)

    # The caller's copy still says "active": the database decides
    assert rich.status == Member.Status.ACTIVE
    assert_refused("member_not_active", lambda: redeem(rich, reward), rich)


# --- voucher_cancel ---------------------------------------------------------


def test_cancelling_refunds_the_points_to_their_lots_and_restores_stock(
    rich, reward, manager
):
    # Given a voucher paid from both lots, with stock
    Reward.objects.filter(pk=reward.pk).update(stock=5)
    voucher = redeem(rich, reward)
    spend = LedgerEntry.objects.get(voucher=voucher, kind=Kind.SPEND)
    soon, later = lots(rich)
    assert allocations(spend) == {soon.pk: -300, later.pk: -100}

    # When it is cancelled
    done = voucher_cancel(voucher=voucher, actor=manager, reason="changed mind")

    # Then the points are back in the lots they came from, and the item in stock
    assert (done.status, done.closed_at) == (Voucher.Status.CANCELLED, NOW)
    back = LedgerEntry.objects.get(reverses=spend)
    assert (back.kind, back.amount, back.actor) == (Kind.REVERSE, 400, manager)
    assert allocations(back) == {soon.pk: 300, later.pk: 100}
    assert [lot.remaining for lot in lots(rich)] == [300, 700]
    assert balances(rich) == (1000, 0, 0)
    reward.refresh_from_db()
    assert reward.stock == 5
    assert_books_balance(rich)


def test_points_from_a_lot_that_expired_meanwhile_do_not_come_back(rich, reward):
    voucher = redeem(rich, reward)  # 300 from the 30-day lot, 100 from the other

    with time_machine.travel(NOW + timedelta(days=30), tick=False):
        voucher_cancel(voucher=voucher)

    back = LedgerEntry.objects.get(voucher=voucher, kind=Kind.REVERSE)
    assert (back.amount, back.params["expired"]) == (100, 300)
    assert balances(rich) == (700, 0, 0)


def test_cancelling_twice_refunds_once(rich, reward):
    voucher = redeem(rich, reward)
    voucher_cancel(voucher=voucher)
    before = state_of(rich)

    again = voucher_cancel(voucher=voucher)

    assert again.status == Voucher.Status.CANCELLED
    assert state_of(rich) == before


def test_a_used_voucher_cannot_be_cancelled(rich, reward, checkout):
    voucher = redeem(rich, reward)
    checkout(rich, voucher_codes=[voucher.code])

    assert_refused("voucher_not_active", lambda: voucher_cancel(voucher=voucher), rich)
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED


def test_cancelling_a_gift_gives_no_points_and_no_stock(member, reward):
    Reward.objects.filter(pk=reward.pk).update(stock=3)
    gift = voucher_issue(
        member=member, reward=reward, key="gift:1", source=Voucher.Source.MANUAL
    )

    voucher_cancel(voucher=gift)

    reward.refresh_from_db()
    assert reward.stock == 3
    assert not LedgerEntry.objects.filter(member=member).exists()


# --- voucher_issue and voucher_by_code --------------------------------------


def test_issuing_is_idempotent_by_key(member, reward):
    first = voucher_issue(
        member=member, reward=reward, key="perk:2025-06", source="tier_perk"
    )
    again = voucher_issue(
        member=member, reward=reward, key="perk:2025-06", source="tier_perk"
    )

    assert again.pk == first.pk
    assert (first.points_cost, first.valid_until) == (0, NOW + timedelta(days=30))


def test_a_code_is_found_however_the_front_desk_types_it(rich, reward):
    voucher = redeem(rich, reward)
    typed = f" {voucher.code[:5].lower()}-{voucher.code[5:]} "

    assert voucher_by_code(typed) == voucher
    assert voucher_by_code("") is None
    assert voucher_by_code("NOSUCHCODE") is None


# --- voucher_mark_used: rewards handed over, not priced ---------------------


def test_a_partner_gift_is_marked_handed_over_once(rich):
    gift = RewardFactory(partner=True, name="Herbal tea set", points_cost=300)
    voucher = redeem(rich, gift)

    used = voucher_mark_used(voucher=voucher)
    again = voucher_mark_used(voucher=voucher)

    assert used.status == again.status == Voucher.Status.USED
    assert Voucher.objects.get(pk=voucher.pk).used_at == NOW
    assert balances(rich)[0] == 700  # the points were paid at redemption only


def test_a_money_off_voucher_is_refused_it_belongs_to_the_checkout(rich, reward):
    voucher = redeem(rich, reward)

    with pytest.raises(ValidationError) as caught:
        voucher_mark_used(voucher=voucher)

    assert error_codes(caught.value) == {"voucher_for_checkout"}
    assert Voucher.objects.get(pk=voucher.pk).status == Voucher.Status.ACTIVE


def test_an_expired_gift_cannot_be_handed_over(rich):
    voucher = redeem(rich, RewardFactory(partner=True, voucher_valid_days=5))

    with (
        time_machine.travel(NOW + timedelta(days=6), tick=False),
        pytest.raises(ValidationError) as caught,
    ):
        voucher_mark_used(voucher=voucher)

    assert error_codes(caught.value) == {"voucher_not_active"}
