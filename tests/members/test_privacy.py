"""Erasure (personal data gone, the books intact), the export's members section,
phone hashes and card codes."""

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from members import access, cards, privacy
from members.messaging.services import message_send
from members.models import Member, MemberToken, Message, OtpChallenge, OtpGuard
from members.services import member_update
from tests.conftest import moscow, stats_of
from tests.factories import MemberFactory
from tests.members.test_concurrency import race

T0 = moscow(2025, 6, 2, 12, 0)

pytestmark = pytest.mark.django_db


# --- Erasure ----------------------------------------------------------------


@pytest.fixture
def rich_member(record_visit):
    """A member with a profile, consents, a card, visits, tokens and messages."""
    member = MemberFactory(
        phone="+79161234567",
        first_name="Anna",
        last_name="Smirnova",
        email="anna@example.com",
        birthday=moscow(1990, 5, 17).date(),
        preferences="Strong pressure",
        language="ru",
    )
    member_update(member=member, consents={"sms": True, "email": True})
    cards.member_card_code(member)
    record_visit(member)
    access.token_issue(member=member, device="iPhone")
    access.token_issue(member=member, device="iPad")
    message_send(
        channel="sms", template_key="otp_code", member=member, context={"code": "1"}
    )
    # A code sent to the phone before it was a member's
    message_send(channel="sms", template_key="otp_code", to="+79161234567")
    OtpChallenge.objects.create(
        phone="+79161234567", code_hash="x" * 64, expires_at=T0, ip="10.0.0.1"
    )
    OtpGuard.objects.create(phone="+79161234567", failures=2)
    member.refresh_from_db()
    return member


def test_erasure_removes_personal_data_and_keeps_the_books(rich_member):
    stats_before = stats_of(rich_member)

    with time_machine.travel(T0, tick=False):
        privacy.member_erase(member=rich_member)

    member = Member.objects.get(pk=rich_member.pk)
    # Personal data is gone
    assert str(member.phone) == f"+0-erased-{member.pk}"
    assert (member.first_name, member.last_name, member.email) == ("", "", "")
    assert member.birthday is None
    assert (member.preferences, member.language) == ("", "")
    assert member.card_code is None
    assert not (member.consent_sms or member.consent_email or member.consent_push)
    assert member.consent_sms_at is None
    assert (member.status, member.erased_at) == (Member.Status.ERASED, T0)
    # Only a salted hash of the phone is kept
    assert member.erased_phone_hash == privacy.phone_hash("+79161234567")
    assert "79161234567" not in member.erased_phone_hash
    # Signed out everywhere
    assert not MemberToken.objects.filter(revoked_at__isnull=True).exists()
    # Messages keep what was sent (status, template) but not to whom or what
    for message in Message.objects.all():
        assert (message.recipient, message.body, message.subject) == ("", "", "")
        assert message.context == {}
    assert Message.objects.count() == 2
    # Sign-in codes and the lock of the phone are gone
    assert not OtpChallenge.objects.exists()
    assert not OtpGuard.objects.exists()
    # The books still add up
    assert stats_of(member) == stats_before
    assert member.visits.count() == 1


def test_erasing_twice_changes_nothing(rich_member):
    with time_machine.travel(T0, tick=False):
        first = privacy.member_erase(member=rich_member)
    with time_machine.travel(moscow(2025, 7, 1, 9, 0), tick=False):
        second = privacy.member_erase(member=rich_member)

    assert second.erased_at == first.erased_at == T0
    assert second.erased_phone_hash == first.erased_phone_hash


def test_erased_members_coexist_and_read_back():
    # Given two erased members (the placeholder keeps the phone unique)
    a, b = MemberFactory(), MemberFactory()
    privacy.member_erase(member=a)
    privacy.member_erase(member=b)

    # Then both read back with their placeholders, which are no phone numbers
    for member in Member.objects.filter(status=Member.Status.ERASED):
        assert str(member.phone) == f"+0-erased-{member.pk}"
        assert not member.phone.is_valid()
    assert Member.objects.filter(phone=f"+0-erased-{a.pk}").get() == a


def test_the_admin_lists_and_shows_an_erased_member(manager_client, rich_member):
    privacy.member_erase(member=rich_member)

    listing = manager_client.get(reverse("admin:members_member_changelist"))
    page = manager_client.get(
        reverse("admin:members_member_change", args=[rich_member.pk])
    )

    assert listing.status_code == 200
    phone_cell = listing.content.decode().split('class="field-phone_display">')[1]
    assert phone_cell.split("</td>")[0].endswith(f">+0-erased-{rich_member.pk}</span>")
    assert page.status_code == 200
    assert "Anna" not in page.content.decode()


