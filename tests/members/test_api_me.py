"""GET/PATCH/DELETE me, my card, my visits and my data export over HTTP.

Every endpoint: the happy path, bad input, a missing/invalid/revoked token
(401 JSON with a code), and no way to see or change another member's data.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import reverse
from rest_framework import serializers

from members import access, cards, services
from members.models import Member, MemberToken
from members.qr import qr_png
from members.services import VisitLineInput
from tests.conftest import moscow
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

T0 = moscow(2025, 6, 2, 12, 0)
ONLY_MEMBERS_EXPORT = override_settings(
    REGULARS_MEMBER_EXPORT_SECTIONS=["members.privacy.export_section"]
)
ONLY_THE_PROFILE = override_settings(REGULARS_ME_SECTIONS=[])

ME_ENDPOINTS = [
    ("get", "api-me"),
    ("patch", "api-me"),
    ("delete", "api-me"),
    ("get", "api-me-card"),
    ("get", "api-me-card-png"),
    ("get", "api-me-card-svg"),
    ("get", "api-me-visits"),
    ("get", "api-me-export"),
    ("post", "api-logout"),
]


@pytest.fixture
def anna(member_api):
    return member_api(MemberFactory(first_name="Anna", phone="+79161234567"))


@pytest.fixture
def boris(member_api):
    return member_api(MemberFactory(first_name="Boris", phone="+79167654321"))


def call(client, method, name, **kwargs):
    return getattr(client, method)(reverse(name), **kwargs)


# --- Authentication, for every "me" endpoint ----------------------------------


@pytest.mark.parametrize(("method", "name"), ME_ENDPOINTS)
def test_without_a_token_the_answer_is_401_json(api_client, method, name):
    response = call(api_client, method, name)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "name"), ME_ENDPOINTS)
def test_an_invalid_token_is_401(api_client, method, name):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer rgm_not-a-real-token")

    response = call(api_client, method, name)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(("method", "name"), ME_ENDPOINTS)
def test_a_revoked_token_is_401(anna, method, name):
    access.token_revoke(token=anna.token)

    response = call(anna, method, name)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert Member.objects.get(pk=anna.member.pk).status == Member.Status.ACTIVE


@pytest.mark.parametrize(("method", "name"), ME_ENDPOINTS)
def test_a_blocked_members_token_stops_working(anna, method, name):
    services.member_update(member=anna.member, status=Member.Status.BLOCKED)

    assert call(anna, method, name).status_code == 401


def test_an_image_request_gets_its_error_as_json(api_client):
    response = api_client.get(reverse("api-me-card-png"), HTTP_ACCEPT="image/png")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_authenticated"


# --- GET me -----------------------------------------------------------------


@ONLY_THE_PROFILE
def test_get_me_shows_my_profile_only(anna, boris):
    services.member_update(member=anna.member, consents={"sms": True})

    with time_machine.travel(T0, tick=False):
        body = anna.get(reverse("api-me")).json()

    member = Member.objects.get(pk=anna.member.pk)
    assert body["id"] == member.pk
    assert body["phone"] == "+79161234567"
    assert body["first_name"] == "Anna"
    assert body["status"] == "active"
    assert body["consents"]["sms"]["granted"] is True
    assert body["consents"]["sms"]["changed_at"] is not None
    assert body["consents"]["email"] == {"granted": False, "changed_at": None}
    # The card code is given on first sight and kept
    assert body["card_code"] == member.card_code is not None
    assert "Boris" not in str(body)
    assert set(body) == {
        "id",
        "phone",
        "first_name",
        "last_name",
        "email",
        "birthday",
        "language",
        "preferences",
        "consents",
        "card_code",
        "registered_at",
        "status",
    }


class GreetingSerializer(serializers.Serializer):
    text = serializers.CharField()


class GreetingSection:
    """An app's part of GET me, as ``REGULARS_ME_SECTIONS`` lists it."""

    name = "greeting"
    serializer_class = GreetingSerializer

    def data(self, member):
        return {"text": f"Hello, {member.first_name}"}


class StatusSection(GreetingSection):
    name = "status"


GREETING = "tests.members.test_api_me.GreetingSection"


