"""POST auth/otp/request, auth/otp/verify and auth/logout over HTTP: answers,
error codes, no enumeration, throttling."""

import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse

from members import access, otp
from members.api import member as member_api_views
from members.models import Member, MemberToken, Message, OtpChallenge
from tests.conftest import moscow
from tests.factories import MemberFactory
from tests.members.test_otp import CODE, PHONE, TEST_CODE, TEST_PHONE

pytestmark = pytest.mark.django_db

T0 = moscow(2025, 6, 2, 12, 0)
REQUEST = reverse("api-otp-request")
VERIFY = reverse("api-otp-verify")
LOGOUT = reverse("api-logout")


@pytest.fixture(autouse=True)
def fixed_code(monkeypatch):
    """Every code drawn is CODE."""
    monkeypatch.setattr(otp, "_code_new", lambda: CODE)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def ask(client, phone=PHONE, **extra):
    return client.post(REQUEST, {"phone": phone}, **extra)


def sign_in(client, code=CODE, phone=PHONE, **body):
    return client.post(VERIFY, {"phone": phone, "code": code, **body})


# --- Request ----------------------------------------------------------------


def test_asking_for_a_code_answers_202_with_the_timings(api_client, clock):
    response = ask(api_client, phone="8 (916) 111-22-33")

    assert response.status_code == 202
    assert response.json() == {"sent": True, "expires_in": 300, "resend_in": 60}
    assert OtpChallenge.objects.get().phone == PHONE
    assert Message.objects.get().recipient == PHONE


def test_the_answer_is_the_same_for_members_and_strangers(api_client, clock):
    MemberFactory(phone="+79161112233")

    for_member = ask(api_client, phone="+79161112233")
    for_stranger = ask(api_client, phone="+79161112244")

    assert for_member.status_code == for_stranger.status_code == 202
    assert for_member.json() == for_stranger.json()
    assert for_member.headers.keys() == for_stranger.headers.keys()


@pytest.mark.parametrize(
    ("body", "code", "answer"),
    [
        # Not a phone number: the rule's own code answers (docs/api.md).
        ({"phone": "12345"}, "invalid_phone", "invalid_phone"),
        ({"phone": "call me"}, "invalid_phone", "invalid_phone"),
        # The request's shape is wrong: ``invalid``, the detail in fields.
        ({"phone": ""}, "blank", "invalid"),
        ({}, "required", "invalid"),
        ({"phone": "1" * 40}, "max_length", "invalid"),
    ],
)
def test_a_bad_phone_is_a_400_on_the_phone_field(api_client, body, code, answer):
    response = api_client.post(REQUEST, body)

    assert response.status_code == 400
    assert response.json()["code"] == answer
    assert response.json()["fields"]["phone"][0]["code"] == code
    assert not OtpChallenge.objects.exists()


def test_asking_again_too_soon_is_a_429_with_the_wait(api_client, clock):
    ask(api_client)
    clock.shift(15)

    response = ask(api_client)

    assert response.status_code == 429
    assert response.json()["code"] == "otp_too_soon"
    assert response.json()["retry_after"] == 45
    assert response["Retry-After"] == "45"


def test_past_the_hourly_cap_is_a_429(api_client, clock):
    with override_settings(OTP_MAX_PER_PHONE_HOUR=1):
        ask(api_client)
        clock.shift(61)
        response = ask(api_client, REMOTE_ADDR="10.9.9.9")

    assert response.status_code == 429
    assert response.json()["code"] == "otp_rate_limited"


def test_the_ip_throttle_answers_429_throttled(api_client, monkeypatch):
    # Given a per-IP rate of 2 requests (different phones: not the phone limit)
    monkeypatch.setattr(
        member_api_views.OtpRequestIpThrottle, "rate", "2/hour", raising=False
    )
    assert ask(api_client, phone="+79161110001").status_code == 202
    assert ask(api_client, phone="+79161110002").status_code == 202

    # When the same IP asks a third time
    response = ask(api_client, phone="+79161110003")

    # Then it is throttled; another IP is not
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert response.json()["retry_after"] > 0
    other_ip = ask(api_client, phone="+79161110003", REMOTE_ADDR="10.1.1.1")
    assert other_ip.status_code == 202


def test_the_phone_throttle_holds_across_ips(api_client, monkeypatch, clock):
    monkeypatch.setattr(
        member_api_views.OtpRequestPhoneThrottle, "rate", "1/hour", raising=False
    )
    assert ask(api_client, phone="+7 916 111-22-33").status_code == 202
    clock.shift(61)

    # The same number typed another way, from another IP
    response = ask(api_client, phone="89161112233", REMOTE_ADDR="10.2.2.2")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"


def test_the_verify_throttle_answers_429_throttled(api_client, monkeypatch):
    monkeypatch.setattr(
        member_api_views.OtpVerifyThrottle, "rate", "1/min", raising=False
    )
    sign_in(api_client)

    response = sign_in(api_client)

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"


