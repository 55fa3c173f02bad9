"""``Member.joined_via``: every way a member is created records how they
joined (the admin, a till's POS API, the app, a friend's code, an import, the
demo), the admin shows and filters it, the export carries it, and the
migration's backfill fills the members who joined before it was recorded."""

import io
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import IntegrityError
from django.test import override_settings
from django.urls import reverse

from imports import members as member_imports
from members import exports, otp, privacy
from members import services as member_services
from members.joined_via import joined_via_backfill
from members.member_flow import Channel
from members.models import Member
from members.services.members import joined_via_of
from referrals.services import referral_code_for
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

JoinedVia = Member.JoinedVia
OTP_CODE = "123456"


@pytest.fixture
def friend_code(db):
    """A referral code of an existing member."""
    referrer = member_services.member_register(
        phone="+79030000001", first_name="Olga", last_name="Petrova"
    )
    return referral_code_for(member=referrer).code


def app_sign_up(phone: str, **kwargs):
    with override_settings(OTP_TEST_NUMBERS={phone: OTP_CODE}):
        otp.otp_request(phone=phone)
        return otp.otp_verify(phone=phone, code=OTP_CODE, **kwargs)


def member_form(**overrides) -> dict:
    """POST data of the admin's member add form."""
    data = {
        "phone": "8 926 555-44-33",
        "first_name": "Maria",
        "last_name": "Volkova",
        "email": "",
        "birthday": "",
        "status": "active",
        "registered_at_0": "2025-06-10",
        "registered_at_1": "15:00:00",
        "initial-registered_at_0": "2025-06-10",
        "initial-registered_at_1": "15:00:00",
        "registration_location": "",
        "preferences": "",
        "referral_code": "",
        "visits-TOTAL_FORMS": "0",
        "visits-INITIAL_FORMS": "0",
        "visits-MIN_NUM_FORMS": "0",
        "visits-MAX_NUM_FORMS": "0",
    }
    data.update(overrides)
    return data


# --- The model ----------------------------------------------------------------


def test_the_default_is_the_till_in_python_and_in_the_database():
    assert Member().joined_via == JoinedVia.TILL
    field = Member._meta.get_field("joined_via")
    assert field.db_default == JoinedVia.TILL
    assert set(JoinedVia.values) == {"till", "app", "referral", "import"}


# --- member_register, by channel -----------------------------------------------


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        (Channel.ADMIN, JoinedVia.TILL),
        (Channel.POS, JoinedVia.TILL),
        (Channel.APP, JoinedVia.APP),
    ],
)
def test_a_sign_up_without_a_code_follows_its_channel(channel, expected):
    member = member_services.member_register(
        phone="+79165550001", first_name="Anna", channel=channel
    )

    assert member.joined_via == expected
    member.refresh_from_db()
    assert member.joined_via == expected


@pytest.mark.parametrize("channel", [Channel.ADMIN, Channel.POS, Channel.APP])
def test_a_sign_up_with_a_friends_code_is_a_referral_whatever_the_channel(
    friend_code, channel
):
    member = member_services.member_register(
        phone="+79165550002",
        first_name="Boris",
        referral_code=friend_code,
        channel=channel,
    )

    member.refresh_from_db()
    assert member.joined_via == JoinedVia.REFERRAL
    assert member.signup_referral_code == friend_code


def test_a_code_given_later_does_not_change_how_the_member_joined(friend_code):
    member = member_services.member_register(phone="+79165550003", first_name="Vera")

    member_services.member_signup_code_set(member=member, code=friend_code)

    member.refresh_from_db()
    assert member.signup_referral_code == friend_code
    assert member.joined_via == JoinedVia.TILL


def test_joined_via_of_prefers_the_code_then_the_given_value_then_the_channel():
    of = joined_via_of
    assert of(channel=Channel.APP) == JoinedVia.APP
    assert of(channel="something-new") == JoinedVia.TILL
    assert of(channel=Channel.ADMIN, joined_via="import") == JoinedVia.IMPORT
    assert (
        of(channel=Channel.ADMIN, joined_via="import", referral_code="X")
        == JoinedVia.REFERRAL
    )
    with pytest.raises(ValueError):
        of(channel=Channel.ADMIN, joined_via="carrier-pigeon")


# --- The real entry points -------------------------------------------------------