@override_settings(REGULARS_ME_SECTIONS=[GREETING])
def test_get_and_patch_me_add_each_apps_section_by_its_name(anna):
    body = anna.get(reverse("api-me")).json()
    patched = anna.patch(reverse("api-me"), {"first_name": "Anya"}).json()

    assert (body["first_name"], body["greeting"]) == ("Anna", {"text": "Hello, Anna"})
    # PATCH answers as GET does, the sections too
    assert patched["greeting"] == {"text": "Hello, Anya"}
    assert set(patched) == set(body)


@override_settings(REGULARS_ME_SECTIONS=[GREETING])
def test_the_schema_shows_each_section_on_the_profile(api_client):
    schema = api_client.get(reverse("api-schema"), {"format": "json"}).json()

    me = schema["paths"]["/api/v1/me"]
    for method in ("get", "patch"):
        body = me[method]["responses"]["200"]["content"]["application/json"]
        assert body["schema"] == {"$ref": "#/components/schemas/Me"}
    components = schema["components"]["schemas"]
    assert {"phone", "consents", "greeting"} <= set(components["Me"]["properties"])
    assert components["Me"]["properties"]["greeting"]["allOf"] == [
        {"$ref": "#/components/schemas/Greeting"}
    ]
    assert set(components["Greeting"]["properties"]) == {"text"}


@pytest.mark.parametrize(
    "sections",
    [
        [GREETING, GREETING],
        ["tests.members.test_api_me.StatusSection"],  # a profile field's name
    ],
)
def test_a_section_may_not_hide_another_key(anna, sections):
    with (
        override_settings(REGULARS_ME_SECTIONS=sections),
        pytest.raises(ImproperlyConfigured),
    ):
        anna.get(reverse("api-me"))


# --- PATCH me ---------------------------------------------------------------


def test_patch_me_changes_my_profile_and_consents(anna, boris):
    boris_before = Member.objects.values().get(pk=boris.member.pk)

    with time_machine.travel(T0, tick=False):
        response = anna.patch(
            reverse("api-me"),
            {
                "first_name": "Anya",
                "last_name": "Petrova",
                "email": " Anya@Example.COM ",
                "birthday": "1990-05-17",
                "preferences": "Strong pressure",
                "consents": {"sms": True, "push": False},
            },
        )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["first_name"], body["last_name"]) == ("Anya", "Petrova")
    assert body["email"] == "anya@example.com"
    assert body["birthday"] == "1990-05-17"
    assert body["consents"]["sms"]["granted"] is True
    assert body["consents"]["sms"]["changed_at"].startswith("2025-06-02T12:00")
    member = Member.objects.get(pk=anna.member.pk)
    assert (member.first_name, member.consent_sms) == ("Anya", True)
    assert member.consent_sms_at == T0
    # Another member is untouched
    assert Member.objects.values().get(pk=boris.member.pk) == boris_before


def test_patch_me_changes_my_language(anna):
    response = anna.patch(reverse("api-me"), {"language": "ru"})

    assert response.status_code == 200, response.json()
    assert Member.objects.get(pk=anna.member.pk).language == "ru"


def test_patch_me_ignores_fields_a_member_may_not_change(anna, location, service):
    # Given a member with visits, a card and a status
    services.visit_record(
        member=anna.member, location=location, lines=[VisitLineInput(service=service)]
    )
    cards.member_card_code(anna.member)
    before = Member.objects.values().get(pk=anna.member.pk)

    # When the app sends everything it should not
    response = anna.patch(
        reverse("api-me"),
        {
            "id": 999,
            "phone": "+79990001122",
            "status": "blocked",
            "visits_count": 1000,
            "total_spent": "999999.00",
            "first_visit_at": "2000-01-01T00:00:00Z",
            "tier": "platinum",
            "balance": 1_000_000,
            "points": 1_000_000,
            "is_staff": True,
            "is_superuser": True,
            "card_code": "AAAAAAAAAA",
            "registered_at": "2000-01-01T00:00:00Z",
            "registration_location": location.pk,
            "erased_phone_hash": "x",
            "signup_referral_code": "ME-MYSELF",
            "consent_sms_at": "2000-01-01T00:00:00Z",
        },
    )

    # Then it is accepted and nothing changed
    assert response.status_code == 200
    after = Member.objects.values().get(pk=anna.member.pk)
    before.pop("updated_at"), after.pop("updated_at")
    assert after == before
    assert not Member.objects.filter(phone="+79990001122").exists()


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"email": "not-an-email"}, "email", "invalid"),
        ({"birthday": "next tuesday"}, "birthday", "invalid"),
        ({"birthday": "2999-01-01"}, "birthday", "invalid_birthday"),
        ({"first_name": "A" * 81}, "first_name", "max_length"),
        ({"language": "xx"}, "language", "invalid_choice"),
        ({"consents": {"fax": True}}, "consents", "invalid_consent_channel"),
        ({"consents": {"sms": "maybe"}}, "consents.sms", "invalid"),
        ({"consents": "yes"}, "consents", "invalid"),
        ({"preferences": "x" * 2001}, "preferences", "max_length"),
    ],
)
def test_patch_me_refuses_bad_input_field_by_field(anna, body, field, code):
    before = Member.objects.values().get(pk=anna.member.pk)

    response = anna.patch(reverse("api-me"), body)

    assert response.status_code == 400
    error = response.json()
    # The request's shape is wrong: ``invalid``, the field's own code in fields
    # (``invalid_birthday`` and ``invalid_consent_channel`` too: docs/api.md).
    assert error["code"] == "invalid"
    assert error["fields"][field][0]["code"] == code
    assert Member.objects.values().get(pk=anna.member.pk) == before


