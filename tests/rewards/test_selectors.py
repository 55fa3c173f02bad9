"""Reads of the rewards app: progress to the next tier, the window stats, the
member's balances and the program's points liability."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from members import services as members_services
from members.services import VisitLineInput
from rewards import selectors
from rewards.services import reward_redeem
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import adjust, give_points, program_set, tier_set

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
TODAY = date(2025, 6, 10)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


# --- Progress to the next tier ----------------------------------------------


def test_progress_says_what_is_left_to_the_next_tier(member, record_visit):
    # Given two visits this year (6000.00)
    record_visit(member, paid_at=NOW - timedelta(days=100))
    record_visit(member, paid_at=NOW - timedelta(days=1))

    progress = selectors.tier_progress(member=member)

    # Then "3 visits or 14 000 to Silver"
    assert (progress.tier.code, progress.next_tier.code) == ("base", "silver")
    assert (progress.stats.visits, progress.stats.spend) == (2, Decimal("6000.00"))
    assert (progress.visits_needed, progress.spend_needed) == (3, Decimal("14000.00"))


def test_progress_of_a_member_with_no_wallet_yet(member):
    progress = selectors.tier_progress(member=member)

    assert (progress.tier.code, progress.next_tier.code) == ("base", "silver")
    assert (progress.visits_needed, progress.spend_needed) == (5, Decimal("20000.00"))


def test_progress_from_silver_counts_toward_gold(member, record_visit, service):
    record_visit(member, lines=[VisitLineInput(service=service, quantity=8)])

    progress = selectors.tier_progress(member=member)

    assert (progress.tier.code, progress.next_tier.code) == ("silver", "gold")
    assert (progress.visits_needed, progress.spend_needed) == (14, Decimal("36000.00"))


def test_progress_never_goes_below_zero(member, record_visit):
    # A member held on Base by a manager while qualifying for Silver
    tier_set(member, "base")
    for day in range(7):  # 7 visits, 21 000.00
        record_visit(member, paid_at=NOW - timedelta(days=day + 1))

    progress = selectors.tier_progress(member=member)

    assert (progress.visits_needed, progress.spend_needed) == (0, Decimal("0.00"))


def test_at_the_top_there_is_no_next_tier(member):
    tier_set(member, "platinum")

    progress = selectors.tier_progress(member=member)

    assert progress.next_tier is None
    assert (progress.visits_needed, progress.spend_needed) == (None, None)


def test_window_stats_count_paid_visits_in_the_window_only(member, record_visit):
    record_visit(member, paid_at=NOW - timedelta(days=366))  # outside
    cancelled = record_visit(member, paid_at=NOW - timedelta(days=10))
    members_services.visit_cancel(visit=cancelled)
    record_visit(member, paid_at=NOW - timedelta(days=364), amount_paid="1000.50")
    record_visit(member, paid_at=NOW)

    stats = selectors.tier_window_stats(member_id=member.pk, window_days=365)

    assert (stats.visits, stats.spend) == (2, Decimal("4000.50"))
    earlier = selectors.tier_window_stats(
        member_id=member.pk, at=NOW - timedelta(days=1), window_days=365
    )
    assert (earlier.visits, earlier.spend) == (1, Decimal("1000.50"))


# --- Balances and liability -------------------------------------------------


def test_points_summary_shows_what_expires_soon(member, record_visit):
    # Given 40 points expiring in 10 days, 60 in 14, 500 in a year, 150 pending
    give_points(member, 40, lifetime_days=10)
    give_points(member, 60, lifetime_days=14)
    give_points(member, 500)
    program_set(pending_days=7)
    record_visit(member)

    summary = selectors.points_summary(member=member)

    assert (summary.available, summary.pending, summary.debt) == (600, 150, 0)
    assert (summary.expiring_soon, summary.expiring_on) == (
        100,
        TODAY + timedelta(days=10),
    )
    assert summary.money_value == Decimal("600.00")


def test_points_summary_of_a_member_without_points(member):
    summary = selectors.points_summary(member=member)

    assert summary == selectors.PointsSummary(0, 0, 0, 0, None, Decimal("0.00"))


def test_liability_values_the_outstanding_points(member, record_visit):
    # Given two members with 600 and 250 points, and 150 pending
    give_points(member, 600)
    other = MemberFactory()
    give_points(other, 300)
    adjust(other, -50)
    program_set(pending_days=3, point_value=Decimal("0.50"))
    record_visit(member)

    liability = selectors.points_liability()

    assert (liability.points, liability.pending, liability.members) == (850, 150, 2)
    assert liability.money == Decimal("500.00")  # (850 + 150) × 0.50


def test_ledger_and_vouchers_of_one_member(member):
    give_points(member, 500)
    voucher = reward_redeem(
        member=member, reward=RewardFactory(points_cost=100), idempotency_key="k"
    )
    give_points(MemberFactory(), 10)

    assert [e.kind for e in selectors.member_ledger(member=member)] == [
        "spend",
        "bonus",
    ]
    assert list(selectors.member_vouchers(member=member)) == [voucher]