def test_the_front_desk_in_the_admin_records_the_till(admin_client):
    response = admin_client.post(reverse("admin:members_member_add"), member_form())

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Member.objects.get(phone="+79265554433").joined_via == JoinedVia.TILL


def test_the_admin_with_a_friends_code_records_a_referral(admin_client, friend_code):
    response = admin_client.post(
        reverse("admin:members_member_add"), member_form(referral_code=friend_code)
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Member.objects.get(phone="+79265554433").joined_via == JoinedVia.REFERRAL


def test_a_till_registering_through_the_pos_api_records_the_till(pos_api, location):
    response = pos_api(location).post(
        reverse("pos-member-register"),
        {"phone": "8 916 555-44-33", "first_name": "Olga"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert Member.objects.get(pk=response.json()["id"]).joined_via == JoinedVia.TILL


def test_the_pos_api_with_a_friends_code_records_a_referral(
    pos_api, location, friend_code
):
    response = pos_api(location).post(
        reverse("pos-member-register"),
        {
            "phone": "8 916 555-44-34",
            "first_name": "Olga",
            "referral_code": friend_code,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    member = Member.objects.get(pk=response.json()["id"])
    assert member.joined_via == JoinedVia.REFERRAL


def test_signing_up_in_the_app_records_the_app():
    result = app_sign_up("+79165550004")

    assert result.created is True
    assert Member.objects.get(phone="+79165550004").joined_via == JoinedVia.APP


def test_signing_up_in_the_app_with_a_friends_code_records_a_referral(friend_code):
    result = app_sign_up("+79165550005", referral_code=friend_code)

    assert result.created is True
    assert Member.objects.get(phone="+79165550005").joined_via == JoinedVia.REFERRAL


def test_signing_in_to_the_app_keeps_how_an_existing_member_joined(friend_code):
    member = MemberFactory(phone="+79165550006", joined_via=JoinedVia.IMPORT)

    result = app_sign_up("+79165550006", referral_code=friend_code)

    assert result.created is False
    member.refresh_from_db()
    assert member.joined_via == JoinedVia.IMPORT


# --- Imports ---------------------------------------------------------------------


def import_members(path) -> str:
    out = io.StringIO()
    call_command("import_members", str(path), "--no-progress", stdout=out, stderr=out)
    return out.getvalue()


def test_members_imported_in_bulk_record_the_import(tmp_path):
    known = MemberFactory(phone="+79165550010", first_name="")
    path = tmp_path / "members.csv"
    path.write_text(
        "Телефон;Имя\n+79165550010;Анна\n+79165550011;Борис\n+79165550012;Вера\n",
        "utf-8",
    )

    out = import_members(path)

    assert "created 2, filled 1" in out
    joined = {m.phone.as_e164: m.joined_via for m in Member.objects.all()}
    assert joined == {
        "+79165550010": JoinedVia.TILL,  # known before: not changed
        "+79165550011": JoinedVia.IMPORT,
        "+79165550012": JoinedVia.IMPORT,
    }
    known.refresh_from_db()
    assert known.first_name == "Анна"


def test_members_imported_one_by_one_record_the_import(tmp_path, monkeypatch):
    # The bulk write losing a race sends its rows through member_register.
    def lost_race(people):
        raise IntegrityError("duplicate key")

    monkeypatch.setattr(member_imports, "members_create", lost_race)
    path = tmp_path / "members.csv"
    path.write_text("phone,first_name\n+79165550013,Galina\n", "utf-8")

    out = import_members(path)

    assert "created 1" in out
    assert Member.objects.get(phone="+79165550013").joined_via == JoinedVia.IMPORT


def test_members_created_by_a_visit_import_record_the_import(tmp_path, location):
    from tests.factories import ServiceFactory

    ServiceFactory(name="Ароматерапия", code="aroma", base_price=900)
    path = tmp_path / "visits.csv"
    path.write_text(
        "external_id,paid_at,phone,service,amount\n"
        "1,2025-02-01 10:00,89160000021,aroma,900\n",
        "utf-8",
    )
    out = io.StringIO()
    call_command(
        "import_visits",
        str(path),
        "--no-progress",
        "--location",
        location.code,
        stdout=out,
        stderr=out,
    )

    member = Member.objects.get(phone="+79160000021")
    assert member.joined_via == JoinedVia.IMPORT, out.getvalue()


# --- The demo ----------------------------------------------------------------------


def test_the_demo_gives_a_realistic_mix():
    call_command(
        "seed_demo",
        "--members",
        "300",
        "--seed",
        "7",
        "--today",
        "2026-11-23",
        "--no-progress",
        "--jobs",
        "1",
    )

    mix = Counter(
        Member.objects.filter(phone__startswith="+7").values_list(
            "joined_via", flat=True
        )
    )
    demo_total = sum(mix.values())
    share = {via: mix[via] / demo_total for via in JoinedVia.values}
    # Mostly the till; about a tenth by referral (the demo's bulk members,
    # and the demo referrals' friends, who sign up with a code)
    assert share["till"] == max(share.values())
    assert 0.05 <= share["referral"] <= 0.2
    assert 0.03 <= share["app"] <= 0.2
    assert 0.15 <= share["import"] <= 0.45


def test_demo_members_keep_how_they_joined_across_runs():
    from members import demo

    assert demo._joined_via(7, 1, migrated=True) == JoinedVia.IMPORT
    picks = [demo._joined_via(7, i, migrated=False) for i in range(2000)]
    assert picks == [demo._joined_via(7, i, migrated=False) for i in range(2000)]
    assert JoinedVia.IMPORT not in picks


# --- The admin, the export, the member's own data ----------------------------------


def test_the_admin_filters_by_it_and_shows_it_read_only(admin_client):
    MemberFactory(first_name="Tilly", joined_via=JoinedVia.TILL)
    app = MemberFactory(first_name="Appy", joined_via=JoinedVia.APP)
    changelist = reverse("admin:members_member_changelist")

    page = admin_client.get(changelist, {"joined_via__exact": "app"})

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [app]
    change = admin_client.get(reverse("admin:members_member_change", args=[app.pk]))
    assert change.status_code == 200
    form = change.context["adminform"]
    assert "joined_via" in form.readonly_fields
    assert "joined_via" not in form.form.fields
    assert "App" in change.content.decode()
    # On the add page it follows from the sign-up: not shown
    add = admin_client.get(reverse("admin:members_member_add"))
    assert "joined_via" not in str(add.context["adminform"].fieldsets)


def test_a_posted_value_does_not_change_it(admin_client):
    member = MemberFactory(phone="+79265554433", joined_via=JoinedVia.APP)

    response = admin_client.post(
        reverse("admin:members_member_change", args=[member.pk]),
        member_form(joined_via="import"),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    member.refresh_from_db()
    assert member.joined_via == JoinedVia.APP


def test_the_export_and_the_members_own_data_carry_it():
    member = MemberFactory(joined_via=JoinedVia.REFERRAL)

    assert exports.MEMBER_HEADERS[-1] == "joined_via"
    (row,) = exports.member_rows(Member.objects.filter(pk=member.pk))
    assert row[-1] == "referral"
    assert privacy.export_section(member)["profile"]["joined_via"] == "referral"


# --- The migration's backfill --------------------------------------------------------


def test_the_backfill_marks_members_who_gave_a_code_as_referrals():
    from django.apps import apps

    with_code = MemberFactory(signup_referral_code="ANNA-7")
    without = MemberFactory(signup_referral_code="")
    app = MemberFactory(signup_referral_code="", joined_via=JoinedVia.APP)
    imported = MemberFactory(signup_referral_code="", joined_via=JoinedVia.IMPORT)

    assert joined_via_backfill(apps) == 1
    assert joined_via_backfill() == 0  # again: nothing left to change

    joined = dict(Member.objects.values_list("pk", "joined_via"))
    assert joined == {
        with_code.pk: JoinedVia.REFERRAL,
        without.pk: JoinedVia.TILL,
        app.pk: JoinedVia.APP,
        imported.pk: JoinedVia.IMPORT,
    }


def test_the_backfill_is_one_update(django_assert_num_queries):
    MemberFactory.create_batch(3, signup_referral_code="X")

    with django_assert_num_queries(1):
        assert joined_via_backfill() == 3


def test_consents_at_sign_up_do_not_change_the_channel_the_apps_hear(friend_code):
    # The consents' loop once reused the name ``channel``: a till's sign-up
    # with consents reached the referrals app as channel "email".
    from referrals.models import Referral

    member = member_services.member_register(
        phone="+79165550007",
        first_name="Dina",
        referral_code=friend_code,
        channel=Channel.POS,
        consents={"sms": True, "email": False},
    )

    assert Referral.objects.get(referee=member).channel == "pos"
    assert member.joined_via == JoinedVia.REFERRAL
