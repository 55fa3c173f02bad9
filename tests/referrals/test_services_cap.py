"""The monthly cap: a referrer is rewarded for at most ``monthly_cap`` friends
per calendar month (Europe/Moscow, by when the reward was paid). Friends who
qualify beyond it are recorded, rejected over_cap, with no reward for either
side; annulled rewards free their slot."""

from datetime import timedelta

import pytest
import time_machine

from members import services as member_services
from referrals import selectors
from referrals.models import Referral, ReferralEvent
from referrals.services import referral_code_for
from tests.conftest import moscow
from tests.referrals.conftest import (
    assert_ledgers_verify,
    bonus,
    history,
    member_new,
    referral_entries,
    referral_of,
    referral_program,
)
from tests.rewards.conftest import balances

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("velocity_off")]

Status = Referral.Status
Reason = ReferralEvent.Reason


def test_the_month_ends_at_midnight_in_moscow(referrer, signup, first_visit):
    referral_program(monthly_cap=1)
    with time_machine.travel(moscow(2025, 1, 31, 12, 0), tick=False) as clock:
        january, late_january, february = (signup(referrer.code) for _ in range(3))

        # A reward at 23:59 on the 31st counts for January…
        clock.move_to(moscow(2025, 1, 31, 23, 59))
        first_visit(january)
        # …so another friend the same minute is over the cap
        clock.move_to(moscow(2025, 1, 31, 23, 59, 59))
        first_visit(late_january)
        # …and at 00:00 on the 1st (21:00 UTC) February starts with none used
        clock.move_to(moscow(2025, 2, 1, 0, 0))
        first_visit(february)

    assert referral_of(january).status == Status.REWARDED
    assert referral_of(january).rewarded_at == moscow(2025, 1, 31, 23, 59)
    over = referral_of(late_january)
    assert (over.status, over.reason) == (Status.REJECTED, Reason.OVER_CAP)
    assert over.events.last().params == {"cap": 1, "month": "2025-01"}
    assert referral_of(february).status == Status.REWARDED
    at = moscow(2025, 1, 15)
    assert selectors.rewarded_in_month(referrer_id=referrer.pk, at=at) == 1
    assert (
        selectors.rewarded_in_month(referrer_id=referrer.pk, at=at.replace(month=2))
        == 1
    )
    assert balances(referrer) == (1000, 0, 0)


def test_over_the_cap_nobody_is_rewarded_but_the_invite_is_recorded(
    referrer, signup, first_visit
):
    referral_program(monthly_cap=2)
    with time_machine.travel(moscow(2025, 6, 10, 12, 0), tick=False):
        friends = [signup(referrer.code) for _ in range(3)]
        for friend in friends:
            first_visit(friend)

    statuses = [referral_of(f).status for f in friends]
    assert statuses == [Status.REWARDED, Status.REWARDED, Status.REJECTED]
    over = referral_of(friends[2])
    assert history(over) == [
        ("", Status.REGISTERED, Reason.SIGNED_UP),
        (Status.REGISTERED, Status.QUALIFIED, Reason.FIRST_PAID_VISIT),
        (Status.QUALIFIED, Status.REJECTED, Reason.OVER_CAP),
    ]
    # The visit that qualified is on record; no reward, no points for anyone
    assert over.qualifying_visit is not None
    assert (over.referrer_points, over.friend_points, over.rewarded_at) == (0, 0, None)
    assert bonus(over, "friend") is None
    assert bonus(over, "referrer") is None
    assert len(referral_entries()) == 4
    assert balances(referrer) == (1000, 0, 0)
    # Rejected is final: cancelling the visit that went over the cap changes
    # nothing
    member_services.visit_cancel(visit=over.qualifying_visit)
    assert (referral_of(friends[2]).status, len(history(over))) == (
        Status.REJECTED,
        3,
    )
    stats = selectors.referrer_stats(member=referrer, at=moscow(2025, 6, 10, 12, 0))
    assert (stats.invited, stats.rewarded, stats.cap_remaining) == (3, 2, 0)
    assert_ledgers_verify(referrer, *friends)


def test_an_annulled_reward_frees_its_slot(referrer, signup, first_visit):
    referral_program(monthly_cap=1)
    with time_machine.travel(moscow(2025, 6, 10, 12, 0), tick=False) as clock:
        first, second = signup(referrer.code), signup(referrer.code)
        visit = first_visit(first)
        clock.shift(timedelta(hours=1))
        member_services.visit_cancel(visit=visit)

        clock.shift(timedelta(hours=1))
        first_visit(second)

    assert referral_of(first).status == Status.ANNULLED
    assert referral_of(second).status == Status.REWARDED
    assert balances(referrer) == (500, 0, 0)
    assert_ledgers_verify(referrer)


def test_the_cap_follows_the_program_when_it_changes(referrer, signup, first_visit):
    referral_program(monthly_cap=1)
    with time_machine.travel(moscow(2025, 6, 10, 12, 0), tick=False):
        friends = [signup(referrer.code) for _ in range(4)]
        first_visit(friends[0])
        first_visit(friends[1])

        # The manager raises the cap mid-month: the next friend fits…
        referral_program(monthly_cap=3)
        first_visit(friends[2])
        # …and lowers it again: over the cap once more
        referral_program(monthly_cap=2)
        first_visit(friends[3])

    assert [referral_of(f).status for f in friends] == [
        Status.REWARDED,
        Status.REJECTED,
        Status.REWARDED,
        Status.REJECTED,
    ]
    assert referral_of(friends[3]).events.last().params["cap"] == 2


def test_the_cap_is_per_referrer(referrer, signup, first_visit):
    referral_program(monthly_cap=1)
    other = member_new(first_name="Vera")
    other_code = referral_code_for(member=other).code
    with time_machine.travel(moscow(2025, 6, 10, 12, 0), tick=False):
        mine, theirs = signup(referrer.code), signup(other_code)
        first_visit(mine)
        first_visit(theirs)

    assert referral_of(mine).status == referral_of(theirs).status == Status.REWARDED