def test_erasing_leaves_other_members_alone(rich_member):
    other = MemberFactory(first_name="Boris")
    token, raw = access.token_issue(member=other)

    privacy.member_erase(member=rich_member)

    other.refresh_from_db()
    assert (other.first_name, other.status) == ("Boris", Member.Status.ACTIVE)
    assert access.token_authenticate(raw) == token


# --- Phone hashes -----------------------------------------------------------


def test_phone_hash_is_keyed_by_the_salt():
    with override_settings(PHONE_HASH_SALT="one"):
        first = privacy.phone_hash("+79161234567")
        again = privacy.phone_hash("+79161234567")
    with override_settings(PHONE_HASH_SALT="two"):
        other_salt = privacy.phone_hash("+79161234567")

    assert first == again
    assert first != other_salt
    assert len(first) == 64


def test_phone_hash_reads_any_way_of_writing_the_number():
    member = MemberFactory(phone="+79161234567")

    assert (
        privacy.phone_hash("8 916 123-45-67")
        == privacy.phone_hash(member.phone)
        == privacy.phone_hash("+79161234567")
    )


# --- Export -----------------------------------------------------------------


@override_settings(REGULARS_MEMBER_EXPORT_SECTIONS=["members.privacy.export_section"])
def test_the_export_holds_everything_and_no_secret(rich_member, record_visit):
    other = MemberFactory()
    record_visit(other)

    data = privacy.member_export(member=rich_member)

    assert data["member_id"] == rich_member.pk
    assert data["profile"]["phone"] == "+79161234567"
    assert data["profile"]["first_name"] == "Anna"
    assert data["profile"]["total_spent"] == "3000.00"
    assert data["consents"]["sms"]["granted"] is True
    assert data["consents"]["push"] == {"granted": False, "changed_at": None}
    [visit] = data["visits"]
    assert visit["lines"] == [
        {
            "service": "Classic massage, 60 min",
            "quantity": 1,
            "price": "3000.00",
            "refunded_quantity": 0,
        }
    ]
    assert {d["device"] for d in data["devices"]} == {"iPhone", "iPad"}
    assert len(data["messages"]) == 1  # the one linked to the member
    assert data["sign_in_codes"][0]["ip"] == "10.0.0.1"
    text = repr(data)
    for token in MemberToken.objects.all():
        assert token.key_hash not in text
    assert "x" * 64 not in text


# --- Card codes -------------------------------------------------------------


def test_a_card_code_is_assigned_once_and_kept():
    member = MemberFactory()

    code = cards.member_card_code(member)

    assert len(code) == 10
    assert set(code) <= set(cards.CARD_CODE_ALPHABET)
    fresh = Member.objects.get(pk=member.pk)
    assert fresh.card_code == code
    assert cards.member_card_code(fresh) == code


def test_a_stale_instance_gets_the_code_already_assigned():
    # Given a code assigned through another instance (another request)
    member = MemberFactory()
    stale = Member.objects.get(pk=member.pk)
    code = cards.member_card_code(member)

    # Then the stale instance agrees on it instead of drawing another
    assert cards.member_card_code(stale) == code


def test_a_clashing_card_code_is_drawn_again(monkeypatch):
    holder = MemberFactory()
    taken = cards.member_card_code(holder)
    draws = iter([taken, "NEWCODE234"])
    monkeypatch.setattr(cards, "card_code_new", lambda: next(draws))

    assert cards.member_card_code(MemberFactory()) == "NEWCODE234"


def test_members_are_found_by_card_code_typed_loosely():
    member = MemberFactory()
    code = cards.member_card_code(member)

    assert cards.member_by_card_code(f" {code[:5].lower()}-{code[5:]} ") == member
    assert cards.member_by_card_code("") is None
    assert cards.member_by_card_code("NOPE") is None


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_parallel_first_calls_agree_on_one_card_code():
    member = MemberFactory()

    outcomes = race(
        8, lambda _i: cards.member_card_code(Member.objects.get(pk=member.pk))
    )

    codes = {value for kind, value in outcomes if kind == "ok"}
    assert len(codes) == 1
    assert Member.objects.get(pk=member.pk).card_code in codes
