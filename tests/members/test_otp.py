"""Phone sign-in services: codes, their lifetime and single use, the resend wait,
the hourly caps, test numbers and the brute-force lock (also under real races
on PostgreSQL)."""

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings

from members import access, otp, privacy
from members.models import Member, MemberToken, Message, OtpChallenge, OtpGuard
from tests.conftest import error_codes, moscow
from tests.factories import MemberFactory
from tests.members.test_concurrency import race

T0 = moscow(2025, 6, 2, 12, 0)
PHONE = "+79161112233"
CODE = "482915"
TEST_PHONE = "+79990000001"
TEST_CODE = "123456"

only_postgres = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite has no row locks to race on",
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def clock():
    """A stopped clock at T0; ``clock.shift(seconds)`` moves it."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def fixed_codes(monkeypatch):
    """The codes the next requests draw, in order (then CODE forever)."""
    queue: list[str] = []

    def draw():
        return queue.pop(0) if queue else CODE

    monkeypatch.setattr(otp, "_code_new", draw)
    return queue


def refusal(call) -> otp.OtpRefused:
    with pytest.raises(otp.OtpRefused) as caught:
        call()
    return caught.value


def request(phone=PHONE, ip="10.0.0.1", **kwargs):
    return otp.otp_request(phone=phone, ip=ip, **kwargs)


def verify(code=CODE, phone=PHONE, **kwargs):
    return otp.otp_verify(phone=phone, code=code, **kwargs)


def guard_of(phone=PHONE) -> OtpGuard:
    return OtpGuard.objects.get(phone=phone)


pytestmark = pytest.mark.django_db


# --- Request ----------------------------------------------------------------


def test_a_request_stores_the_code_hashed_and_queues_an_sms(clock, fixed_codes):
    # When a phone typed the local way asks for a code
    result = request(phone="8 916 111-22-33")

    # Then one code is stored, hashed, for the E.164 phone, valid for the TTL
    assert (result.phone, result.expires_in, result.resend_in) == (PHONE, 300, 60)
    challenge = OtpChallenge.objects.get()
    assert challenge.phone == PHONE
    assert CODE not in challenge.code_hash
    assert challenge.code_hash == otp.code_hash(PHONE, CODE)
    assert challenge.expires_at == T0 + timedelta(seconds=300)
    assert challenge.ip == "10.0.0.1"
    # And an SMS is queued to the phone, transactional, for nobody yet
    message = Message.objects.get()
    assert (message.channel, message.template_key, message.kind) == (
        "sms",
        "otp_code",
        "transactional",
    )
    assert message.recipient == PHONE
    assert message.member is None


def test_a_request_for_a_member_links_the_sms_to_them(clock, fixed_codes):
    member = MemberFactory(phone=PHONE)

    request()

    assert Message.objects.get().member == member


def test_codes_are_random_six_digit_strings(clock):
    codes = {otp._code_new() for _ in range(50)}

    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 40


@pytest.mark.parametrize("typed", ["12345", "not a phone", ""])
def test_a_request_for_an_invalid_phone_is_refused(typed):
    with pytest.raises(ValidationError) as caught:
        request(phone=typed)

    assert error_codes(caught.value) == {"invalid_phone"}
    assert not OtpChallenge.objects.exists()


def test_a_second_code_must_wait_for_the_resend_delay(clock, fixed_codes):
    # Given a code sent 20 seconds ago
    request()
    clock.shift(20)

    # When another is asked for, it is refused with the wait left
    refused = refusal(request)
    assert (refused.code, refused.retry_after) == ("otp_too_soon", 40)

    # And after the delay a new code goes out and the old one stops working
    clock.shift(41)
    fixed_codes.append("111111")
    request()
    assert OtpChallenge.objects.count() == 2
    assert refusal(lambda: verify(CODE)).code == "otp_invalid"
    assert verify("111111").created is True


def test_the_phone_cap_counts_codes_of_the_last_hour(clock, fixed_codes):
    # Given the 5 codes an hour a phone may get, a minute apart
    for _ in range(5):
        request()
        clock.shift(61)

    # Then a sixth is refused until the first is an hour old
    refused = refusal(request)
    assert refused.code == "otp_rate_limited"
    assert refused.retry_after == 3600 - 5 * 61
    clock.shift(refused.retry_after)
    request()
    assert OtpChallenge.objects.count() == 6


@override_settings(OTP_MAX_PER_IP_HOUR=3)
def test_the_ip_cap_counts_codes_to_any_phone(clock, fixed_codes):
    for i in range(3):
        request(phone=f"+7916111000{i}")

    assert refusal(lambda: request(phone="+79161110009")).code == "otp_rate_limited"
    # Another IP is not held back
    request(phone="+79161110009", ip="10.0.0.2")


def test_an_unparseable_ip_is_not_stored(clock, fixed_codes):
    request(ip="unknown, 1.2.3.4")

    assert OtpChallenge.objects.get().ip is None


@override_settings(OTP_TEST_NUMBERS={"+7 999 000-00-01": TEST_CODE})
def test_a_test_number_gets_its_fixed_code_and_no_sms(clock):
    # When a reviewer's test number asks for codes again and again
    for _ in range(7):
        request(phone=TEST_PHONE)

    # Then no SMS is queued, no wait or cap applies, and the fixed code works
    assert not Message.objects.exists()
    result = verify(TEST_CODE, phone=TEST_PHONE)
    assert result.member.phone == TEST_PHONE


# --- Verify -----------------------------------------------------------------


def test_the_right_code_signs_up_a_new_member(clock, fixed_codes):
    request()

    result = verify(referral_code=" ANNA-7 ", device="iPhone 15")

    assert result.created is True
    member = Member.objects.get(phone=PHONE)
    assert result.member == member
    assert (member.first_name, member.status) == ("", Member.Status.ACTIVE)
    assert member.signup_referral_code == "ANNA-7"
    assert result.token.device == "iPhone 15"
    assert access.token_authenticate(result.raw_token) == result.token
    assert OtpChallenge.objects.get().used_at == T0


def test_the_right_code_signs_in_an_existing_member_without_a_referral(
    clock, fixed_codes
):
    member = MemberFactory(phone=PHONE, signup_referral_code="")
    request()

    result = verify(referral_code="FRIEND")

    assert (result.member, result.created) == (member, False)
    member.refresh_from_db()
    assert member.signup_referral_code == ""
    assert Member.objects.count() == 1


def test_a_code_works_once(clock, fixed_codes):
    request()
    verify()

    assert refusal(verify).code == "otp_expired"
    assert MemberToken.objects.count() == 1


def test_a_code_expires(clock, fixed_codes):
    request()
    clock.shift(299)
    clock.shift(1)

    assert refusal(verify).code == "otp_expired"


def test_a_code_just_before_expiry_works(clock, fixed_codes):
    request()
    clock.shift(299)

    assert verify().created is True


def test_no_code_requested_is_expired_and_counts_nothing():
    assert refusal(verify).code == "otp_expired"
    assert guard_of().failures == 0


def test_a_wrong_code_is_counted_although_the_request_fails(clock, fixed_codes):
    request()

    refused = refusal(lambda: verify("000000"))

    # The count survived the refusal (it is not rolled back with it)
    assert (refused.code, refused.attempts_left) == ("otp_invalid", 4)
    assert OtpChallenge.objects.get().attempts == 1
    assert guard_of().failures == 1


def test_a_code_is_burnt_after_the_allowed_wrong_tries(clock, fixed_codes):
    request()

    left = [refusal(lambda: verify("000000")).attempts_left for _ in range(5)]

    assert left == [4, 3, 2, 1, 0]
    # Even the right code is refused now: ask for a new one
    assert refusal(verify).code == "otp_expired"
    assert guard_of().failures == 5


def test_the_right_code_resets_the_wrong_codes_in_a_row(clock, fixed_codes):
    request()
    refusal(lambda: verify("000000"))
    refusal(lambda: verify("000001"))

    verify()

    assert guard_of().failures == 0


@override_settings(OTP_LOCK_AFTER=7)
def test_wrong_codes_in_a_row_lock_the_phone(clock, fixed_codes):
    # Given 5 wrong tries on one code and 2 on the next
    request()
    for _ in range(5):
        refusal(lambda: verify("000000"))
    clock.shift(61)
    request()
    assert refusal(lambda: verify("000000")).code == "otp_invalid"
    assert refusal(lambda: verify("000000")).code == "otp_invalid"

    # Then the phone is locked: the right code, or a new code, is refused
    refused = refusal(verify)
    assert (refused.code, refused.retry_after) == ("phone_locked", 3600)
    assert refusal(request).code == "phone_locked"
    assert guard_of().failures == 7

    # And after the lock a new code works, with a fresh count
    clock.shift(3600)
    fixed_codes.append("222222")
    request()
    assert refusal(lambda: verify("000000")).attempts_left == 4
    assert guard_of().failures == 1
    assert verify("222222").created is True


def test_a_blocked_member_is_refused_and_the_code_not_spent(clock, fixed_codes):
    MemberFactory(phone=PHONE, status=Member.Status.BLOCKED)
    request()

    assert refusal(verify).code == "member_blocked"
    assert OtpChallenge.objects.get().used_at is None
    assert not MemberToken.objects.exists()


def test_an_erased_members_phone_signs_up_a_new_member(clock, fixed_codes):
    old = MemberFactory(phone=PHONE)
    privacy.member_erase(member=old)
    request()

    result = verify()

    assert result.created is True
    assert result.member.pk != old.pk
    assert Member.objects.count() == 2


def test_verify_reads_a_code_typed_with_spaces(clock, fixed_codes):
    request()

    assert verify("482 915").created is True


# --- Races (PostgreSQL) -------------------------------------------------------

THREADS = 20


def outcome_codes(outcomes) -> Counter:
    codes = Counter()
    for kind, value in outcomes:
        assert kind == "error" and isinstance(value, otp.OtpRefused), value
        codes[value.code] += 1
    return codes


class TestRaces:
    pytestmark = only_postgres

    @override_settings(
        OTP_TEST_NUMBERS={TEST_PHONE: TEST_CODE}, OTP_LOCK_AFTER=7, OTP_MAX_ATTEMPTS=50
    )
    def test_parallel_wrong_codes_lock_the_phone_after_exactly_n(self):
        # Given a live code
        request(phone=TEST_PHONE)

        # When 20 wrong guesses arrive at once, each on its own connection
        outcomes = race(THREADS, lambda i: verify(f"{i:06d}", phone=TEST_PHONE))

        # Then exactly 7 were checked and counted; the rest met the lock
        assert outcome_codes(outcomes) == {
            "otp_invalid": 7,
            "phone_locked": THREADS - 7,
        }
        assert guard_of(TEST_PHONE).failures == 7
        assert OtpChallenge.objects.get().attempts == 7
        # And even the right code is refused now
        assert refusal(lambda: verify(TEST_CODE, phone=TEST_PHONE)).code == (
            "phone_locked"
        )
        assert not Member.objects.exists()

    @override_settings(OTP_TEST_NUMBERS={TEST_PHONE: TEST_CODE})
    def test_parallel_wrong_codes_burn_a_code_after_exactly_its_tries(self):
        request(phone=TEST_PHONE)

        outcomes = race(THREADS, lambda i: verify(f"{i:06d}", phone=TEST_PHONE))

        assert outcome_codes(outcomes) == {
            "otp_invalid": 5,
            "otp_expired": THREADS - 5,
        }
        assert OtpChallenge.objects.get().attempts == 5
        assert refusal(lambda: verify(TEST_CODE, phone=TEST_PHONE)).code == (
            "otp_expired"
        )

    @override_settings(OTP_TEST_NUMBERS={TEST_PHONE: TEST_CODE})
    def test_the_right_code_sent_at_once_signs_in_one_new_member_once(self):
        request(phone=TEST_PHONE)

        outcomes = race(8, lambda _i: verify(TEST_CODE, phone=TEST_PHONE))

        results = [value for kind, value in outcomes if kind == "ok"]
        assert len(results) == 1 and results[0].created is True
        assert outcome_codes(o for o in outcomes if o[0] == "error") == {
            "otp_expired": 7
        }
        assert Member.objects.count() == 1

    def test_first_guesses_for_a_new_phone_create_one_guard(self):
        outcomes = race(10, lambda _i: verify("123456"))

        assert outcome_codes(outcomes) == {"otp_expired": 10}
        assert OtpGuard.objects.filter(phone=PHONE).count() == 1
