"""Races the referral services must win: real threads, real row locks, PostgreSQL.

A referral pays out once whatever the timing: the same first visit sent
twice, two first visits at once, many friends of one referrer against the
monthly cap, a manager approving while the visit is cancelled. Each thread
has its own connection and waits at a barrier; the ledgers must verify
afterwards (wallet = lots, lots = allocations, the hash chain contiguous).
"""

from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from members import access
from members import services as member_services
from members.models import Visit
from members.services import VisitLineInput
from referrals.models import Referral, ReferralEvent
from referrals.services import referral_approve
from rewards.services import checkout_commit
from tests.conftest import error_codes
from tests.members.test_concurrency import errors_of, race
from tests.referrals.conftest import (
    assert_ledgers_verify,
    bonus,
    history,
    points_of,
    referral_entries,
    referral_of,
    referral_program,
)
from tests.rewards.conftest import balances

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite has no row locks to race on",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8
ROUNDS = 8
Status = Referral.Status
Reason = ReferralEvent.Reason


@pytest.fixture(autouse=True)
def shipped_defaults(referral_defaults, velocity_off):
    """Transactional tests empty the tables: put the tiers, settings and the
    referral message templates back. Many friends sign up within the hour
    here: no velocity hold."""


def one_reward_pair(referral: Referral) -> None:
    """Exactly the two bonuses of ``referral`` in the ledger, nothing else."""
    assert referral_entries() == [
        f"referral:{referral.pk}:friend",
        f"referral:{referral.pk}:referrer",
    ]


def test_the_same_first_visit_sent_at_once_pays_the_referral_once(
    referrer, signup, location, service
):
    friend = signup(referrer.code)

    outcomes = race(
        THREADS,
        lambda _i: checkout_commit(
            member=friend,
            location=location,
            lines=[VisitLineInput(service=service)],
            source=Visit.Source.POS,
            external_id="booking-42",
        ),
    )

    assert errors_of(outcomes) == []
    results = [value for _kind, value in outcomes]
    assert Counter(r.created for r in results) == {True: 1, False: THREADS - 1}
    visit = Visit.objects.get()
    referral = referral_of(friend)
    assert (referral.status, referral.qualifying_visit_id) == (
        Status.REWARDED,
        visit.pk,
    )
    one_reward_pair(referral)
    assert [reason for _f, _t, reason in history(referral)] == [
        Reason.SIGNED_UP,
        Reason.FIRST_PAID_VISIT,
        Reason.REWARDED,
    ]
    assert balances(referrer) == (500, 0, 0)
    assert_ledgers_verify(friend, referrer)


def test_two_different_first_visits_at_once_pay_once(
    referrer, signup, location, service, addon
):
    friend = signup(referrer.code)
    bookings = [
        [VisitLineInput(service=service)],
        [VisitLineInput(service=service), VisitLineInput(service=addon)],
    ]

    outcomes = race(
        2,
        lambda i: checkout_commit(
            member=friend,
            location=location,
            lines=bookings[i],
            source=Visit.Source.POS,
            external_id=f"booking-{i}",
        ),
    )

    assert errors_of(outcomes) == []
    assert Visit.objects.filter(member=friend).count() == 2
    referral = referral_of(friend)
    assert referral.status == Status.REWARDED
    assert referral.qualifying_visit_id in {v.visit.pk for _k, v in outcomes}
    one_reward_pair(referral)
    assert len(history(referral)) == 3
    assert_ledgers_verify(friend, referrer)


def test_friends_qualifying_at_once_are_rewarded_up_to_the_cap(
    referrer, signup, first_visit
):
    cap = THREADS - 2
    referral_program(monthly_cap=cap)
    friends = [signup(referrer.code) for _ in range(THREADS)]

    outcomes = race(THREADS, lambda i: first_visit(friends[i], checkout=True))

    assert errors_of(outcomes) == []
    referrals = [referral_of(f) for f in friends]
    assert Counter((r.status, r.reason) for r in referrals) == {
        (Status.REWARDED, Reason.REWARDED): cap,
        (Status.REJECTED, Reason.OVER_CAP): THREADS - cap,
    }
    rewarded = [r for r in referrals if r.status == Status.REWARDED]
    assert len([k for k in referral_entries() if k.endswith(":referrer")]) == cap
    for r in referrals:
        paid = r.status == Status.REWARDED
        assert (bonus(r, "referrer") is not None) is paid
        assert (bonus(r, "friend") is not None) is paid
    assert balances(referrer) == (500 * cap, 0, 0)
    assert {r.referrer_points for r in rewarded} == {500}
    assert_ledgers_verify(referrer, *friends)


def test_approving_while_the_first_visit_is_cancelled_ends_consistent(
    referrer, signup, first_visit, reviewer
):
    # Several rounds: either order may win each time, both must be consistent
    access.token_issue(member=referrer, device_id="device-olga")
    orders = Counter()
    for round_ in range(ROUNDS):
        friend = signup(referrer.code, device_id="device-olga")
        visit = first_visit(friend, external_id=f"round-{round_}")
        held = referral_of(friend)
        assert (held.status, held.qualifying_visit_id) == (Status.HELD, visit.pk)

        outcomes = race(
            2,
            lambda i, held=held, visit=visit: (
                referral_approve(referral=held, actor=reviewer, note="ok")
                if i == 0
                else member_services.visit_cancel(visit=visit, reason="no-show")
            ),
        )

        referral = referral_of(friend)
        assert referral.status == Status.ANNULLED
        assert referral.reason == Reason.VISIT_CANCELLED
        approve, _cancel = outcomes
        if approve[0] == "ok":
            # Approved first: paid, then both bonuses taken back
            orders["approved first"] += 1
            assert errors_of(outcomes) == []
            assert [t for _f, t, _r in history(referral)][-3:] == [
                Status.QUALIFIED,
                Status.REWARDED,
                Status.ANNULLED,
            ]
            for side in ("friend", "referrer"):
                assert bonus(referral, side).amount == 500
                assert bonus(referral, f"{side}:annul").amount == -500
        else:
            # Cancelled first: nothing was paid, the approval was refused
            orders["cancelled first"] += 1
            error = approve[1]
            assert isinstance(error, ValidationError)
            assert error_codes(error) == {"referral_not_held"}
            assert history(referral)[-1] == (
                Status.HELD,
                Status.ANNULLED,
                Reason.VISIT_CANCELLED,
            )
            assert bonus(referral, "friend") is None
            assert bonus(referral, "referrer") is None
        assert balances(friend) == (0, 0, 0)
        assert_ledgers_verify(friend, referrer)
    # Which order won each round is up to the scheduler (both are seen in
    # practice); every round must have ended in one of the two.
    assert sum(orders.values()) == ROUNDS
    assert points_of(referrer) == (0, 0, 0)
