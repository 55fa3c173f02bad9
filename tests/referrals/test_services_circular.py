"""Circles of invitations are refused: the referrer joined through the friend."""

import pytest

from members.member_flow import Channel
from referrals.models import Referral, ReferralEvent
from referrals.services import referral_code_for, referral_register
from tests.referrals.conftest import member_new

pytestmark = pytest.mark.django_db

Status = Referral.Status
Reason = ReferralEvent.Reason


def code(member) -> str:
    return referral_code_for(member=member).code


def invite(friend, referrer):
    return referral_register(
        referee=friend, code=code(referrer), channel=Channel.APP, strict=False
    )


def test_two_members_cannot_invite_each_other(velocity_off):
    # Given Xenia, enrolled at the till with no visit yet, invited Yuri
    xenia = member_new(first_name="Xenia")
    yuri = member_new(first_name="Yuri")
    assert invite(yuri, xenia).status == Status.REGISTERED

    # When Xenia signs in to the app with Yuri's code
    outcome = invite(xenia, yuri)

    # Then it is recorded as refused, never rewarded
    assert (outcome.status, outcome.reason) == (Status.REJECTED, Reason.CIRCULAR)
    assert Referral.objects.get(referee=xenia).status == Status.REJECTED


def test_a_longer_circle_is_refused_too(velocity_off):
    x, y, z = (member_new(first_name=n) for n in ("Xenia", "Yuri", "Zoya"))
    assert invite(y, x).status == Status.REGISTERED  # x invited y
    assert invite(z, y).status == Status.REGISTERED  # y invited z

    assert invite(x, z).reason == Reason.CIRCULAR  # z inviting x closes the circle


def test_a_chain_without_a_circle_counts(velocity_off):
    x, y, z = (member_new(first_name=n) for n in ("Xenia", "Yuri", "Zoya"))
    assert invite(y, x).status == Status.REGISTERED

    # Zoya, who invited nobody, joins through Yuri: a chain, not a circle
    assert invite(z, y).status == Status.REGISTERED
