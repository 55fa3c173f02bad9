"""member_register and member_update: phones, consents, what may be edited."""

import pytest
import time_machine
from django.core.exceptions import ValidationError

from members import services
from members.models import Member
from tests.conftest import error_codes, moscow
from tests.factories import LocationFactory, MemberFactory

pytestmark = pytest.mark.django_db

T0 = moscow(2025, 3, 1, 10, 0)
T1 = moscow(2025, 3, 15, 18, 30)


# --- member_register ----------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["8 916 123-45-67", "+7 (916) 123-45-67", "89161234567", " +79161234567 "],
)
def test_register_normalises_a_phone_typed_any_way_to_e164(typed):
    # Given a phone as a front desk in Moscow types it
    # When the member is registered
    member = services.member_register(phone=typed, first_name="Anna")

    # Then it is stored in E.164
    member.refresh_from_db()
    assert member.phone.as_e164 == "+79161234567"


def test_register_stores_a_clean_profile():
    location = LocationFactory()

    with time_machine.travel(T0, tick=False):
        member = services.member_register(
            phone="+79161234567",
            first_name="  Anna ",
            last_name=" Smirnova ",
            email=" Anna.Smirnova@Example.COM ",
            registration_location=location,
        )

    member.refresh_from_db()
    assert member.full_name == "Anna Smirnova"
    assert member.email == "anna.smirnova@example.com"
    assert member.registration_location == location
    assert member.registered_at == T0
    assert member.status == Member.Status.ACTIVE
    assert (member.visits_count, member.total_spent) == (0, 0)
    assert member.first_visit_at is None and member.last_visit_at is None


@pytest.mark.parametrize("typed", ["12345", "not a phone", "+7 916 123", ""])
def test_register_refuses_an_invalid_phone(typed):
    with pytest.raises(ValidationError) as caught:
        services.member_register(phone=typed, first_name="Anna")

    assert error_codes(caught.value) == {"invalid_phone"}
    assert "phone" in caught.value.error_dict
    assert not Member.objects.exists()


def test_register_refuses_a_phone_that_belongs_to_another_member():
    # Given a member with this phone
    MemberFactory(phone="+79161234567")

    # When someone registers the same number typed differently
    with pytest.raises(ValidationError) as caught:
        services.member_register(phone="8 916 123-45-67", first_name="Boris")

    # Then it is refused and no second member appears
    assert error_codes(caught.value) == {"phone_taken"}
    assert Member.objects.count() == 1


def test_register_accepts_a_member_without_a_name_yet():
    # Signing up in the app asks for the phone only; the name comes later.
    member = services.member_register(phone="+79161234567", first_name="   ")

    assert member.first_name == ""
    assert Member.objects.get().phone == "+79161234567"


def test_register_stamps_every_consent_given_with_the_time():
    with time_machine.travel(T0, tick=False):
        member = services.member_register(
            phone="+79161234567",
            first_name="Anna",
            consents={"sms": True, "email": False},
        )

    member.refresh_from_db()
    assert member.consent_sms is True
    assert member.consent_sms_at == T0
    # A refusal is a decision too: it is stamped.
    assert member.consent_email is False
    assert member.consent_email_at == T0
    # A channel nobody asked about stays unstamped.
    assert member.consent_push is False
    assert member.consent_push_at is None


def test_register_refuses_an_unknown_consent_channel():
    with pytest.raises(ValidationError) as caught:
        services.member_register(
            phone="+79161234567", first_name="Anna", consents={"pigeon": True}
        )

    assert error_codes(caught.value) == {"invalid_consent_channel"}
    assert not Member.objects.exists()


# --- member_update ------------------------------------------------------------


@pytest.fixture
def registered():
    with time_machine.travel(T0, tick=False):
        return services.member_register(
            phone="+79161234567",
            first_name="Anna",
            consents={"sms": True, "email": False, "push": False},
        )


def test_update_changes_the_profile_and_normalises_phone_and_email(registered):
    services.member_update(
        member=registered,
        phone="8 (926) 765-43-21",
        email=" NEW@Example.com",
        last_name="Petrova",
    )

    registered.refresh_from_db()
    assert registered.phone.as_e164 == "+79267654321"
    assert registered.email == "new@example.com"
    assert registered.full_name == "Anna Petrova"


def test_update_stamps_only_the_consent_that_changed(registered):
    # Given consents stamped at registration (T0)
    # When, later, the member grants email and repeats the SMS consent unchanged
    with time_machine.travel(T1, tick=False):
        services.member_update(member=registered, consents={"sms": True, "email": True})

    # Then only the email consent carries the new time
    registered.refresh_from_db()
    assert (registered.consent_email, registered.consent_email_at) == (True, T1)
    assert (registered.consent_sms, registered.consent_sms_at) == (True, T0)
    assert (registered.consent_push, registered.consent_push_at) == (False, T0)


def test_update_withdrawing_a_consent_is_stamped(registered):
    with time_machine.travel(T1, tick=False):
        services.member_update(member=registered, consents={"sms": False})

    registered.refresh_from_db()
    assert (registered.consent_sms, registered.consent_sms_at) == (False, T1)


def test_update_refuses_an_unknown_consent_channel_and_changes_nothing(registered):
    with pytest.raises(ValidationError) as caught:
        services.member_update(
            member=registered, first_name="Changed", consents={"fax": True}
        )

    assert error_codes(caught.value) == {"invalid_consent_channel"}
    registered.refresh_from_db()
    assert registered.first_name == "Anna"


def test_update_refuses_a_phone_of_another_member(registered):
    MemberFactory(phone="+79267654321")

    with pytest.raises(ValidationError) as caught:
        services.member_update(member=registered, phone="+7 926 765-43-21")

    assert error_codes(caught.value) == {"phone_taken"}
    registered.refresh_from_db()
    assert registered.phone.as_e164 == "+79161234567"


def test_update_refuses_an_invalid_phone(registered):
    with pytest.raises(ValidationError) as caught:
        services.member_update(member=registered, phone="123")

    assert error_codes(caught.value) == {"invalid_phone"}
    registered.refresh_from_db()
    assert registered.phone.as_e164 == "+79161234567"


@pytest.mark.parametrize(
    "field, value",
    [
        ("visits_count", 10),
        ("total_spent", "99999.00"),
        ("first_visit_at", T0),
        ("last_visit_at", T1),
        ("consent_sms", False),
    ],
)
def test_update_refuses_fields_that_are_not_editable(registered, field, value):
    before = Member.objects.filter(pk=registered.pk).values().get()

    with pytest.raises(ValueError, match=field):
        services.member_update(member=registered, **{field: value})

    assert Member.objects.filter(pk=registered.pk).values().get() == before


def test_update_can_block_a_member(registered):
    services.member_update(member=registered, status=Member.Status.BLOCKED)

    registered.refresh_from_db()
    assert registered.status == Member.Status.BLOCKED


def test_update_can_correct_the_registration_date(registered):
    # A member enrolled on a paper card before the program went digital
    services.member_update(member=registered, registered_at=moscow(2024, 12, 1, 9, 30))

    registered.refresh_from_db()
    assert registered.registered_at == moscow(2024, 12, 1, 9, 30)


@pytest.mark.parametrize("typed", ["8459XGTCS4", "+7 916 CALL-ME", "8 916 abc 45 67"])
def test_a_phone_with_letters_is_refused_not_read_as_keypad_digits(typed):
    with pytest.raises(ValidationError) as caught:
        services.phone_normalize(typed)

    assert error_codes(caught.value) == {"invalid_phone"}
