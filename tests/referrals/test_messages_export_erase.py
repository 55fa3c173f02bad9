"""What the referrals app tells people (sign-up and payout notices, in the inbox
and on the channels they opted into, once each), what a member's data export
holds about referrals, and what erasure forgets."""

import json

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction

from members import member_flow, privacy
from members import services as member_services
from members.models import Message
from referrals.export import export_section
from referrals.models import Referral, ReferralCode, ReferralEvent
from referrals.services import (
    _notify,
    referral_code_check,
    referral_code_for,
    referral_visit_recorded,
)
from rewards.models import Tier
from tests.conftest import error_codes, moscow
from tests.referrals.conftest import (
    history,
    member_new,
    referral_of,
    referral_program,
)

pytestmark = pytest.mark.django_db

Status = Referral.Status
T0 = moscow(2025, 6, 2, 12, 0)
T0_ISO = "2025-06-02T09:00:00+00:00"  # times are exported in UTC


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def notices(member, key=None) -> list[tuple[str, str]]:
    """(template, channel) of the messages to ``member``, sorted."""
    rows = Message.objects.filter(member=member)
    if key:
        rows = rows.filter(template_key=key)
    return sorted(rows.values_list("template_key", "channel"))


# --- Messages -------------------------------------------------------------------


def test_the_referrer_hears_of_a_friends_sign_up_in_the_inbox(referrer, signup):
    friend = signup(referrer.code, first_name="Boris", last_name="Ivanov")

    assert notices(referrer) == [("referral_signed_up", "in_app")]
    message = Message.objects.get(member=referrer)
    assert message.context == {"friend": "Boris I."}
    assert message.body.startswith("Boris I. joined with your invitation.")
    assert message.dedupe_key == f"referral_signed_up:{friend.referral_made.pk}:in_app"
    assert message.status == Message.Status.QUEUED
    assert notices(friend) == []


def test_a_referrer_who_opted_into_sms_is_texted_too(signup):
    referrer = member_new(first_name="Olga", consents={"sms": True})
    code = referral_code_for(member=referrer).code

    signup(code, first_name="", last_name="", phone="+79250001234")

    assert notices(referrer) == [
        ("referral_signed_up", "in_app"),
        ("referral_signed_up", "sms"),
    ]
    sms = Message.objects.get(member=referrer, channel="sms")
    assert sms.recipient == referrer.phone.as_e164
    # A friend without a name is named by the phone's last digits only
    assert sms.body == (
        "Regulars: •••1234 joined with your invitation. You get your reward "
        "after their first paid visit."
    )


def test_the_notice_is_in_the_referrers_language(referrer, signup):
    member_services.member_update(member=referrer, language="ru")

    signup(referrer.code, first_name="Boris", last_name="Ivanov")

    message = Message.objects.get(member=referrer)
    assert message.language == "ru"
    assert message.body.startswith("Boris I. присоединился(-ась)")


def test_a_rejected_sign_up_notifies_nobody(referrer, signup):
    referral_program(is_active=False)

    friend = signup(referrer.code)

    assert friend.referral_made.status == Status.REJECTED
    assert Message.objects.filter(template_key__startswith="referral_").count() == 0


def test_the_payout_thanks_the_referrer_and_welcomes_the_friend(
    referrer, signup, first_visit
):
    friend = signup(
        referrer.code, first_name="Boris", last_name="Ivanov", consents={"sms": True}
    )

    first_visit(friend)

    referral = referral_of(friend)
    assert notices(referrer) == [
        ("referral_rewarded", "in_app"),
        ("referral_signed_up", "in_app"),
    ]
    thanks = Message.objects.get(member=referrer, template_key="referral_rewarded")
    assert thanks.context == {"points": 500, "friend": "Boris I.", "days": 60}
    assert thanks.body == (
        "500 points for inviting Boris I.: thank you! They are valid for 60 days."
    )
    assert thanks.dedupe_key == f"referral_rewarded:{referral.pk}:in_app"
    # The friend opted into texts: the inbox and an SMS
    assert notices(friend) == [
        ("referral_welcome", "in_app"),
        ("referral_welcome", "sms"),
    ]
    welcome = Message.objects.get(member=friend, channel="in_app")
    assert welcome.context == {"points": 500, "days": 60}
    assert "500 points for coming on a friend's invitation" in welcome.body


def test_no_welcome_when_the_first_visit_discount_used_it_up(
    referrer, signup, first_visit
):
    Tier.objects.filter(rank=0).update(first_visit_discount_percent=50)
    friend = signup(referrer.code)

    first_visit(friend, checkout=True)

    assert referral_of(friend).friend_points == 0
    assert notices(friend) == []
    assert notices(referrer, "referral_rewarded") == [("referral_rewarded", "in_app")]