# --- Verify -----------------------------------------------------------------


def test_signing_in_for_the_first_time_signs_up(api_client, clock):
    ask(api_client)

    response = sign_in(api_client, referral_code="ANNA7", device="Pixel 9")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["created"] is True
    assert body["member"]["phone"] == PHONE
    assert body["member"]["card_code"]
    member = Member.objects.get(phone=PHONE)
    assert member.signup_referral_code == "ANNA7"
    assert MemberToken.objects.get().device == "Pixel 9"
    # And the token opens the app's endpoints
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api_client.get(reverse("api-me")).json()["id"] == member.pk


def test_signing_in_again_finds_the_member(api_client, clock):
    member = MemberFactory(phone=PHONE)
    ask(api_client)

    body = sign_in(api_client, referral_code="LATE").json()

    assert (body["created"], body["member"]["id"]) == (False, member.pk)
    member.refresh_from_db()
    assert member.signup_referral_code == ""


def test_a_wrong_code_is_a_400_with_the_tries_left(api_client, clock):
    ask(api_client)

    response = sign_in(api_client, code="000000")

    assert response.status_code == 400
    assert response.json()["code"] == "otp_invalid"
    assert response.json()["attempts_left"] == 4


def test_an_expired_code_is_a_400(api_client, clock):
    ask(api_client)
    clock.shift(301)

    response = sign_in(api_client)

    assert response.status_code == 400
    assert response.json()["code"] == "otp_expired"


def test_a_used_code_is_a_400(api_client, clock):
    ask(api_client)
    sign_in(api_client)

    assert sign_in(api_client).json()["code"] == "otp_expired"


@pytest.mark.parametrize(
    ("body", "field", "code", "answer"),
    [
        # ``invalid_code`` is documented "in fields.code, with code: invalid".
        ({"phone": PHONE, "code": "12ab56"}, "code", "invalid_code", "invalid"),
        ({"phone": PHONE}, "code", "required", "invalid"),
        ({"code": CODE}, "phone", "required", "invalid"),
        ({"phone": "12", "code": CODE}, "phone", "invalid_phone", "invalid_phone"),
        (
            {"phone": PHONE, "code": CODE, "referral_code": "R" * 33},
            "referral_code",
            "max_length",
            "invalid",
        ),
    ],
)
def test_bad_sign_in_input_is_a_400_by_field(api_client, body, field, code, answer):
    response = api_client.post(VERIFY, body)

    assert response.status_code == 400
    assert response.json()["code"] == answer
    assert response.json()["fields"][field][0]["code"] == code


def test_a_blocked_member_is_a_403(api_client, clock):
    MemberFactory(phone=PHONE, status=Member.Status.BLOCKED)
    ask(api_client)

    response = sign_in(api_client)

    assert response.status_code == 403
    assert response.json()["code"] == "member_blocked"


@override_settings(OTP_LOCK_AFTER=3)
def test_a_locked_phone_is_a_429_even_with_the_right_code(api_client, clock):
    ask(api_client)
    for _ in range(3):
        sign_in(api_client, code="000000")

    response = sign_in(api_client)

    assert response.status_code == 429
    assert response.json()["code"] == "phone_locked"
    assert response.json()["retry_after"] == 3600
    assert ask(api_client).json()["code"] == "phone_locked"


@override_settings(OTP_TEST_NUMBERS={TEST_PHONE: TEST_CODE})
def test_a_test_number_signs_in_with_its_code_and_gets_no_sms(api_client, clock):
    assert ask(api_client, phone=TEST_PHONE).status_code == 202

    response = sign_in(api_client, code=TEST_CODE, phone=TEST_PHONE)

    assert response.status_code == 200
    assert not Message.objects.exists()


# --- Logout -----------------------------------------------------------------


def test_logout_revokes_only_the_calling_token(member_api, member):
    phone_app = member_api(member)
    tablet_app = member_api(member)

    response = phone_app.post(LOGOUT)

    assert response.status_code == 204
    after = phone_app.get(reverse("api-me"))
    assert after.status_code == 401
    assert after.json()["code"] == "invalid_token"
    assert tablet_app.get(reverse("api-me")).status_code == 200
    phone_app.token.refresh_from_db()
    assert phone_app.token.revoked_at is not None


def test_logout_twice_is_a_401(member_api, member):
    app = member_api(member)
    app.post(LOGOUT)

    response = app.post(LOGOUT)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_a_token_revoked_by_staff_stops_working(member_api, member):
    app = member_api(member)

    access.token_revoke(token=app.token)

    assert app.get(reverse("api-me")).json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer rgm_nope", "Bearer not-ours", "Bearer \u00e9"],
)
def test_malformed_credentials_are_401_json(api_client, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)

    response = api_client.post(LOGOUT)

    assert response.status_code == 401
    assert response.json()["code"] in {"invalid_token", "invalid_credentials"}
