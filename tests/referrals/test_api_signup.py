"""Signing up with a friend's code through the real API: the app's OTP sign-in
(``referral`` in the answer, never a refusal over a code), the till's
``pos/members`` (an unknown code is a 400 and registers nobody), and the
till's ``pos/visits`` with a card token (a salted hash kept, friends paying
with one card held)."""

import hashlib
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from members import access, otp
from members.hashing import card_token_hash
from members.models import Member, MemberToken, Visit
from members.services import member_update
from referrals.models import Referral, ReferralEvent
from referrals.services import referral_code_for
from tests.conftest import moscow
from tests.referrals.conftest import member_new, new_phone, points_of, referral_of

pytestmark = pytest.mark.django_db

Status = Referral.Status
Hold = ReferralEvent.Hold
T0 = moscow(2025, 6, 2, 12, 0)
CODE = "482915"
REQUEST = reverse("api-otp-request")
VERIFY = reverse("api-otp-verify")
POS_MEMBERS = reverse("pos-member-register")
POS_VISITS = reverse("pos-visits")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def fixed_code(monkeypatch):
    """Every sign-in code drawn is CODE."""
    monkeypatch.setattr(otp, "_code_new", lambda: CODE)


def app_sign_in(client, phone: str, *, ip: str = "10.0.0.2", **body):
    """Ask for a code and sign in with it from ``ip``, as the app does."""
    asked = client.post(REQUEST, {"phone": phone}, REMOTE_ADDR=ip)
    assert asked.status_code == 202, asked.json()
    return client.post(VERIFY, {"phone": phone, "code": CODE, **body}, REMOTE_ADDR=ip)


# --- The app: POST auth/otp/verify ----------------------------------------------


def test_a_new_client_signs_up_with_a_friends_code(api_client, referrer):
    phone = new_phone()

    response = app_sign_in(
        api_client,
        phone,
        referral_code=referrer.code,
        device="Pixel 9",
        device_id="boris-pixel",
    )

    # Then the sign-in succeeds and says the invitation counts
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["created"] is True
    assert body["referral"] == {
        "code": referrer.code,
        "status": "registered",
        "reason": "signed_up",
        "message": "Your friend's invitation counts: you both get a reward "
        "after your first paid visit.",
    }
    # And the referral is recorded with where the sign-up came from
    friend = Member.objects.get(phone=phone)
    referral = referral_of(friend)
    assert (referral.referrer_id, referral.status) == (referrer.pk, Status.REGISTERED)
    assert (referral.channel, referral.code) == ("app", referrer.code)
    assert (referral.signup_device_id, referral.signup_ip) == (
        "boris-pixel",
        "10.0.0.2",
    )
    token = MemberToken.objects.get(member=friend)
    assert (token.device, token.device_id, token.ip) == (
        "Pixel 9",
        "boris-pixel",
        "10.0.0.2",
    )
    assert friend.signup_referral_code == referrer.code


def test_the_code_may_be_typed_in_any_case_with_dashes(api_client, referrer):
    typed = f" {referrer.code[:3].lower()}-{referrer.code[3:].lower()} "

    body = app_sign_in(api_client, new_phone(), referral_code=typed).json()

    assert body["referral"]["status"] == "registered"
    assert body["referral"]["code"] == referrer.code


def test_an_unknown_code_never_blocks_the_sign_in(api_client, referrer):
    phone = new_phone()

    response = app_sign_in(api_client, phone, referral_code="NOPE42")

    assert response.status_code == 200
    body = response.json()
    assert body["created"] is True
    assert body["token"]
    assert body["referral"] == {
        "code": "NOPE42",
        "status": "invalid_code",
        "reason": "",
        "message": "There is no referral code “NOPE42”.",
    }
    assert Member.objects.filter(phone=phone).exists()
    assert not Referral.objects.exists()


def test_without_a_code_there_is_no_referral(api_client):
    body = app_sign_in(api_client, new_phone()).json()

    assert body["created"] is True
    assert body["referral"] is None
    assert not Referral.objects.exists()


