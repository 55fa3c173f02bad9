"""Each role sees and changes what its work needs of a member's personal data."""

from datetime import UTC, date, datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.urls import reverse

from members import services
from members.admin_text import email_masked, phone_masked, recipient_masked
from members.models import Member, Message
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:members_member_changelist")


def change_url(member):
    return reverse("admin:members_member_change", args=[member.pk])


def form_data(member, **overrides):
    """The member form as the page posts it, with ``overrides``."""
    data = {
        "phone": str(member.phone),
        "first_name": member.first_name,
        "last_name": member.last_name,
        "email": member.email,
        "birthday": member.birthday.isoformat() if member.birthday else "",
        "status": member.status,
        "registered_at_0": "2026-01-10",
        "registered_at_1": "10:00:00",
        "registration_location": "",
        "preferences": member.preferences,
        "visits-TOTAL_FORMS": "0",
        "visits-INITIAL_FORMS": "0",
        "visits-MIN_NUM_FORMS": "0",
        "visits-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


@pytest.fixture
def anna():
    return MemberFactory(
        phone="+79161234567",
        email="anna@example.com",
        birthday=date(1990, 3, 8),
        preferences="Allergic to almond oil",
        registered_at=datetime(2026, 1, 10, 7, 0, tzinfo=UTC),
    )


# --- Masks ------------------------------------------------------------------


def test_masks_keep_the_country_area_and_last_two_digits(anna):
    assert phone_masked(anna.phone) == "+7\u00a0916\u00a0•••-••-67"
    assert email_masked("anna@example.com") == "a•••@example.com"
    assert recipient_masked("+79161234567") == "+7\u00a0916\u00a0•••-••-67"
    assert recipient_masked("anna@example.com") == "a•••@example.com"


def test_a_members_text_in_every_list_shows_no_full_phone(anna):
    assert "4567" not in str(anna)
    assert str(anna).endswith("(+7\u00a0916\u00a0•••-••-67)")


# --- The analyst ------------------------------------------------------------


def test_the_analyst_reads_masked_phones_in_the_list(analyst_client, anna):
    page = analyst_client.get(CHANGELIST).content.decode()
    assert "•••-••-67" in page
    assert "123-45-67" not in page
    assert "anna@example.com" not in page  # the list shows no email at all


def test_the_analyst_sees_no_birthday_and_no_full_phone_on_the_page(
    analyst_client, anna
):
    page = analyst_client.get(change_url(anna)).content.decode()
    assert "•••-••-67" in page
    assert "123-45-67" not in page and "79161234567" not in page
    assert "1990" not in page and "March 8" not in page
    assert "almond" not in page


def test_the_analyst_has_no_birthday_filter(analyst_client, anna):
    assert "birthday_month" not in analyst_client.get(CHANGELIST).content.decode()


def test_the_analyst_reads_message_recipients_masked_and_no_texts(analyst_client, anna):
    message = Message.objects.create(
        member=anna,
        channel="sms",
        recipient="+79161234567",
        template_key="test",
        body="Anna, your code is 1234",
    )
    page = analyst_client.get(reverse("admin:members_message_changelist"))
    assert "•••-••-67" in page.content.decode()
    assert "123-45-67" not in page.content.decode()
    detail = analyst_client.get(
        reverse("admin:members_message_change", args=[message.pk])
    ).content.decode()
    assert "your code is" not in detail
    assert "79161234567" not in detail


# --- The front desk ---------------------------------------------------------


def test_the_front_desk_sees_full_phones(front_desk_client, anna):
    page = front_desk_client.get(CHANGELIST).content.decode()
    assert "+7\u00a0916\u00a0123-45-67" in page
    detail = front_desk_client.get(change_url(anna)).content.decode()
    assert "almond" in detail


def test_the_front_desk_cannot_pick_erased_as_a_status(front_desk_client, anna):
    page = front_desk_client.get(change_url(anna)).content.decode()
    assert 'value="erased"' not in page
    response = front_desk_client.post(
        change_url(anna), form_data(anna, status=Member.Status.ERASED)
    )
    assert response.status_code == 200  # the form again, with its error
    assert "erased" in response.context["adminform"].form.errors["status"][0]
    anna.refresh_from_db()
    assert anna.status == Member.Status.ACTIVE
    assert anna.first_name  # nothing was wiped


def test_the_front_desk_cannot_change_the_registration_date(front_desk_client, anna):
    response = front_desk_client.post(
        change_url(anna),
        form_data(
            anna,
            first_name="Anya",
            registered_at_0="2020-01-01",
            registered_at_1="09:00:00",
        ),
    )
    assert response.status_code == 302
    anna.refresh_from_db()
    assert anna.first_name == "Anya"
    assert anna.registered_at == datetime(2026, 1, 10, 7, 0, tzinfo=UTC)


def test_the_front_desk_has_no_erase_action(front_desk_client, anna):
    page = front_desk_client.get(CHANGELIST).content.decode()
    assert "erase_personal_data" not in page
    front_desk_client.post(
        CHANGELIST,
        {
            "action": "erase_personal_data",
            ACTION_CHECKBOX_NAME: [anna.pk],
            "post": "yes",
        },
    )
    anna.refresh_from_db()
    assert anna.status == Member.Status.ACTIVE


# --- The manager ------------------------------------------------------------


def test_the_manager_may_correct_the_registration_date(manager_client, anna):
    response = manager_client.post(
        change_url(anna),
        form_data(anna, registered_at_0="2025-12-01", registered_at_1="09:00:00"),
    )
    assert response.status_code == 302
    anna.refresh_from_db()
    assert anna.registered_at.date() == date(2025, 12, 1)


def test_erasing_asks_first_then_erases_through_the_service(manager_client, anna):
    ask = manager_client.post(
        CHANGELIST, {"action": "erase_personal_data", ACTION_CHECKBOX_NAME: [anna.pk]}
    )
    assert ask.status_code == 200
    assert "cannot be undone" in ask.content.decode()
    anna.refresh_from_db()
    assert anna.status == Member.Status.ACTIVE  # asked, not done

    done = manager_client.post(
        CHANGELIST,
        {
            "action": "erase_personal_data",
            ACTION_CHECKBOX_NAME: [anna.pk],
            "post": "yes",
        },
    )
    assert done.status_code == 302
    anna.refresh_from_db()
    assert anna.status == Member.Status.ERASED
    assert anna.first_name == "" and anna.birthday is None
    assert anna.erased_phone_hash
    # The phone is free again: the desk can register the client anew.
    again = services.member_register(phone="+79161234567", first_name="Anna")
    assert again.pk != anna.pk


def test_an_erased_members_status_is_read_only(manager_client, anna):
    from members.privacy import member_erase

    member_erase(member=anna)
    page = manager_client.get(change_url(anna)).content.decode()
    assert '<select name="status"' not in page


# --- The service, whoever calls it ------------------------------------------


def test_the_service_refuses_erased_as_a_status(anna):
    with pytest.raises(ValidationError) as exc:
        services.member_update(member=anna, status=Member.Status.ERASED)
    assert exc.value.error_dict["status"][0].code == "erase_through_erasure"
    anna.refresh_from_db()
    assert anna.status == Member.Status.ACTIVE


def test_an_erased_member_stays_erased(anna):
    from members.privacy import member_erase

    member_erase(member=anna)
    with pytest.raises(ValidationError) as exc:
        services.member_update(member=anna, status=Member.Status.ACTIVE)
    assert exc.value.error_dict["status"][0].code == "member_erased"
