"""A referral's life through the real services: registered at sign-up, qualified
and rewarded by the friend's first paid visit, annulled when that visit is
cancelled or refunded — with every move in the history and every point in the
ledger. Also the welcome reward against the first-visit discount, and the
queries the checkout spends on referrals."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from members import services as member_services
from members.models import Visit
from members.services import VisitLineInput
from referrals import selectors
from referrals.models import Referral, ReferralEvent
from referrals.services import referral_visit_recorded, referral_visit_reversed
from rewards.models import LedgerEntry, Tier, VisitBenefit
from rewards.services import checkout_commit, reward_redeem
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.referrals.conftest import (
    assert_ledgers_verify,
    bonus,
    bonus_lot,
    history,
    referral_entries,
    referral_of,
    referral_program,
)
from tests.rewards.conftest import balances, give_points, program_set

pytestmark = pytest.mark.django_db

Status = Referral.Status
Reason = ReferralEvent.Reason
T0 = moscow(2025, 6, 2, 12, 0)

SIGNED_UP = ("", Status.REGISTERED, Reason.SIGNED_UP)
QUALIFIED = (Status.REGISTERED, Status.QUALIFIED, Reason.FIRST_PAID_VISIT)
REWARDED = (Status.QUALIFIED, Status.REWARDED, Reason.REWARDED)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def no_earn():
    """Visits earn no points of their own: only referral points move."""
    program_set(earn_rate=Decimal("0"))


def snapshot() -> tuple:
    """Referral rows, events and ledger entries: what a no-op must leave alone."""
    return (
        sorted(Referral.objects.values_list("id", "status", "reason", "updated_at")),
        ReferralEvent.objects.count(),
        LedgerEntry.objects.count(),
    )


# --- Registered → qualified → rewarded --------------------------------------


def test_first_paid_visit_rewards_both_sides_with_fixed_points(
    referrer, signup, first_visit
):
    # Given the shipped terms (500 points each, valid 60 days) and a friend
    # who signed up with the referrer's code
    friend = signup(referrer.code)
    assert friend.outcome["status"] == "registered"
    referral = referral_of(friend)
    assert (referral.status, referral.reason) == (Status.REGISTERED, Reason.SIGNED_UP)
    assert (referral.referrer_id, referral.code) == (referrer.pk, referrer.code)
    assert history(referral) == [SIGNED_UP]
    assert referral_entries() == []

    # When the friend's first paid visit is recorded
    visit = first_visit(friend)

    # Then the referral is qualified and rewarded in that transaction
    referral = referral_of(friend)
    assert referral.status == Status.REWARDED
    assert referral.qualifying_visit_id == visit.pk
    assert referral.qualified_at == referral.rewarded_at == T0
    assert (referral.friend_points, referral.referrer_points) == (500, 500)
    assert history(referral) == [SIGNED_UP, QUALIFIED, REWARDED]
    rewarded = referral.events.last()
    assert rewarded.params["valid_days"] == 60
    # And both bonuses are in the ledger, keyed by the referral
    friend_bonus, referrer_bonus = (
        bonus(referral, "friend"),
        bonus(referral, "referrer"),
    )
    assert (friend_bonus.member_id, friend_bonus.kind) == (friend.pk, "bonus")
    assert (friend_bonus.amount, friend_bonus.reason) == (500, "referral_friend")
    assert (referrer_bonus.member_id, referrer_bonus.amount) == (referrer.pk, 500)
    assert referrer_bonus.reason == "referral_referrer"
    assert friend_bonus.params["referral"] == referral.pk
    # Each a lot of its own that expires after bonus_validity_days
    for side in ("friend", "referrer"):
        assert bonus_lot(referral, side).expires_on == date(2025, 8, 1)
    # The friend also earned the visit's own points (5 per 100 paid)
    assert balances(friend) == (500 + 150, 0, 0)
    assert balances(referrer) == (500, 0, 0)
    assert_ledgers_verify(friend, referrer)


@pytest.mark.parametrize(
    ("earn_mode", "point_value", "amount", "referrer_points", "friend_points"),
    [
        # 10% of 3000 = 300 money, a point is worth 0.50: 600 points;
        # 5% = 150 money: 300 points.
        ("points", "0.50", "3000.00", 600, 300),
        # Cashback: a point is 1 money whatever point_value says; rounded down
        # (299.999 → 299, 149.9995 → 149).
        ("cashback", "0.50", "2999.99", 299, 149),
    ],
)
def test_percent_rewards_are_a_share_of_the_paid_amount_in_points(
    referrer,
    signup,
    first_visit,
    earn_mode,
    point_value,
    amount,
    referrer_points,
    friend_points,
):
    program_set(earn_mode=earn_mode, point_value=Decimal(point_value))
    referral_program(
        referrer_reward_kind="percent",
        referrer_reward_value=Decimal("10"),
        friend_reward_kind="percent",
        friend_reward_value=Decimal("5"),
        bonus_validity_days=30,
    )
    friend = signup(referrer.code)

    # The share is of what was paid in money, not of the visit's price
    first_visit(friend, amount="3000.00", amount_paid=amount)

    referral = referral_of(friend)
    assert referral.status == Status.REWARDED
    assert (referral.referrer_points, referral.friend_points) == (
        referrer_points,
        friend_points,
    )
    assert bonus(referral, "referrer").amount == referrer_points
    assert bonus(referral, "friend").amount == friend_points
    assert bonus_lot(referral, "friend").expires_on == date(2025, 7, 2)
    assert bonus_lot(referral, "referrer").expires_on == date(2025, 7, 2)
    assert_ledgers_verify(friend, referrer)


def test_a_visit_below_the_minimum_does_not_qualify_a_later_one_does(
    referrer, signup, first_visit, clock
):
    referral_program(min_first_visit_amount=Decimal("2000.00"))
    friend = signup(referrer.code)

    # When the first paid visit is below the minimum
    small = first_visit(friend, amount="1500.00")

    # Then nothing happens to the referral
    referral = referral_of(friend)
    assert (referral.status, referral.qualifying_visit_id) == (Status.REGISTERED, None)
    assert history(referral) == [SIGNED_UP]
    assert referral_entries() == []

    # When a later visit reaches it (exactly the minimum counts)
    clock.shift(timedelta(days=3))
    later = first_visit(friend, amount="2000.00")

    # Then that one qualifies and pays out
    referral = referral_of(friend)
    assert referral.status == Status.REWARDED
    assert referral.qualifying_visit_id == later.pk != small.pk
    assert bonus(referral, "friend").params["visit"] == later.pk
    assert history(referral) == [SIGNED_UP, QUALIFIED, REWARDED]


def test_program_switched_off_before_the_first_visit_rejects_it(
    referrer, signup, first_visit
):
    friend = signup(referrer.code)
    referral_program(is_active=False)

    first_visit(friend)

    referral = referral_of(friend)
    assert (referral.status, referral.reason) == (Status.REJECTED, Reason.PROGRAM_OFF)
    assert history(referral) == [
        SIGNED_UP,
        QUALIFIED,
        (Status.QUALIFIED, Status.REJECTED, Reason.PROGRAM_OFF),
    ]
    assert referral_entries() == []


# --- Annulment ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("reverse", "reason"),
    [
        (member_services.visit_cancel, Reason.VISIT_CANCELLED),
        (member_services.visit_refund, Reason.VISIT_REFUNDED),
    ],
)
def test_cancelling_or_refunding_the_first_visit_annuls_and_takes_both_back(
    referrer, signup, first_visit, reverse, reason
):
    friend = signup(referrer.code)
    visit = first_visit(friend)
    referral = referral_of(friend)
    assert selectors.rewarded_in_month(referrer_id=referrer.pk, at=T0) == 1

    reverse(visit=visit, reason="mistake")

    referral = referral_of(friend)
    assert (referral.status, referral.reason) == (Status.ANNULLED, reason)
    assert history(referral)[-1] == (Status.REWARDED, Status.ANNULLED, reason)
    # The points stay on the row as what was paid (and taken back)
    assert (referral.friend_points, referral.referrer_points) == (500, 500)
    assert referral.rewarded_at == T0
    for side, member in (("friend", friend), ("referrer", referrer)):
        back = bonus(referral, f"{side}:annul")
        assert (back.member_id, back.kind) == (member.pk, "reverse")
        assert (back.amount, back.debt_change) == (-500, 0)
        assert back.reverses_id == bonus(referral, side).pk
        assert back.reason == "referral_annulled"
    event = referral.events.last()
    assert event.params["friend"] == {"points": 500, "debt": 0}
    assert event.params["referrer"] == {"points": 500, "debt": 0}
    # The visit's own points went back too; nobody keeps anything
    assert balances(friend) == (0, 0, 0)
    assert balances(referrer) == (0, 0, 0)
    # An annulled referral no longer counts against the cap
    assert selectors.rewarded_in_month(referrer_id=referrer.pk, at=T0) == 0
    assert_ledgers_verify(friend, referrer)


def test_annulment_after_the_points_were_spent_leaves_a_debt_paid_by_later_points(
    referrer, signup, first_visit, no_earn
):
    friend = signup(referrer.code)
    visit = first_visit(friend)
    referral = referral_of(friend)
    # Given the friend spent 400 of the 500 and the referrer all 500
    reward_redeem(
        member=friend, reward=RewardFactory(points_cost=400), idempotency_key="f-1"
    )
    reward_redeem(
        member=referrer, reward=RewardFactory(points_cost=500), idempotency_key="r-1"
    )

    # When the first visit is cancelled
    member_services.visit_cancel(visit=visit)

    # Then what is left is taken back and the rest is a recorded debt
    referral = referral_of(friend)
    assert referral.status == Status.ANNULLED
    friend_back = bonus(referral, "friend:annul")
    assert (friend_back.amount, friend_back.debt_change) == (-100, 400)
    referrer_back = bonus(referral, "referrer:annul")
    assert (referrer_back.amount, referrer_back.debt_change) == (0, 500)
    assert referral.events.last().params["friend"] == {"points": 500, "debt": 400}
    assert referral.events.last().params["referrer"] == {"points": 500, "debt": 500}
    assert balances(friend) == (0, 0, 400)
    assert balances(referrer) == (0, 0, 500)
    assert_ledgers_verify(friend, referrer)

    # When they get points later, the debt is paid from them first
    give_points(friend, 1000)
    give_points(referrer, 300)

    assert balances(friend) == (600, 0, 0)
    assert balances(referrer) == (0, 0, 200)
    assert_ledgers_verify(friend, referrer)


def test_reversing_a_visit_that_did_not_qualify_leaves_the_referral_alone(
    referrer, signup, first_visit, clock
):
    referral_program(min_first_visit_amount=Decimal("1000.00"))
    friend = signup(referrer.code)
    small = first_visit(friend, amount="500.00")

    # A below-minimum visit cancelled before qualifying: still waiting
    member_services.visit_cancel(visit=small)
    assert referral_of(friend).status == Status.REGISTERED

    clock.shift(timedelta(days=1))
    first = first_visit(friend)
    clock.shift(timedelta(days=1))
    second = first_visit(friend)
    before = snapshot()

    # When a later visit (not the qualifying one) is refunded
    member_services.visit_refund(visit=second)

    # Then the referral and its bonuses stay
    referral = referral_of(friend)
    assert (referral.status, referral.qualifying_visit_id) == (
        Status.REWARDED,
        first.pk,
    )
    assert history(referral) == [SIGNED_UP, QUALIFIED, REWARDED]
    assert bonus(referral, "friend:annul") is None
    assert bonus(referral, "referrer:annul") is None
    assert snapshot()[:2] == before[:2]
    assert_ledgers_verify(friend, referrer)


def test_a_partial_refund_of_the_first_visit_leaves_the_referral_alone(
    referrer, signup, record_visit, service, addon
):
    friend = signup(referrer.code)
    visit = record_visit(
        friend,
        lines=[VisitLineInput(service=service), VisitLineInput(service=addon)],
    )
    assert referral_of(friend).status == Status.REWARDED
    service_line = visit.lines.get(service=service)
    addon_line = visit.lines.get(service=addon)

    # When only the add-on is refunded (the visit stays paid)
    member_services.visit_refund_partial(
        visit=visit, lines=[(addon_line, 1)], key="refund-1"
    )

    # Then the referral keeps its rewards
    referral = referral_of(friend)
    assert referral.status == Status.REWARDED
    assert bonus(referral, "friend:annul") is None
    assert history(referral) == [SIGNED_UP, QUALIFIED, REWARDED]

    # When the rest is refunded too, the visit is refunded: annulled
    member_services.visit_refund_partial(
        visit=Visit.objects.get(pk=visit.pk),
        lines=[(service_line, 1)],
        key="refund-2",
    )

    referral = referral_of(friend)
    assert Visit.objects.get(pk=visit.pk).status == Visit.Status.REFUNDED
    assert (referral.status, referral.reason) == (
        Status.ANNULLED,
        Reason.VISIT_REFUNDED,
    )
    assert bonus(referral, "friend:annul").amount == -500
    assert bonus(referral, "referrer:annul").amount == -500
    assert_ledgers_verify(friend, referrer)


def test_annulled_is_final_a_later_visit_pays_nothing(
    referrer, signup, first_visit, clock
):
    friend = signup(referrer.code)
    member_services.visit_cancel(visit=first_visit(friend))
    before = referral_entries()

    clock.shift(timedelta(days=2))
    first_visit(friend)

    referral = referral_of(friend)
    assert referral.status == Status.ANNULLED
    assert len(history(referral)) == 4
    assert referral_entries() == before
    assert balances(referrer) == (0, 0, 0)


def test_rejected_is_final_a_later_visit_pays_nothing(referrer, signup, first_visit):
    # Rejected at sign-up (program off), then the program comes back on
    referral_program(is_active=False)
    friend = signup(referrer.code)
    assert friend.outcome["status"] == "rejected"
    referral_program(is_active=True)

    first_visit(friend)

    referral = referral_of(friend)
    assert (referral.status, referral.reason) == (Status.REJECTED, Reason.PROGRAM_OFF)
    assert history(referral) == [("", Status.REJECTED, Reason.PROGRAM_OFF)]
    assert referral.qualifying_visit_id is None
    assert referral_entries() == []


# --- Idempotency ------------------------------------------------------------------


def test_the_same_checkout_sent_twice_pays_the_referral_once(
    referrer, signup, first_visit
):
    friend = signup(referrer.code)

    first = first_visit(friend, checkout=True, external_id="booking-1")
    again = first_visit(friend, checkout=True, external_id="booking-1")

    assert first.pk == again.pk
    referral = referral_of(friend)
    assert referral.status == Status.REWARDED
    assert referral_entries() == [
        f"referral:{referral.pk}:friend",
        f"referral:{referral.pk}:referrer",
    ]
    assert history(referral) == [SIGNED_UP, QUALIFIED, REWARDED]


def test_replaying_the_visit_reactions_changes_nothing(referrer, signup, first_visit):
    friend = signup(referrer.code)
    visit = first_visit(friend)
    paid = snapshot()

    # The visit recorded again (a replayed reaction): nothing to qualify
    with transaction.atomic():
        referral_visit_recorded(visit=visit, member=friend)
    assert snapshot() == paid

    member_services.visit_cancel(visit=visit)
    annulled = snapshot()

    # Cancelling again, or replaying the reversal: nothing more is taken back
    member_services.visit_cancel(visit=Visit.objects.get(pk=visit.pk))
    with transaction.atomic():
        referral_visit_reversed(visit=Visit.objects.get(pk=visit.pk))

    assert snapshot() == annulled
    referral = referral_of(friend)
    assert [k for k in referral_entries() if k.endswith(":annul")] == [
        f"referral:{referral.pk}:friend:annul",
        f"referral:{referral.pk}:referrer:annul",
    ]
    assert_ledgers_verify(friend, referrer)


# --- The welcome reward and the first-visit discount -------------------------


def base_tier() -> Tier:
    return Tier.objects.order_by("rank").first()


@pytest.mark.parametrize(
    ("discount_percent", "point_value", "stacks", "friend_points"),
    [
        # Not stacking: 5% of 3000 = 150 off at checkout = 150 points less
        ("5", "1.00", False, 350),
        # A point worth 0.40: the 150 off is 375 points (rounded down)
        ("5", "0.40", False, 125),
        # A discount bigger than the welcome reward: nothing left
        ("20", "1.00", False, 0),
        # Stacking: the full welcome reward on top of the discount
        ("5", "1.00", True, 500),
    ],
)
def test_welcome_reward_against_the_first_visit_discount(
    referrer,
    signup,
    first_visit,
    no_earn,
    discount_percent,
    point_value,
    stacks,
    friend_points,
):
    program_set(point_value=Decimal(point_value))
    Tier.objects.filter(pk=base_tier().pk).update(
        first_visit_discount_percent=Decimal(discount_percent)
    )
    referral_program(stacks_with_first_visit=stacks)
    friend = signup(referrer.code)

    # When the first visit goes through the checkout (its discount applied)
    visit = first_visit(friend, checkout=True)

    discount = Decimal("3000.00") * Decimal(discount_percent) / 100
    benefit = VisitBenefit.objects.get(visit=visit)
    assert (benefit.kind, benefit.amount) == ("first_visit", discount)
    assert visit.amount_paid == Decimal("3000.00") - discount
    referral = referral_of(friend)
    assert referral.status == Status.REWARDED
    assert referral.friend_points == friend_points
    # The referrer's reward does not depend on it
    assert referral.referrer_points == 500
    assert bonus(referral, "referrer").amount == 500
    if friend_points:
        assert bonus(referral, "friend").amount == friend_points
    else:
        assert bonus(referral, "friend") is None
    rewarded = referral.events.last().params
    assert rewarded["friend_full"] == 500
    assert Decimal(rewarded["first_visit_discount"]) == (0 if stacks else discount)
    assert balances(friend) == (friend_points, 0, 0)
    assert_ledgers_verify(friend, referrer)


# --- Queries ------------------------------------------------------------------


# stamps · member lock · wallet (none yet) · wallet created · wallet lock · tier
# joined · visit · lines · stats · benefits (welcome discount) · earn · lot ·
# wallet · window stats (+ savepoints of the test's transaction)
BASELINE = 18


def checkout_queries(member, *, location, service) -> int:
    with CaptureQueriesContext(transaction.get_connection()) as ctx:
        checkout_commit(
            member=member, location=location, lines=[VisitLineInput(service=service)]
        )
    return len(ctx.captured_queries)


def test_a_member_without_a_code_costs_the_checkout_no_referral_query(
    settings, location, service, django_assert_num_queries
):
    warm_up, without, with_reaction = MemberFactory.create_batch(3)
    # A warm process (settings, tiers, services cached)…
    checkout_queries(warm_up, location=location, service=service)
    # …the same checkout with the referrals reaction switched off…
    settings.REGULARS_VISIT_REACTIONS = ["rewards.flow.RewardsVisitReaction"]
    baseline = checkout_queries(without, location=location, service=service)
    settings.REGULARS_VISIT_REACTIONS = [
        "rewards.flow.RewardsVisitReaction",
        "referrals.flow.ReferralVisitReaction",
    ]

    # …and on: not one query more for a member who joined without a code
    with django_assert_num_queries(baseline):
        checkout_commit(
            member=with_reaction,
            location=location,
            lines=[VisitLineInput(service=service)],
        )
    # Pinned: a first checkout (wallet created, tier joined, earn) at the time
    # of writing; a change here is a change of the hot path to look at.
    assert baseline == BASELINE


def test_queries_of_a_referred_friends_first_checkout(
    referrer, signup, location, service, django_assert_num_queries
):
    friend = signup(referrer.code)
    checkout_queries(MemberFactory(), location=location, service=service)  # warm
    # 57 as measured when written, against 18 for the same checkout of a member
    # without a code (the test above): the referral adds 39 — the referral
    # (locked), the program, qualified + its event, the referrer's row (locked),
    # the monthly count, the first-visit discount, two bonuses (the referrer's
    # wallet created and joined at the base tier here), rewarded + its event,
    # and two in-app notices (dedupe check, template, insert). Savepoints
    # included. A change here is a change of the hot path: look at it.
    with django_assert_num_queries(57):
        checkout_commit(
            member=friend, location=location, lines=[VisitLineInput(service=service)]
        )
    assert referral_of(friend).status == Status.REWARDED