def test_a_member_with_visits_signing_in_with_a_code_is_not_new(
    api_client, referrer, record_visit
):
    # Given a client who has been to the salon already
    client_phone = new_phone()
    old_client = member_new(phone=client_phone, first_name="Zoya")
    record_visit(old_client)

    response = app_sign_in(api_client, client_phone, referral_code=referrer.code)

    # Then they are signed in, and the invitation is recorded as rejected
    assert response.status_code == 200
    body = response.json()
    assert body["created"] is False
    assert (body["referral"]["status"], body["referral"]["reason"]) == (
        "rejected",
        "not_new",
    )
    assert body["referral"]["message"] == (
        "This invitation cannot be rewarded: Not a new client."
    )
    referral = referral_of(old_client)
    assert (referral.status, referral.reason) == (Status.REJECTED, "not_new")


def test_a_member_who_never_visited_still_counts_as_new(api_client, referrer):
    # Registered at the till, never came: following a friend's link counts
    phone = new_phone()
    member_new(phone=phone)

    body = app_sign_in(api_client, phone, referral_code=referrer.code).json()

    assert body["created"] is False
    assert body["referral"]["status"] == "registered"


def test_a_second_code_is_ignored(api_client, referrer, signup):
    # Given a friend who joined with Olga's code
    phone = new_phone()
    signup(referrer.code, phone=phone)
    other = member_new(first_name="Irina")
    other_code = referral_code_for(member=other).code

    # When they sign in to the app with another friend's code
    body = app_sign_in(api_client, phone, referral_code=other_code).json()

    # Then the first code stands
    assert body["referral"]["status"] == "ignored"
    assert body["referral"]["message"] == "You already joined with an invitation."
    referral = Referral.objects.get()
    assert referral.referrer_id == referrer.pk
    assert not Referral.objects.filter(referrer=other).exists()


def test_a_sign_up_from_the_referrers_device_is_held(api_client, referrer):
    # Given the referrer signed in to the app on their phone
    referrer_app = app_sign_in(
        api_client, str(referrer.phone), ip="10.0.0.1", device_id="olgas-phone"
    )
    assert referrer_app.status_code == 200

    # When a "friend" signs up on that same phone (another network)
    body = app_sign_in(
        api_client,
        new_phone(),
        ip="10.0.0.2",
        referral_code=referrer.code,
        device_id="olgas-phone",
    ).json()

    # Then the invitation waits for a manager
    assert (body["referral"]["status"], body["referral"]["reason"]) == (
        "held",
        "suspicious",
    )
    assert body["referral"]["message"] == (
        "Your friend's invitation is being checked; we will let you know."
    )
    referral = Referral.objects.get()
    assert referral.status == Status.HELD
    assert referral.hold_reasons == [Hold.SHARED_DEVICE]


def test_a_sign_up_from_the_referrers_ip_is_held(api_client, referrer):
    access.token_issue(member=referrer, device_id="olgas-phone", ip="10.7.7.7")

    body = app_sign_in(
        api_client, new_phone(), ip="10.7.7.7", referral_code=referrer.code
    ).json()

    assert body["referral"]["status"] == "held"
    assert Referral.objects.get().hold_reasons == [Hold.SHARED_IP]


def test_a_sign_up_from_another_device_and_ip_is_not_held(api_client, referrer):
    access.token_issue(member=referrer, device_id="olgas-phone", ip="10.7.7.7")

    body = app_sign_in(
        api_client,
        new_phone(),
        ip="10.8.8.8",
        referral_code=referrer.code,
        device_id="boris-phone",
    ).json()

    assert body["referral"]["status"] == "registered"


# --- The till: POST pos/members -------------------------------------------------


def test_the_till_registers_a_friend_with_a_code(pos_api, location, referrer):
    phone = new_phone()

    response = pos_api(location).post(
        POS_MEMBERS,
        {"phone": phone, "first_name": "Boris", "referral_code": referrer.code.lower()},
    )

    assert response.status_code == 201, response.json()
    friend = Member.objects.get(phone=phone)
    assert response.json()["id"] == friend.pk
    referral = referral_of(friend)
    assert (referral.referrer_id, referral.channel) == (referrer.pk, "pos")
    assert (referral.status, referral.reason) == (Status.REGISTERED, "signed_up")
    assert referral.code == referrer.code
    assert friend.registration_location == location


