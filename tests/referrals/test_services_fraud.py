"""Who cannot be rewarded and what waits for a manager: self-referrals, friends
who are not new clients, the program switched off, wrong and second codes —
and the holds (velocity, shared device or IP, shared or the referrer's card)
with their review (approve / reject)."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from members import access, member_flow, privacy
from members import services as member_services
from members.models import Member, MemberPhone, Message
from referrals.models import Referral, ReferralEvent
from referrals.services import (
    referral_approve,
    referral_code_for,
    referral_register,
    referral_reject,
)
from tests.conftest import error_codes, moscow
from tests.referrals.conftest import (
    assert_ledgers_verify,
    bonus,
    history,
    member_new,
    new_phone,
    referral_entries,
    referral_of,
    referral_program,
)
from tests.rewards.conftest import balances

pytestmark = pytest.mark.django_db

Status = Referral.Status
Reason = ReferralEvent.Reason
Hold = ReferralEvent.Hold
T0 = moscow(2025, 6, 2, 12, 0)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def signed_up_notices(referrer: Member) -> int:
    return Message.objects.filter(
        member=referrer, template_key="referral_signed_up"
    ).count()


def sign_in(member: Member, code: str, **kwargs) -> dict:
    """An existing member signs in to the app with ``code`` (the member flow)."""
    event = member_flow.MemberSignedIn(member=member, referral_code=code, **kwargs)
    member_flow.member_signed_in(event)
    return event.outcome["referral"]


# --- Self-referral ------------------------------------------------------------


def test_the_referrer_signing_in_with_their_own_code_is_a_self_referral(
    referrer, app_sign_in
):
    result = app_sign_in(str(referrer.phone), referral_code=referrer.code)

    assert result.created is False
    assert result.referral["status"] == "rejected"
    assert result.referral["reason"] == "self_referral"
    assert "Self-referral" in result.referral["message"]
    referral = Referral.objects.get(referee=referrer)
    assert (referral.referrer_id, referral.status) == (referrer.pk, Status.REJECTED)
    assert history(referral) == [("", Status.REJECTED, Reason.SELF_REFERRAL)]
    assert signed_up_notices(referrer) == 0


def test_own_code_through_the_service_directly_is_a_self_referral(referrer):
    outcome = referral_register(referee=referrer, code=referrer.code, channel="admin")

    assert (outcome.status, outcome.reason) == ("rejected", "self_referral")
    assert referral_of(referrer).reason == Reason.SELF_REFERRAL


def test_a_friend_on_a_phone_that_was_the_referrers_is_a_self_referral(
    referrer, signup
):
    # Given the referrer moved to a new number
    old_phone = str(referrer.phone)
    member_services.member_update(member=referrer, phone=new_phone())

    # When someone signs up on the old number with the referrer's code
    friend = signup(referrer.code, phone=old_phone)

    assert friend.outcome["status"] == "rejected"
    assert (friend.referral_made.status, friend.referral_made.reason) == (
        Status.REJECTED,
        Reason.SELF_REFERRAL,
    )
    assert signed_up_notices(referrer) == 0


# --- Not a new client -----------------------------------------------------------


def test_the_phone_of_an_erased_member_is_not_new(referrer, signup):
    gone = member_new(first_name="Vera")
    phone = str(gone.phone)
    privacy.member_erase(member=gone)
    # The phone history and the erasure hash a phone alike (from E.164, not
    # from its display format), so either recognises a returning number
    gone.refresh_from_db()
    assert MemberPhone.objects.get(member=gone).phone_hash == gone.erased_phone_hash

    friend = signup(referrer.code, phone=phone)

    assert (friend.outcome["status"], friend.outcome["reason"]) == (
        "rejected",
        "not_new",
    )
    assert history(friend.referral_made) == [("", Status.REJECTED, Reason.NOT_NEW)]


def test_the_phone_of_an_erased_member_without_phone_history_is_not_new(
    referrer, signup
):
    # Members inserted in bulk have no history rows: the erased hash remains
    gone = member_new(first_name="Vera")
    phone = str(gone.phone)
    MemberPhone.objects.filter(member=gone).delete()
    privacy.member_erase(member=gone)

    friend = signup(referrer.code, phone=phone)

    assert friend.referral_made.reason == Reason.NOT_NEW


def test_a_phone_another_member_had_before_changing_it_is_not_new(referrer, signup):
    other = member_new(first_name="Vera")
    phone = str(other.phone)
    member_services.member_update(member=other, phone=new_phone())

    friend = signup(referrer.code, phone=phone)

    assert friend.referral_made.status == Status.REJECTED
    assert friend.referral_made.reason == Reason.NOT_NEW
    assert signed_up_notices(referrer) == 0


def test_an_existing_member_with_a_visit_signing_in_with_a_code_is_not_new(
    referrer, record_visit, app_sign_in
):
    regular = member_new(first_name="Vera")
    record_visit(regular)

    result = app_sign_in(str(regular.phone), referral_code=referrer.code)

    assert (result.referral["status"], result.referral["reason"]) == (
        "rejected",
        "not_new",
    )
    assert referral_of(regular).reason == Reason.NOT_NEW


def test_an_existing_member_who_never_visited_still_counts_as_new(
    referrer, app_sign_in, first_visit
):
    # Signed up in the app without a code, comes back through a friend's link
    newcomer = member_new(first_name="Vera")
    assert newcomer.signup_referral_code == ""

    result = app_sign_in(str(newcomer.phone), referral_code=referrer.code)

    assert result.referral["status"] == "registered"
    newcomer.refresh_from_db()
    assert newcomer.signup_referral_code == referrer.code
    # The visit flow now looks for the referral: the first visit pays out
    first_visit(newcomer)
    assert referral_of(newcomer).status == Status.REWARDED


# --- Program off, wrong and second codes ---------------------------------------


def test_signing_up_while_the_program_is_off_is_rejected(referrer, signup):
    referral_program(is_active=False)

    friend = signup(referrer.code)

    assert (friend.outcome["status"], friend.outcome["reason"]) == (
        "rejected",
        "program_off",
    )
    assert friend.referral_made.reason == Reason.PROGRAM_OFF
    assert signed_up_notices(referrer) == 0


@pytest.mark.parametrize("channel", ["pos", "admin"])
def test_an_unknown_code_at_the_till_or_in_the_admin_refuses_the_sign_up(
    referrer, signup, channel
):
    phone = new_phone()

    with pytest.raises(ValidationError) as caught:
        signup("NO-SUCH-1", phone=phone, channel=channel)

    assert error_codes(caught.value) == {"referral_code_invalid"}
    assert "referral_code" in caught.value.error_dict
    # Nothing was written: no member, no phone history, no referral
    assert not Member.objects.filter(phone=phone).exists()
    assert MemberPhone.objects.count() == 1  # the referrer's
    assert Referral.objects.count() == 0


def test_an_unknown_code_in_the_app_signs_up_and_reports_it(referrer, signup):
    friend = signup("no such 1")

    assert friend.outcome["status"] == "invalid_code"
    assert friend.outcome["code"] == "no such 1"
    assert Member.objects.filter(pk=friend.pk).exists()
    assert Referral.objects.count() == 0


def test_a_blocked_referrers_code_is_unknown(referrer, signup):
    member_services.member_update(member=referrer, status=Member.Status.BLOCKED)

    friend = signup(referrer.code)

    assert friend.outcome["status"] == "invalid_code"
    assert Referral.objects.count() == 0


def test_a_second_code_is_ignored(referrer, signup, app_sign_in):
    other = member_new(first_name="Vera")
    other_code = referral_code_for(member=other).code
    friend = signup(referrer.code)

    again = app_sign_in(str(friend.phone), referral_code=other_code)
    same = sign_in(friend, referrer.code)

    assert again.referral["status"] == same["status"] == "ignored"
    referral = referral_of(friend)
    assert (referral.referrer_id, referral.code) == (referrer.pk, referrer.code)
    assert history(referral) == [("", Status.REGISTERED, Reason.SIGNED_UP)]
    assert Referral.objects.count() == 1
    assert signed_up_notices(referrer) == 1
    assert signed_up_notices(other) == 0


# --- Holds at sign-up ------------------------------------------------------------


def test_many_sign_ups_in_a_short_time_are_held(referrer, signup, settings, clock):
    settings.REFERRAL_HOLD_SIGNUPS = 2
    settings.REFERRAL_HOLD_WINDOW_MINUTES = 30
    first, second = signup(referrer.code), signup(referrer.code)

    # When a third friend signs up within the half hour
    clock.shift(timedelta(minutes=29))
    third = signup(referrer.code)

    assert [f.referral_made.status for f in (first, second)] == [Status.REGISTERED] * 2
    held = referral_of(third)
    assert (held.status, held.reason) == (Status.HELD, Reason.SUSPICIOUS)
    assert held.hold_reasons == [Hold.VELOCITY]
    assert third.outcome["status"] == "held"
    event = held.events.get()
    assert (event.to_status, event.params) == (Status.HELD, {"holds": ["velocity"]})
    # The referrer hears of a held sign-up too (it may still pay)
    assert signed_up_notices(referrer) == 3

    # When the first two have left the window: one sign-up (the third) in it
    clock.shift(timedelta(minutes=2))
    fourth = signup(referrer.code)
    # Then the next one is fine, the one after it (two in the window) is held
    assert fourth.referral_made.status == Status.REGISTERED
    assert signup(referrer.code).referral_made.status == Status.HELD


def test_a_sign_up_from_a_device_the_referrer_used_is_held(referrer, signup):
    access.token_issue(member=referrer, device_id="device-olga")

    elsewhere = signup(referrer.code, device_id="device-boris")
    same = signup(referrer.code, device_id="device-olga")

    assert elsewhere.referral_made.status == Status.REGISTERED
    assert same.referral_made.status == Status.HELD
    assert same.referral_made.hold_reasons == [Hold.SHARED_DEVICE]
    assert same.referral_made.signup_device_id == "device-olga"


def test_a_sign_up_from_another_friends_device_is_held(referrer, signup):
    first = signup(referrer.code, device_id="device-1")
    second = signup(referrer.code, device_id="device-1")

    assert first.referral_made.status == Status.REGISTERED
    assert second.referral_made.hold_reasons == [Hold.SHARED_DEVICE]


def test_a_sign_up_from_the_referrers_ip_is_held(referrer, signup, settings):
    access.token_issue(member=referrer, ip="10.1.2.3")

    other_ip = signup(referrer.code, ip="10.9.9.9")
    same_ip = signup(referrer.code, ip="10.1.2.3")

    assert other_ip.referral_made.status == Status.REGISTERED
    assert same_ip.referral_made.status == Status.HELD
    assert same_ip.referral_made.hold_reasons == [Hold.SHARED_IP]

    # Switched off, the same IP is not suspicious
    settings.REFERRAL_HOLD_SAME_IP = False
    assert signup(referrer.code, ip="10.1.2.3").referral_made.status == (
        Status.REGISTERED
    )


def test_every_hold_found_is_recorded(referrer, signup, settings):
    settings.REFERRAL_HOLD_SIGNUPS = 1
    access.token_issue(member=referrer, device_id="d-1", ip="10.1.2.3")
    signup(referrer.code)

    friend = signup(referrer.code, device_id="d-1", ip="10.1.2.3")

    assert friend.referral_made.hold_reasons == [
        Hold.VELOCITY,
        Hold.SHARED_DEVICE,
        Hold.SHARED_IP,
    ]


# --- Holds at the first visit (cards) ----------------------------------------------


def test_a_card_that_paid_another_friends_first_visit_holds_the_second(
    referrer, signup, first_visit
):
    first, second = signup(referrer.code), signup(referrer.code)
    first_visit(first, card_token="card-4242")

    visit = first_visit(second, card_token="card-4242")

    assert referral_of(first).status == Status.REWARDED
    held = referral_of(second)
    assert (held.status, held.reason) == (Status.HELD, Reason.SUSPICIOUS)
    assert held.hold_reasons == [Hold.SHARED_CARD]
    assert held.qualifying_visit_id == visit.pk
    assert history(held) == [
        ("", Status.REGISTERED, Reason.SIGNED_UP),
        (Status.REGISTERED, Status.QUALIFIED, Reason.FIRST_PAID_VISIT),
        (Status.QUALIFIED, Status.HELD, Reason.SUSPICIOUS),
    ]
    assert bonus(held, "friend") is None
    assert bonus(held, "referrer") is None


def test_different_cards_are_not_suspicious(referrer, signup, first_visit):
    first, second = signup(referrer.code), signup(referrer.code)

    first_visit(first, card_token="card-1")
    first_visit(second, card_token="card-2")

    assert referral_of(second).status == Status.REWARDED


def test_a_first_visit_paid_with_the_referrers_card_is_held(
    referrer, signup, first_visit, record_visit
):
    record_visit(referrer, payment_card_token="card-olga")
    friend = signup(referrer.code)

    first_visit(friend, card_token="card-olga")

    held = referral_of(friend)
    assert held.status == Status.HELD
    assert held.hold_reasons == [Hold.REFERRER_CARD]
    assert referral_entries() == []


# --- Review --------------------------------------------------------------------


@pytest.fixture
def held_friend(referrer, signup):
    """A friend whose sign-up was held (from the referrer's device)."""
    access.token_issue(member=referrer, device_id="device-olga")
    friend = signup(referrer.code, device_id="device-olga")
    assert friend.referral_made.status == Status.HELD
    return friend


def test_a_first_visit_while_held_is_noted_and_stays_held(
    held_friend, first_visit, clock
):
    visit = first_visit(held_friend)

    held = referral_of(held_friend)
    assert held.status == Status.HELD
    assert held.qualifying_visit_id == visit.pk
    assert held.qualified_at == T0
    assert history(held)[-1] == (Status.HELD, Status.HELD, Reason.FIRST_PAID_VISIT)
    assert referral_entries() == []

    # A later visit changes nothing: the first one is what a manager reviews
    clock.shift(timedelta(days=1))
    first_visit(held_friend)

    assert referral_of(held_friend).qualifying_visit_id == visit.pk
    assert referral_of(held_friend).qualified_at == T0
    assert len(history(held)) == 2


def test_approving_after_the_first_visit_pays_out(
    referrer, held_friend, first_visit, reviewer
):
    first_visit(held_friend)

    referral = referral_approve(
        referral=referral_of(held_friend), actor=reviewer, note="Sisters, checked"
    )

    referral = referral_of(held_friend)
    assert (referral.status, referral.cleared) == (Status.REWARDED, True)
    assert (referral.reviewed_by, referral.reviewed_at) == (reviewer, T0)
    assert referral.review_note == "Sisters, checked"
    assert history(referral)[-2:] == [
        (Status.HELD, Status.QUALIFIED, Reason.APPROVED),
        (Status.QUALIFIED, Status.REWARDED, Reason.REWARDED),
    ]
    approved = referral.events.get(reason=Reason.APPROVED)
    assert (approved.actor, approved.actor_name) == (reviewer, "reviewer")
    assert approved.note == "Sisters, checked"
    assert bonus(referral, "friend").actor == reviewer
    assert balances(referrer) == (500, 0, 0)
    assert_ledgers_verify(referrer, held_friend)


def test_approving_over_the_cap_rejects_without_rewards(
    referrer, held_friend, signup, first_visit, reviewer
):
    referral_program(monthly_cap=1)
    first_visit(held_friend)
    # Meanwhile another friend used the month's only slot
    first_visit(signup(referrer.code))

    referral_approve(referral=referral_of(held_friend), actor=reviewer)

    referral = referral_of(held_friend)
    assert (referral.status, referral.reason) == (Status.REJECTED, Reason.OVER_CAP)
    assert referral.events.last().params == {"cap": 1, "month": "2025-06"}
    assert bonus(referral, "friend") is None
    assert balances(referrer) == (500, 0, 0)


def test_approving_before_the_first_visit_waits_for_it_then_pays_without_a_hold(
    referrer, held_friend, first_visit, record_visit, reviewer
):
    referral_approve(referral=referral_of(held_friend), actor=reviewer)

    referral = referral_of(held_friend)
    assert (referral.status, referral.reason) == (Status.REGISTERED, Reason.APPROVED)
    assert referral.cleared is True
    assert referral_entries() == []

    # When the first visit is paid with the referrer's card (a hold, normally)
    record_visit(referrer, payment_card_token="card-olga")
    first_visit(held_friend, card_token="card-olga")

    referral = referral_of(held_friend)
    assert referral.status == Status.REWARDED
    assert history(referral)[-3:] == [
        (Status.HELD, Status.REGISTERED, Reason.APPROVED),
        (Status.REGISTERED, Status.QUALIFIED, Reason.FIRST_PAID_VISIT),
        (Status.QUALIFIED, Status.REWARDED, Reason.REWARDED),
    ]


def test_rejecting_needs_a_note(held_friend, reviewer):
    for note in ("", "   "):
        with pytest.raises(ValidationError) as caught:
            referral_reject(
                referral=referral_of(held_friend), actor=reviewer, note=note
            )
        assert error_codes(caught.value) == {"note_required"}
        assert "note" in caught.value.error_dict

    assert referral_of(held_friend).status == Status.HELD
    assert len(history(referral_of(held_friend))) == 1


def test_rejecting_is_final(held_friend, first_visit, reviewer):
    referral_reject(
        referral=referral_of(held_friend), actor=reviewer, note="  Same person  "
    )

    referral = referral_of(held_friend)
    assert (referral.status, referral.reason) == (
        Status.REJECTED,
        Reason.REJECTED_BY_MANAGER,
    )
    event = referral.events.last()
    assert (event.note, event.actor) == ("Same person", reviewer)
    assert referral.review_note == "Same person"

    first_visit(held_friend)

    assert referral_of(held_friend).status == Status.REJECTED
    assert referral_of(held_friend).qualifying_visit_id is None
    assert referral_entries() == []


def test_a_registered_referral_may_be_rejected_too(referrer, signup, reviewer):
    friend = signup(referrer.code)

    referral_reject(referral=friend.referral_made, actor=reviewer, note="Staff")

    assert referral_of(friend).status == Status.REJECTED


@pytest.mark.parametrize("paid", [False, True])
def test_only_a_held_referral_can_be_approved(
    referrer, signup, first_visit, reviewer, paid
):
    friend = signup(referrer.code)
    if paid:
        first_visit(friend)
    before = history(referral_of(friend))

    with pytest.raises(ValidationError) as caught:
        referral_approve(referral=referral_of(friend), actor=reviewer)

    assert error_codes(caught.value) == {"referral_not_held"}
    assert history(referral_of(friend)) == before


def test_a_rewarded_referral_cannot_be_rejected(
    referrer, signup, first_visit, reviewer
):
    friend = signup(referrer.code)
    first_visit(friend)

    with pytest.raises(ValidationError) as caught:
        referral_reject(referral=referral_of(friend), actor=reviewer, note="Too late")

    assert error_codes(caught.value) == {"referral_not_rejectable"}
    assert referral_of(friend).status == Status.REWARDED


def test_cancelling_a_held_referrals_first_visit_annuls_it(
    held_friend, first_visit, reviewer
):
    visit = first_visit(held_friend)

    member_services.visit_cancel(visit=visit)

    referral = referral_of(held_friend)
    assert (referral.status, referral.reason) == (
        Status.ANNULLED,
        Reason.VISIT_CANCELLED,
    )
    assert referral_entries() == []
    with pytest.raises(ValidationError) as caught:
        referral_approve(referral=referral, actor=reviewer)
    assert error_codes(caught.value) == {"referral_not_held"}