def test_a_member_who_signed_up_without_a_name_can_set_consents(member_api):
    # Signing up in the app asks for the phone only
    app = member_api(services.member_register(phone="+79161230000", first_name=""))

    response = app.patch(reverse("api-me"), {"consents": {"push": True}})

    assert response.status_code == 200, response.json()
    assert response.json()["consents"]["push"]["granted"] is True


def test_patch_me_refuses_a_body_that_is_not_an_object(anna):
    response = anna.patch(reverse("api-me"), [1, 2], format="json")

    assert response.status_code == 400
    assert response.json()["code"] in {"invalid", "non_field_errors"}


def test_patch_me_refuses_malformed_json(anna):
    response = anna.generic(
        "PATCH", reverse("api-me"), "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


# --- DELETE me --------------------------------------------------------------


def test_delete_me_erases_me_and_signs_me_out(anna, boris):
    second_token, raw = access.token_issue(member=anna.member, device="iPad")

    response = anna.delete(reverse("api-me"))

    assert response.status_code == 204
    member = Member.objects.get(pk=anna.member.pk)
    assert member.status == Member.Status.ERASED
    assert member.first_name == ""
    assert access.token_authenticate(raw) is None
    assert anna.get(reverse("api-me")).status_code == 401
    # Boris is untouched and still signed in
    assert boris.get(reverse("api-me")).json()["first_name"] == "Boris"
    assert MemberToken.objects.filter(member=boris.member, revoked_at=None).exists()


# --- Card -------------------------------------------------------------------


def test_my_card_has_a_stable_code_and_its_qr(anna, boris):
    first = anna.get(reverse("api-me-card"))
    second = anna.get(reverse("api-me-card"))

    assert first.status_code == 200
    body = first.json()
    assert body == second.json()
    code = body["card_code"]
    assert len(code) == 10 and set(code) <= set(cards.CARD_CODE_ALPHABET)
    assert body["qr_svg"].startswith("<svg")
    assert body["qr_png_url"] == "http://testserver/api/v1/me/card/qr.png"
    assert body["qr_svg_url"] == "http://testserver/api/v1/me/card/qr.svg"
    assert code != boris.get(reverse("api-me-card")).json()["card_code"]
    assert cards.member_by_card_code(code) == anna.member


def test_my_card_qr_images_encode_my_card_code(anna):
    code = anna.get(reverse("api-me-card")).json()["card_code"]

    png = anna.get(reverse("api-me-card-png"))
    svg = anna.get(reverse("api-me-card-svg"), HTTP_ACCEPT="image/svg+xml")

    assert png.status_code == 200
    assert png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert png.content == qr_png(code)
    assert svg.status_code == 200
    assert svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    assert png["Cache-Control"] == "private, max-age=3600"


# --- Visits -----------------------------------------------------------------


@pytest.fixture
def anna_visits(anna, location, service, addon):
    """Five visits a day apart (the newest last), one partly refunded."""
    visits = []
    for day in range(5):
        with time_machine.travel(T0 + timedelta(days=day), tick=False):
            visits.append(
                services.visit_record(
                    member=anna.member,
                    location=location,
                    lines=[
                        VisitLineInput(service=service),
                        VisitLineInput(service=addon, quantity=2),
                    ],
                ).visit
            )
    services.visit_cancel(visit=visits[0], reason="no-show")
    return visits


def test_my_visits_are_listed_newest_first_with_their_lines(
    anna, boris, anna_visits, location, service
):
    services.visit_record(
        member=boris.member, location=location, lines=[VisitLineInput(service=service)]
    )

    response = anna.get(reverse("api-me-visits"), {"page_size": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    assert body["next"] is not None
    first = body["results"][0]
    assert first["id"] == anna_visits[-1].pk
    assert first["location"] == "Patriarch Ponds"
    assert (first["status"], first["total"], first["amount_paid"]) == (
        "paid",
        "4000.00",
        "4000.00",
    )
    assert first["amount_refunded"] == "0.00"
    assert first["payment_method"] == ""  # recorded without one
    assert first["lines"] == [
        {
            "service": "Classic massage, 60 min",
            "quantity": 1,
            "price": "3000.00",
            "refunded_quantity": 0,
        },
        {
            "service": "Aromatherapy add-on",
            "quantity": 2,
            "price": "500.00",
            "refunded_quantity": 0,
        },
    ]
    last_page = anna.get(reverse("api-me-visits"), {"page": 3, "page_size": 2}).json()
    assert last_page["results"][0]["status"] == "cancelled"
    # Boris's visit is not among Anna's
    all_ids = {
        v["id"]
        for v in anna.get(reverse("api-me-visits"), {"page_size": 100}).json()[
            "results"
        ]
    }
    assert all_ids == {v.pk for v in anna_visits}


@pytest.mark.parametrize("page_size", [1, 5])
def test_my_visits_take_the_same_queries_whatever_the_page_size(
    anna, anna_visits, django_assert_num_queries, page_size
):
    anna.get(reverse("api-me"))  # the token's last use is stamped once

    # the stamps (the token is cached; no member row), count, page of visits
    # with locations, their lines with services
    with django_assert_num_queries(4):
        response = anna.get(reverse("api-me-visits"), {"page_size": page_size})

    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize(
    ("params", "code"), [({"page": 99}, "not_found"), ({"page": "x"}, "not_found")]
)
def test_my_visits_refuse_a_page_that_does_not_exist(anna, params, code):
    response = anna.get(reverse("api-me-visits"), params)

    assert response.status_code == 404
    assert response.json()["code"] == code


def test_no_visits_is_an_empty_page(anna):
    body = anna.get(reverse("api-me-visits")).json()

    assert (body["count"], body["results"]) == (0, [])


# --- Export -----------------------------------------------------------------


@ONLY_MEMBERS_EXPORT
def test_my_export_is_a_json_download_of_my_data_only(anna, boris, location, service):
    services.visit_record(
        member=anna.member, location=location, lines=[VisitLineInput(service=service)]
    )
    services.visit_record(
        member=boris.member, location=location, lines=[VisitLineInput(service=service)]
    )

    response = anna.get(reverse("api-me-export"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == (
        f'attachment; filename="regulars-export-{anna.member.pk}.json"'
    )
    data = response.json()
    assert data["member_id"] == anna.member.pk
    assert data["profile"]["first_name"] == "Anna"
    assert len(data["visits"]) == 1
    assert data["visits"][0]["amount_paid"] == "3000.00"
    assert [d["token_prefix"] for d in data["devices"]] == [anna.token.prefix]
    assert "Boris" not in response.content.decode()
    assert anna.token.key_hash not in response.content.decode()


def test_my_export_includes_every_configured_section(anna):
    # The shipped setting: the members section, then the points program's
    response = anna.get(reverse("api-me-export"))

    assert response.status_code == 200
    data = response.json()
    assert {"profile", "visits", "devices", "messages", "wallet"} <= set(data)


def test_my_profile_leaves_the_visit_stats_out(anna):
    Member.objects.filter(pk=anna.member.pk).update(total_spent=Decimal("10"))

    body = anna.get(reverse("api-me")).json()

    assert "total_spent" not in body and "visits_count" not in body


def test_my_visits_say_how_each_was_paid(anna, location, service):
    services.visit_record(
        member=anna.member,
        location=location,
        lines=[VisitLineInput(service=service)],
        payment_method="cash",
    )

    [visit] = anna.get(reverse("api-me-visits")).json()["results"]

    assert visit["payment_method"] == "cash"