def test_the_till_refuses_an_unknown_code_and_registers_nobody(pos_api, location):
    phone = new_phone()

    response = pos_api(location).post(
        POS_MEMBERS, {"phone": phone, "first_name": "Boris", "referral_code": "NOPE42"}
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "referral_code_invalid"
    assert body["message"] == "There is no referral code “NOPE42”."
    assert body["fields"]["referral_code"] == [
        {"code": "referral_code_invalid", "message": body["message"]}
    ]
    assert not Member.objects.filter(phone=phone).exists()
    assert not Referral.objects.exists()


def test_the_till_refuses_the_code_of_a_blocked_member(pos_api, location, referrer):
    member_update(member=referrer, status=Member.Status.BLOCKED)

    response = pos_api(location).post(
        POS_MEMBERS,
        {"phone": new_phone(), "first_name": "Boris", "referral_code": referrer.code},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "referral_code_invalid"


# --- The till: POST pos/visits with a card token --------------------------------


def pos_visit(till, member: Member, external_id: str, service, card_token: str = ""):
    body = {
        "external_id": external_id,
        "member_id": member.pk,
        "lines": [{"service": service.code}],
    }
    if card_token:
        body["card_token"] = card_token
    return till.post(POS_VISITS, body)


def test_a_card_token_is_kept_only_as_a_salted_hash(pos_api, location, service, member):
    token = "tok_4242_visa_fingerprint"

    response = pos_visit(pos_api(location), member, "b-1", service, card_token=token)

    assert response.status_code == 201, response.json()
    visit = Visit.objects.get(external_id="b-1")
    assert visit.payment_card_hash == card_token_hash(token)
    assert visit.payment_card_hash != token
    assert token not in visit.payment_card_hash
    assert visit.payment_card_hash != hashlib.sha256(token.encode()).hexdigest()
    assert token not in response.content.decode()


def test_without_a_card_token_no_hash_is_kept(pos_api, location, service, member):
    pos_visit(pos_api(location), member, "b-1", service)

    assert Visit.objects.get(external_id="b-1").payment_card_hash == ""


def test_the_first_visits_answer_counts_the_friends_referral_bonus(
    pos_api, location, service, referrer, signup
):
    # Given a friend who signed up with a code
    friend = signup(referrer.code)
    till = pos_api(location)

    # When the till records their first paid visit: the visit's points and, in
    # the same transaction, the friend's referral bonus
    response = pos_visit(till, friend, "b-1", service)

    # Then the answer's balance is the wallet's, bonus included
    assert response.status_code == 201, response.json()
    body = response.json()
    bonus = referral_of(friend).friend_points
    assert bonus > 0
    assert body["member"]["points_balance"] == body["points_earned"] + bonus
    available, pending, _debt = points_of(friend)
    assert body["member"]["points_balance"] == available + pending
    # And a retry replays that answer, the one kept with the visit
    again = pos_visit(till, friend, "b-1", service)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == body


def test_two_friends_paying_with_one_card_the_second_is_held(
    pos_api, location, service, referrer, signup
):
    till = pos_api(location)
    first, second = signup(referrer.code), signup(referrer.code)
    card = "tok_same_card"

    assert pos_visit(till, first, "b-1", service, card_token=card).status_code == 201
    response = pos_visit(till, second, "b-2", service, card_token=card)

    # The visit is recorded as usual; only the referral waits for a manager
    assert response.status_code == 201, response.json()
    assert referral_of(first).status == Status.REWARDED
    held = referral_of(second)
    assert held.status == Status.HELD
    assert held.hold_reasons == [Hold.SHARED_CARD]
    assert held.qualifying_visit.external_id == "b-2"
    assert held.friend_points == held.referrer_points == 0


def test_friends_paying_with_their_own_cards_are_rewarded(
    pos_api, location, service, referrer, signup
):
    till = pos_api(location)
    first, second = signup(referrer.code), signup(referrer.code)

    pos_visit(till, first, "b-1", service, card_token="tok_boris")
    pos_visit(till, second, "b-2", service, card_token="tok_vera")

    assert referral_of(first).status == Status.REWARDED
    assert referral_of(second).status == Status.REWARDED


def test_a_friend_paying_with_the_referrers_card_is_held(
    pos_api, location, service, referrer, signup
):
    till = pos_api(location)
    pos_visit(till, referrer, "olga-1", service, card_token="tok_olga")
    friend = signup(referrer.code)

    response = pos_visit(till, friend, "b-1", service, card_token="tok_olga")

    assert response.status_code == 201
    referral = referral_of(friend)
    assert referral.status == Status.HELD
    assert referral.hold_reasons == [Hold.REFERRER_CARD]
    assert Decimal(response.json()["visit"]["amount_paid"]) > 0
