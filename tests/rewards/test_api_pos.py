"""The POS integration API, members and quotes: /api/v1/pos/members…, /pos/quote.

Every endpoint needs a live key of an open location (401 JSON otherwise) and is
throttled per key. Members belong to the chain: any location's key finds any
member, never an erased one. The quote prices exactly as the checkout service
does and writes nothing.

Catalogue: massage 3000.00 (code classic-60) and aroma 500.00; shipped program
(5 points per 100 paid, up to 30% of a bill in points, 1 point = 1.00).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from members import access
from members.api.common import PosThrottle
from members.models import Member, Visit
from members.privacy import member_erase
from members.services import member_update
from rewards.models import Voucher
from rewards.services import voucher_cancel, voucher_issue
from tests.conftest import moscow
from tests.factories import LocationFactory, MemberFactory, RewardFactory
from tests.rewards.conftest import give_points, row_counts, state_of, tier_set

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
LOOKUP = reverse("pos-member-lookup")
REGISTER = reverse("pos-member-register")
QUOTE = reverse("pos-quote")


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def pos(pos_api, location):
    return pos_api(location)


@pytest.fixture
def warm(pos):
    """A client whose key was used a moment ago (no "last used" write)."""
    access.api_key_authenticate(pos.raw_key)
    return pos


def issue_voucher(member, reward=None, *, n=0, **reward_fields):
    return voucher_issue(
        member=member,
        reward=reward or RewardFactory(**reward_fields),
        key=f"test:{member.pk}:{n}",
        source=Voucher.Source.MANUAL,
    )


def codes(response) -> dict[str, list[str]]:
    """{field: [codes]} of an error body."""
    return {
        name: [e["code"] for e in errors]
        for name, errors in response.json().get("fields", {}).items()
    }


# --- Authentication and throttling ----------------------------------------------


ENDPOINTS = [
    ("get", LOOKUP + "?phone=%2B79161234567"),
    ("post", REGISTER),
    ("post", QUOTE),
    ("post", reverse("pos-visits")),
    ("post", reverse("pos-visit-cancel", args=["b-1"])),
    ("post", reverse("pos-visit-refund", args=["b-1"])),
]


@pytest.mark.parametrize("method,url", ENDPOINTS)
def test_every_endpoint_wants_a_key(api_client, method, url):
    response = getattr(api_client, method)(url, {} if method == "post" else None)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("method,url", ENDPOINTS)
def test_a_wrong_key_is_refused(method, url):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY="rgk_not-a-key")

    response = getattr(client, method)(url, {} if method == "post" else None)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


def test_a_revoked_key_stops_working_at_once(pos, member):
    assert pos.get(LOOKUP, {"phone": str(member.phone)}).status_code == 200

    access.api_key_revoke(key=pos.api_key)
    response = pos.get(LOOKUP, {"phone": str(member.phone)})

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


def test_the_key_also_goes_in_the_authorization_header(pos, member):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {pos.raw_key}")

    assert client.get(LOOKUP, {"phone": str(member.phone)}).status_code == 200


def test_a_closed_locations_key_is_refused(pos, location, member):
    location.is_active = False
    location.save()

    response = pos.get(LOOKUP, {"phone": str(member.phone)})

    assert response.status_code == 401


def test_a_member_token_is_no_pos_key(member_api, member):
    client = member_api(member)

    response = client.get(LOOKUP, {"phone": str(member.phone)})

    assert response.status_code == 401


def test_each_key_is_throttled_on_its_own(monkeypatch, pos_api, location, member):
    # Given a rate of 2 requests a minute per key
    monkeypatch.setattr(PosThrottle, "THROTTLE_RATES", {"pos": "2/min"})
    first, second = pos_api(location), pos_api(location)
    query = {"phone": str(member.phone)}

    # When the first key sends three requests
    statuses = [first.get(LOOKUP, query).status_code for _ in range(3)]

    # Then the third is refused with a wait, and the other key is not slowed
    assert statuses == [200, 200, 429]
    body = first.get(LOOKUP, query).json()
    assert body["code"] == "throttled"
    assert body["retry_after"] > 0
    assert second.get(LOOKUP, query).status_code == 200


# --- Lookup -----------------------------------------------------------------------


def test_lookup_by_phone_typed_any_way(pos, location, service, record_visit):
    member = MemberFactory(
        phone="+79161234567", first_name="Anna", last_name="Smirnova"
    )
    record_visit(member, paid_at=NOW - timedelta(days=3))
    give_points(member, 250)
    tier_set(member, "silver")
    voucher = issue_voucher(member, name="10% off")

    response = pos.get(LOOKUP, {"phone": "8 916 123-45-67"})

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == member.pk
    assert body["name"] == "Anna Smirnova"
    assert body["phone"] == "+79161234567"
    assert body["status"] == "active"
    assert body["tier"] == {
        "code": "silver",
        "name": "Silver",
        "discount_percent": "10.00",
    }
    # 3000 paid at 5 per 100 = 150 earned, plus the 250 given
    assert body["points"] == {"available": 400, "pending": 0, "debt": 0}
    assert body["vouchers"] == [
        {
            "code": voucher.code,
            "reward": "10% off",
            "reward_kind": "percent_discount",
            "valid_until": "2025-07-10T15:00:00+03:00",
        }
    ]
    assert body["visits_count"] == 1
    assert body["last_visit_at"] == "2025-06-07T15:00:00+03:00"


def test_lookup_by_card_code(pos, member):
    Member.objects.filter(pk=member.pk).update(card_code="AB3K7Q9XYZ")

    response = pos.get(LOOKUP, {"card": " ab3k-7q9x-yz "})

    assert response.status_code == 200
    assert response.json()["id"] == member.pk
    assert response.json()["card_code"] == "AB3K7Q9XYZ"


def test_lookup_lists_only_vouchers_the_member_can_use_now(pos, member):
    active = issue_voucher(member, n=1)
    cancelled = issue_voucher(member, n=2)
    voucher_cancel(voucher=cancelled)
    lapsed = issue_voucher(member, n=3)
    Voucher.objects.filter(pk=lapsed.pk).update(valid_until=NOW)
    issue_voucher(MemberFactory(), n=4)  # someone else's

    body = pos.get(LOOKUP, {"phone": str(member.phone)}).json()

    assert [v["code"] for v in body["vouchers"]] == [active.code]


def test_a_new_member_is_on_the_base_tier_with_no_points(pos, member):
    body = pos.get(LOOKUP, {"phone": str(member.phone)}).json()

    assert body["tier"]["code"] == "base"
    assert body["points"] == {"available": 0, "pending": 0, "debt": 0}
    assert body["vouchers"] == []
    assert body["last_visit_at"] is None


def test_any_locations_key_finds_any_member(pos_api, member):
    elsewhere = pos_api(LocationFactory())

    assert elsewhere.get(LOOKUP, {"phone": str(member.phone)}).status_code == 200


def test_a_blocked_member_is_found_with_their_status(pos, member):
    member_update(member=member, status=Member.Status.BLOCKED)

    body = pos.get(LOOKUP, {"phone": str(member.phone)}).json()

    assert body["status"] == "blocked"


def test_an_erased_member_is_never_found(pos, member):
    phone = str(member.phone)
    Member.objects.filter(pk=member.pk).update(card_code="AB3K7Q9XYZ")
    member_erase(member=member)

    assert pos.get(LOOKUP, {"phone": phone}).status_code == 404
    assert pos.get(LOOKUP, {"card": "AB3K7Q9XYZ"}).status_code == 404


@pytest.mark.parametrize(
    "query",
    [{}, {"phone": "+79161234567", "card": "AB3K7Q9XYZ"}, {"phone": ""}],
    ids=["none", "both", "empty"],
)
def test_lookup_wants_exactly_one_of_phone_or_card(pos, query):
    response = pos.get(LOOKUP, query)

    assert response.status_code == 400
    assert response.json()["code"] == "lookup_parameter_required"


@pytest.mark.parametrize("phone", ["12", "8916CALLME", "+7 916"])
def test_lookup_by_a_phone_that_is_not_one(pos, phone):
    response = pos.get(LOOKUP, {"phone": phone})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_phone"


def test_lookup_of_nobody(pos):
    for query in ({"phone": "+79160000000"}, {"card": "NOSUCHCARD"}):
        response = pos.get(LOOKUP, query)

        assert response.status_code == 404
        assert response.json()["code"] == "member_not_found"


def test_lookup_costs_the_same_few_queries_for_any_member(
    warm, member, django_assert_num_queries
):
    # Given a member with points, a tier and several vouchers
    give_points(member, 500)
    for n in range(4):
        issue_voucher(member, n=n)

    # Then: the key, the member with wallet and tier, the vouchers
    with django_assert_num_queries(3):
        response = warm.get(LOOKUP, {"phone": str(member.phone)})
    assert len(response.json()["vouchers"]) == 4


# --- Registration at the till -------------------------------------------------


def test_register_a_client_at_the_till(pos, location):
    response = pos.post(
        REGISTER,
        {
            "phone": "8 916 555-44-33",
            "first_name": "Olga",
            "last_name": "Petrova",
            "email": "Olga@Example.com",
            "birthday": "1990-04-01",
            "consents": {"sms": True, "email": False},
        },
    )

    assert response.status_code == 201, response.json()
    member = Member.objects.get(phone="+79165554433")
    assert response.json()["id"] == member.pk
    assert response.json()["name"] == "Olga Petrova"
    assert response.json()["tier"]["code"] == "base"
    assert member.registration_location == location
    assert member.email == "olga@example.com"
    assert str(member.birthday) == "1990-04-01"
    assert (member.consent_sms, member.consent_email) == (True, False)
    assert member.consent_sms_at == NOW


def test_register_needs_only_phone_and_first_name(pos):
    response = pos.post(REGISTER, {"phone": "+79165554433", "first_name": "Olga"})

    assert response.status_code == 201
    assert response.json()["last_name"] == ""


def test_a_phone_that_is_a_member_already_is_a_409_with_their_id(pos, member):
    response = pos.post(
        REGISTER, {"phone": member.phone.as_national, "first_name": "Someone"}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "member_exists"
    assert response.json()["member_id"] == member.pk
    assert Member.objects.count() == 1


@pytest.mark.parametrize(
    "body,field,code",
    [
        ({"phone": "123", "first_name": "Olga"}, "phone", "invalid_phone"),
        ({"phone": "+79165554433"}, "first_name", "required"),
        ({"phone": "+79165554433", "first_name": ""}, "first_name", "blank"),
        (
            {"phone": "+79165554433", "first_name": "O", "email": "x"},
            "email",
            "invalid",
        ),
        (
            {"phone": "+79165554433", "first_name": "O", "birthday": "soon"},
            "birthday",
            "invalid",
        ),
    ],
)
def test_registration_errors_name_their_field(pos, body, field, code):
    response = pos.post(REGISTER, body)

    assert response.status_code == 400
    assert code in codes(response)[field]
    # Not a phone number is a documented code of its own; the rest is shape.
    assert response.json()["code"] == (
        "invalid_phone" if code == "invalid_phone" else "invalid"
    )
    assert Member.objects.count() == 0


def test_mass_assignment_at_registration_changes_nothing(pos):
    response = pos.post(
        REGISTER,
        {
            "phone": "+79165554433",
            "first_name": "Olga",
            "status": "blocked",
            "visits_count": 99,
            "card_code": "MINEMINE22",
        },
    )

    assert response.status_code == 201
    member = Member.objects.get()
    assert (member.status, member.visits_count, member.card_code) == (
        "active",
        0,
        None,
    )


# --- Quote --------------------------------------------------------------------


def test_quote_prices_the_visit_line_by_line(pos, member, service, addon):
    # Given a Silver member (10% off) with 1000 points and a 20% voucher
    tier_set(member, "silver")
    give_points(member, 1000)
    voucher = issue_voucher(member, name="20% off", discount_percent=Decimal("20"))

    # When the till asks for two massages by code and an aroma by id
    response = pos.post(
        QUOTE,
        {
            "phone": str(member.phone),
            "lines": [
                {"service": "classic-60", "quantity": 2},
                {"service": addon.pk, "price": "400.00", "price_reason": "Regular"},
            ],
            "voucher_codes": [voucher.code.lower()],
            "points_to_use": 300,
        },
    )

    # Then every benefit with its source, in the order applied
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["member_id"] == member.pk
    assert body["tier"]["code"] == "silver"
    # 6400 gross; Silver 10% = 640; the voucher 20% of 5760 = 1152; 300 points
    assert body["total"] == "6400.00"
    assert body["discount_total"] == "1792.00"
    assert body["amount_to_pay"] == "4308.00"
    assert [(b["kind"], b["amount"], b["points"]) for b in body["benefits"]] == [
        ("tier_discount", "640.00", 0),
        ("voucher", "1152.00", 0),
        ("points", "300.00", 300),
    ]
    tier_benefit, voucher_benefit, points_benefit = body["benefits"]
    assert tier_benefit["source"] == "Silver"
    assert tier_benefit["description"] == "Silver tier discount 10%"
    assert voucher_benefit["voucher_code"] == voucher.code
    assert voucher_benefit["description"] == f"Voucher {voucher.code}: 20% off"
    assert points_benefit["voucher_code"] is None
    massage, aroma = body["lines"]
    assert massage["service"] == {
        "id": service.pk,
        "code": "classic-60",
        "name": "Classic massage, 60 min",
    }
    assert (massage["quantity"], massage["unit_price"], massage["amount"]) == (
        2,
        "3000.00",
        "6000.00",
    )
    assert (aroma["unit_price"], aroma["amount"]) == ("400.00", "400.00")
    assert Decimal(massage["to_pay"]) + Decimal(aroma["to_pay"]) == Decimal("4308.00")
    # 30% of what is left after discounts (4608) is 1382 points
    assert body["points"] == {
        "available": 1000,
        "max_usable": 1000,
        "used": 300,
        "money": "300.00",
    }
    assert body["points_to_earn"] == 269  # 4308 × 5% × 1.25
    assert "269 points" in body["earn_explanation"]


def test_a_quote_changes_nothing(pos, member, service):
    give_points(member, 1000)
    voucher = issue_voucher(member)
    before = state_of(member)

    response = pos.post(
        QUOTE,
        {
            "member_id": member.pk,
            "lines": [{"service": "classic-60"}],
            "voucher_codes": [voucher.code],
            "points_to_use": 100,
        },
    )

    assert response.status_code == 200
    assert state_of(member) == before


def test_quote_finds_the_member_by_card(pos, member, service):
    Member.objects.filter(pk=member.pk).update(card_code="AB3K7Q9XYZ")

    response = pos.post(
        QUOTE, {"card": "ab3k7q9xyz", "lines": [{"service": service.pk}]}
    )

    assert response.status_code == 200
    assert response.json()["member_id"] == member.pk


def test_quote_of_a_first_visit_shows_the_welcome_discount(pos, member, service):
    response = pos.post(
        QUOTE, {"member_id": member.pk, "lines": [{"service": service.pk}]}
    )

    body = response.json()
    assert [(b["kind"], b["amount"]) for b in body["benefits"]] == [
        ("first_visit", "150.00")
    ]
    assert body["amount_to_pay"] == "2850.00"


@pytest.mark.parametrize(
    "extra,status,code",
    [
        ({}, 400, "member_required"),
        ({"member_id": 1, "phone": "+79161234567"}, 400, "member_required"),
        ({"phone": "not a phone"}, 400, "invalid_phone"),
        ({"phone": "+79160000000"}, 404, "member_not_found"),
        ({"member_id": 999999}, 404, "member_not_found"),
    ],
)
def test_quote_names_one_member(pos, service, extra, status, code):
    response = pos.post(QUOTE, {"lines": [{"service": service.pk}], **extra})

    assert response.status_code == status
    assert response.json()["code"] == code


def test_an_erased_member_by_id_is_nobody_at_the_quote_and_the_till(
    pos, member, service
):
    member_erase(member=member)
    body = {"member_id": member.pk, "lines": [{"service": service.pk}]}

    quote = pos.post(QUOTE, body)
    visit = pos.post(reverse("pos-visits"), {**body, "external_id": "B-erased"})

    assert (quote.status_code, quote.json()["code"]) == (404, "member_not_found")
    assert (visit.status_code, visit.json()["code"]) == (404, "member_not_found")
    assert not Visit.objects.filter(member=member).exists()


def test_no_quote_for_a_blocked_member(pos, member, service):
    member_update(member=member, status=Member.Status.BLOCKED)

    response = pos.post(
        QUOTE, {"member_id": member.pk, "lines": [{"service": service.pk}]}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "member_not_active"


@pytest.mark.parametrize(
    "lines,field,code",
    [
        ([{"service": 999999}], "lines", "unknown_service"),
        ([{"service": "no-such-service"}], "lines", "unknown_service"),
        ([{"service": True}], "lines.0.service", "invalid"),
        ([{"service": 1.5}], "lines.0.service", "invalid"),
        ([], "lines", "min_length"),
        ([{"service": "classic-60"}] * 51, "lines", "max_length"),
        ([{"service": "classic-60", "quantity": 0}], "lines.0.quantity", "min_value"),
        ([{"service": "classic-60", "quantity": 101}], "lines.0.quantity", "max_value"),
        ([{"service": "classic-60", "price": "-1"}], "lines.0.price", "min_value"),
        (
            [{"service": "classic-60", "price": "1.005"}],
            "lines.0.price",
            "max_decimal_places",
        ),
        ([{"service": "classic-60", "price": "abc"}], "lines.0.price", "invalid"),
        ("nope", "lines", "not_a_list"),
    ],
)
def test_quote_line_errors_name_their_field(pos, member, service, lines, field, code):
    response = pos.post(QUOTE, {"member_id": member.pk, "lines": lines})

    assert response.status_code == 400, response.json()
    assert code in codes(response)[field], response.json()
    # A wrong shape is ``invalid``; an unknown service is a rule's refusal,
    # answered with its own code (docs/api.md, *Errors*).
    answer = "unknown_service" if code == "unknown_service" else "invalid"
    assert response.json()["code"] == answer


QUOTE_AND_VISIT = pytest.mark.parametrize("path", ["pos-quote", "pos-visits"])


@QUOTE_AND_VISIT
@pytest.mark.parametrize(
    "change,field,code",
    [
        ({"points_to_use": -5}, "points_to_use", "min_value"),
        ({"points_to_use": "many"}, "points_to_use", "invalid"),
        (
            {"lines": [{"service": "classic-60", "quantity": -1}]},
            "lines.0.quantity",
            "min_value",
        ),
        ({"lines": None}, "lines", "null"),
        ({"voucher_codes": "ABC"}, "voucher_codes", "not_a_list"),
    ],
)
def test_a_wrongly_shaped_checkout_answers_invalid_with_the_detail_in_fields(
    pos, member, service, path, change, field, code
):
    body = {
        "member_id": member.pk,
        "external_id": "B-shape",
        "lines": [{"service": "classic-60"}],
        **change,
    }

    response = pos.post(reverse(path), body)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert codes(response) == {field: [code]}
    assert not Visit.objects.exists()


@QUOTE_AND_VISIT
def test_a_missing_field_answers_invalid_with_required_in_fields(
    pos, member, service, path
):
    response = pos.post(reverse(path), {"member_id": member.pk, "external_id": "B-1"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert codes(response) == {"lines": ["required"]}


def test_voucher_errors_are_the_pricing_services(pos, member, service):
    other = MemberFactory()
    theirs = issue_voucher(other, n=1)
    used_up = issue_voucher(member, n=2)
    voucher_cancel(voucher=used_up)
    lapsed = issue_voucher(member, n=3)
    Voucher.objects.filter(pk=lapsed.pk).update(valid_until=NOW - timedelta(days=1))
    mine = issue_voucher(member, n=4)
    cases = {
        "NOSUCHCODE": "voucher_not_found",
        theirs.code: "voucher_not_found",
        used_up.code: "voucher_not_active",
        lapsed.code: "voucher_expired",
    }

    for code, expected in cases.items():
        response = pos.post(
            QUOTE,
            {
                "member_id": member.pk,
                "lines": [{"service": service.pk}],
                "voucher_codes": [code],
            },
        )
        assert response.status_code == 400
        assert response.json()["code"] == expected
        assert codes(response) == {"voucher_codes": [expected]}

    response = pos.post(
        QUOTE,
        {
            "member_id": member.pk,
            "lines": [{"service": service.pk}],
            "voucher_codes": [mine.code, mine.code],
        },
    )
    assert response.json()["code"] == "voucher_duplicate"


def test_points_over_the_bills_limit_are_refused(pos, member, service):
    give_points(member, 5000)

    response = pos.post(
        QUOTE,
        {
            "member_id": member.pk,
            "lines": [{"service": service.pk}],
            "points_to_use": 901,  # 30% of 3000 (welcome 5% off: 2850) = 855
        },
    )

    assert response.status_code == 400
    assert response.json()["code"] == "points_over_limit"
    assert codes(response) == {"points_to_use": ["points_over_limit"]}


def test_points_the_member_does_not_have_are_refused(pos, member, service):
    give_points(member, 100)

    response = pos.post(
        QUOTE,
        {
            "member_id": member.pk,
            "lines": [{"service": service.pk}],
            "points_to_use": 101,
        },
    )

    assert response.status_code == 400
    assert codes(response) == {"points_to_use": ["points_insufficient"]}


def test_a_negative_points_amount_is_a_field_error(pos, member, service):
    response = pos.post(
        QUOTE,
        {
            "member_id": member.pk,
            "lines": [{"service": service.pk}],
            "points_to_use": -5,
        },
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert codes(response) == {"points_to_use": ["min_value"]}


def test_a_quote_is_answered_in_the_tills_language(pos, member, service):
    tier_set(member, "silver")

    response = pos.post(
        QUOTE,
        {"member_id": member.pk, "lines": [{"service": service.pk}]},
        HTTP_ACCEPT_LANGUAGE="ru",
    )

    description = response.json()["benefits"][0]["description"]
    assert description != "Silver tier discount 10%"
    assert "10" in description


def test_quote_query_count_is_fixed(warm, member, service, django_assert_num_queries):
    give_points(member, 1000)
    voucher = issue_voucher(member)
    body = {
        "member_id": member.pk,
        "lines": [{"service": "classic-60"}, {"service": service.pk, "quantity": 2}],
        "voucher_codes": [voucher.code],
        "points_to_use": 100,
    }
    warm.post(QUOTE, body)  # a warm process: settings, services, the key cached
    # stamps · the member with its wallet (no lock; by id, no look-up first) ·
    # the voucher · spendable points
    with django_assert_num_queries(4) as captured:
        response = warm.post(QUOTE, body)
    assert response.status_code == 200, response.json()
    assert not any(
        q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        for q in captured.captured_queries
    )
    assert row_counts()
