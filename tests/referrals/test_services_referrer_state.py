"""A referrer blocked or erased between the friend's sign-up and first visit."""

import pytest

from members import privacy
from members import services as member_services
from referrals.models import Referral, ReferralEvent
from referrals.services import referral_approve
from tests.referrals.conftest import (
    assert_ledgers_verify,
    bonus,
    points_of,
    referral_of,
)

pytestmark = pytest.mark.django_db

Status = Referral.Status
Hold = ReferralEvent.Hold


def test_a_blocked_referrer_waits_for_a_manager(
    referrer, signup, first_visit, reviewer
):
    # Given a friend signed up, then the referrer was blocked
    friend = signup(referrer.code)
    member_services.member_update(member=referrer, status="blocked")

    # When the friend comes for the first paid visit
    first_visit(friend)

    # Then nothing is paid: the referral waits in the review queue
    referral = referral_of(friend)
    assert referral.status == Status.HELD
    assert referral.hold_reasons == [Hold.REFERRER_BLOCKED]
    assert bonus(referral, "friend") is None
    assert bonus(referral, "referrer") is None

    # And a manager's approval pays both sides through the same service
    referral_approve(referral=referral, actor=reviewer, note="Blocked by mistake")
    referral = referral_of(friend)
    assert referral.status == Status.REWARDED
    assert (referral.friend_points, referral.referrer_points) == (500, 500)
    assert_ledgers_verify(friend, referrer)


def test_an_erased_referrer_gets_nothing_and_the_friend_is_welcomed(
    referrer, signup, first_visit
):
    friend = signup(referrer.code)
    privacy.member_erase(member=referrer)

    first_visit(friend)

    referral = referral_of(friend)
    assert referral.status == Status.REWARDED
    assert (referral.friend_points, referral.referrer_points) == (500, 0)
    assert bonus(referral, "referrer") is None
    assert points_of(referrer)[0] == 0
    assert_ledgers_verify(friend)