def test_notices_are_sent_once_whatever_runs_again(referrer, signup, first_visit):
    friend = signup(referrer.code)
    visit = first_visit(friend)
    referral = referral_of(friend)
    sent = Message.objects.count()

    # The friend signs in again with the code, the visit reaction is replayed,
    # and the notices are sent again with their keys
    event = member_flow.MemberSignedIn(member=friend, referral_code=referrer.code)
    member_flow.member_signed_in(event)
    with transaction.atomic():
        referral_visit_recorded(visit=visit, member=friend)
    _notify(
        referrer,
        "referral_rewarded",
        {"points": 1, "friend": "x", "days": 1},
        dedupe=f"referral_rewarded:{referral.pk}",
    )
    _notify(
        referrer,
        "referral_signed_up",
        {"friend": "x"},
        dedupe=f"referral_signed_up:{referral.pk}",
    )

    assert event.outcome["referral"]["status"] == "ignored"
    assert Message.objects.count() == sent
    assert (
        Message.objects.get(template_key="referral_rewarded").context["points"] == 500
    )


# --- Export ------------------------------------------------------------------------


def test_the_export_holds_the_code_the_invites_and_the_referral_joined_with(
    referrer, signup, first_visit, clock
):
    friend = signup(
        referrer.code,
        first_name="Boris",
        last_name="Ivanov",
        device_id="device-boris",
        ip="10.0.0.5",
    )
    first_visit(friend)
    clock.shift(3600)
    signup(referrer.code, first_name="", last_name="", phone="+79250005678")

    mine = export_section(referrer)
    theirs = export_section(friend)

    assert mine == {
        "referrals": {
            "code": referrer.code,
            "joined_with": None,
            "invited": [
                {
                    "friend": "Boris I.",
                    "status": "rewarded",
                    "registered_at": T0_ISO,
                    "rewarded_at": T0_ISO,
                    "points": 500,
                },
                {
                    "friend": "•••5678",
                    "status": "registered",
                    "registered_at": "2025-06-02T10:00:00+00:00",
                    "rewarded_at": None,
                    "points": 0,
                },
            ],
        }
    }
    assert theirs == {
        "referrals": {
            "code": None,
            "joined_with": {
                "code": referrer.code,
                "status": "rewarded",
                "registered_at": T0_ISO,
                "rewarded_at": T0_ISO,
                "points": 500,
                "signup_device_id": "device-boris",
                "signup_ip": "10.0.0.5",
            },
            "invited": [],
        }
    }
    # Never the friend's phone, and the whole export stays JSON
    assert str(friend.phone.as_e164) not in json.dumps(mine)
    full = privacy.member_export(member=referrer)
    assert full["referrals"] == json.loads(json.dumps(mine["referrals"]))


# --- Erasure ------------------------------------------------------------------------


def test_erasing_a_friend_forgets_their_code_device_and_ip_but_keeps_the_referral(
    referrer, signup, first_visit
):
    friend = signup(referrer.code, device_id="device-boris", ip="10.0.0.5")
    first_visit(friend)
    referral_code_for(member=friend)
    phone = str(friend.phone)

    privacy.member_erase(member=friend)

    referral = referral_of(friend)
    assert (referral.status, referral.friend_points) == (Status.REWARDED, 500)
    assert (referral.signup_device_id, referral.signup_ip) == ("", None)
    assert len(history(referral)) == 3
    assert not ReferralCode.objects.filter(member=friend).exists()
    # The referrer's export no longer names them
    invited = export_section(referrer)["referrals"]["invited"]
    assert [i["friend"] for i in invited] == ["Deleted account"]
    assert (invited[0]["status"], invited[0]["points"]) == ("rewarded", 500)

    # When the same phone signs up again with a code: not a new client
    again = signup(referrer.code, phone=phone)

    assert (again.referral_made.status, again.referral_made.reason) == (
        Status.REJECTED,
        ReferralEvent.Reason.NOT_NEW,
    )


def test_an_erased_referrers_code_stops_working_and_their_invites_stay(
    referrer, signup, first_visit
):
    friend = signup(referrer.code)
    first_visit(friend)

    privacy.member_erase(member=referrer)

    assert not ReferralCode.objects.filter(member=referrer).exists()
    with pytest.raises(ValidationError) as caught:
        referral_code_check(referrer.code)
    assert error_codes(caught.value) == {"referral_code_invalid"}
    assert signup(referrer.code).outcome["status"] == "invalid_code"
    assert referral_of(friend).status == Status.REWARDED
    assert referral_of(friend).referrer_points == 500
