"""Promo codes through the POS API: ``promo_codes`` of pos/quote and pos/visits.

The codes go to the one checkout pipeline as its ``promo_codes`` input; the
campaigns app's refusals answer 400 with their stable code in
``fields.promo_codes``. A booking's promo codes are part of its content: the
same codes (however spelt) replay, other codes conflict.

Catalogue and clock: tests/campaigns/conftest.py (massage classic-60 at
3000.00, Tuesday 10 June 2025, 15:00). A "regular" member has one earlier visit
that paid nothing, so promotions price alone (no first-visit discount).
"""

from decimal import Decimal

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from campaigns import selectors as campaigns_selectors
from campaigns.models import PromoCode, Promotion, PromotionUsage, Redemption
from members import access
from members.models import Visit
from rewards.models import VisitBenefit
from tests.factories import PromoCodeFactory, PromotionFactory

pytestmark = pytest.mark.django_db

QUOTE = reverse("pos-quote")
VISITS = reverse("pos-visits")


@pytest.fixture
def pos(pos_api, location):
    return pos_api(location)


@pytest.fixture
def spring(db):
    """A public code: 20 % off the bill, for anyone who gives SPRING."""
    promotion = PromotionFactory(
        name="Spring",
        code_required=True,
        effect=Promotion.Effect.PERCENT_BILL,
        percent=Decimal("20"),
    )
    return PromoCodeFactory(promotion=promotion, code="SPRING")


@pytest.fixture
def single_use(db):
    """One of a batch: 500.00 off, once."""
    promotion = PromotionFactory(
        name="Mailing",
        code_required=True,
        effect=Promotion.Effect.FIXED_BILL,
        percent=None,
        amount=Decimal("500"),
    )
    return PromoCodeFactory(promotion=promotion, code="K7M2QXAB", max_uses=1)


def order(member, **extra) -> dict:
    return {"member_id": member.pk, "lines": [{"service": "classic-60"}], **extra}


def booking(member, external_id="B-1", **extra) -> dict:
    return {**order(member, **extra), "external_id": external_id}


def field_codes(response) -> dict[str, list[str]]:
    return {
        name: [e["code"] for e in errors]
        for name, errors in response.json().get("fields", {}).items()
    }


def promotions_of(body) -> list[dict]:
    return [b for b in body["benefits"] if b["kind"] == "promotion"]


# --- Quote ---------------------------------------------------------------------------


def test_a_promo_code_prices_the_quote(pos, regular, spring):
    response = pos.post(QUOTE, order(regular, promo_codes=["spring"]))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["amount_to_pay"] == "2400.00"
    [benefit] = promotions_of(body)
    assert benefit["amount"] == "600.00"
    assert benefit["source"] == "Promotion “Spring”"
    assert benefit["reason"] == "promotion"
    assert benefit["description"] == "Promotion “Spring”: 20% off (code SPRING)"
    assert benefit["voucher_code"] is None
    # Nothing else is said: no promotion id, no other member's use of the code
    assert set(benefit) == {
        "kind", "source", "reason", "description", "amount", "points",
        "voucher_code",
    }  # fmt: skip


def test_a_promotion_without_a_code_applies_without_one(pos, regular):
    PromotionFactory(name="Summer", effect=Promotion.Effect.PERCENT_BILL)

    response = pos.post(QUOTE, order(regular))

    assert response.status_code == 200, response.json()
    assert [b["source"] for b in promotions_of(response.json())] == [
        "Promotion “Summer”"
    ]
    assert response.json()["amount_to_pay"] == "2700.00"


@pytest.mark.parametrize(
    "codes,error",
    [
        (["NOPE"], "promo_code_not_found"),
        (["SPRING", "spring"], "promo_code_duplicate"),
    ],
)
def test_a_refused_code_is_a_400_with_its_code(pos, regular, spring, codes, error):
    response = pos.post(QUOTE, order(regular, promo_codes=codes))

    assert response.status_code == 400
    assert response.json()["code"] == error
    assert field_codes(response) == {"promo_codes": [error]}


def test_a_code_whose_conditions_fail_says_why(pos, regular, spring):
    spring.promotion.first_visit = True
    spring.promotion.save()

    response = pos.post(QUOTE, order(regular, promo_codes=["SPRING"]))

    assert response.status_code == 400
    assert response.json()["code"] == "promo_code_not_applicable"
    assert "First visit only." in response.json()["message"]


@pytest.mark.parametrize(
    "codes",
    [["A", "B", "C", "D", "E", "F"], ["X" * 33], "SPRING", [None]],
    ids=["six", "too-long", "not-a-list", "null"],
)
def test_the_shape_of_promo_codes_is_checked(pos, regular, codes):
    response = pos.post(QUOTE, order(regular, promo_codes=codes))

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert any(name.startswith("promo_codes") for name in field_codes(response))


def test_quote_with_a_promo_code_runs_a_fixed_number_of_queries(
    pos, regular, spring, django_assert_num_queries
):
    PromotionFactory(name="Automatic", effect=Promotion.Effect.PERCENT_LINES)
    body = order(regular, promo_codes=["SPRING"])
    access.api_key_authenticate(pos.raw_key)
    pos.post(QUOTE, body)  # a warm process: settings, services, promotions cached
    # stamps · the member with its wallet · the promo codes typed (with their
    # promotions) · spendable points. No query per promotion: they are in
    # the process cache; limits, budgets and tried categories are read only
    # when a live promotion has them.
    with django_assert_num_queries(4) as captured:
        response = pos.post(QUOTE, body)
    assert response.status_code == 200, response.json()
    assert len(promotions_of(response.json())) == 2
    assert not any(
        q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        for q in captured.captured_queries
    )


# --- Recording ----------------------------------------------------------------------


def test_a_visit_with_a_promo_code_records_its_redemption(pos, regular, spring):
    response = pos.post(VISITS, booking(regular, promo_codes=["spring"]))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["visit"]["amount_paid"] == "2400.00"
    [benefit] = promotions_of(body)
    assert benefit["amount"] == "600.00"
    visit = Visit.objects.get(external_id="B-1")
    assert VisitBenefit.objects.filter(visit=visit, kind="promotion").count() == 1
    redemption = Redemption.objects.get(visit=visit)
    assert redemption.code == spring
    assert redemption.money == Decimal("600.00")
    spring.refresh_from_db()
    assert spring.uses == 1


def test_a_single_use_code_is_used_up_by_the_first_visit(pos, regular, single_use):
    first = pos.post(VISITS, booking(regular, "B-1", promo_codes=["k7m2-qxab"]))
    assert first.status_code == 201, first.json()
    assert first.json()["visit"]["amount_paid"] == "2500.00"

    again = pos.post(VISITS, booking(regular, "B-2", promo_codes=["K7M2QXAB"]))

    assert again.status_code == 400
    assert again.json()["code"] == "promo_code_used_up"
    assert field_codes(again) == {"promo_codes": ["promo_code_used_up"]}
    assert Visit.objects.filter(external_id="B-2").count() == 0
    single_use.refresh_from_db()
    assert single_use.uses == 1


def test_a_promotion_run_out_at_commit_is_refused(pos, regular, spring, monkeypatch):
    # The promotion's only redemption went to another till's visit after this
    # one's pricing read the usage (a race, replayed here by a stale read):
    # recording checks the limit again under the usage row's lock.
    spring.promotion.max_redemptions = 1
    spring.promotion.save()
    PromotionUsage.objects.create(promotion=spring.promotion, redemptions=1)
    monkeypatch.setattr(campaigns_selectors, "usage", lambda ids: {})

    response = pos.post(VISITS, booking(regular, promo_codes=["SPRING"]))

    assert response.status_code == 400  # as a voucher used meanwhile
    assert response.json()["code"] == "promotion_used_up"
    assert field_codes(response) == {"promo_codes": ["promotion_used_up"]}
    assert not Visit.objects.filter(external_id="B-1").exists()
    spring.refresh_from_db()
    assert spring.uses == 0


def test_the_same_booking_with_the_same_codes_replays(pos, regular, spring):
    first = pos.post(VISITS, booking(regular, promo_codes=["SPRING"]))
    assert first.status_code == 201, first.json()

    again = pos.post(VISITS, booking(regular, promo_codes=[" spr-ing "]))

    assert again.status_code == 201, again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Redemption.objects.count() == 1
    assert PromoCode.objects.get(pk=spring.pk).uses == 1


@pytest.mark.parametrize("codes", [[], ["SPRING", "OTHER"], ["OTHER"]])
def test_the_same_booking_with_other_codes_conflicts(pos, regular, spring, codes):
    PromoCodeFactory(code="OTHER")
    first = pos.post(VISITS, booking(regular, promo_codes=["SPRING"]))
    assert first.status_code == 201, first.json()

    response = pos.post(VISITS, booking(regular, promo_codes=codes))

    assert response.status_code == 409
    assert response.json()["code"] == "external_id_conflict"


def test_a_booking_without_codes_replays_with_an_empty_list(pos, regular):
    """Bookings recorded before promo codes existed keep their fingerprint."""
    first = pos.post(VISITS, booking(regular))
    assert first.status_code == 201, first.json()

    again = pos.post(VISITS, booking(regular, promo_codes=[]))

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"


# --- The documented contract ----------------------------------------------------------


def test_the_schema_documents_promo_codes_and_the_promotion_kind():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    for name in ("PosCheckoutRequest", "PosVisitInRequest"):
        field = components[name]["properties"]["promo_codes"]
        assert field["type"] == "array"
        assert field["maxItems"] == 5
        assert field["items"]["maxLength"] == 32
        assert "promo_codes" not in components[name].get("required", [])
    assert components["PosBenefitKindEnum"]["enum"] == [
        "tier_discount", "first_visit", "promotion", "voucher", "points",
    ]  # fmt: skip
    for path in ("/api/v1/pos/quote", "/api/v1/pos/visits"):
        description = schema["paths"][path]["post"]["description"]
        for code in ("promo_code_not_found", "promo_code_used_up", "promotion_used_up"):
            assert code in description, path


def test_the_quote_says_what_almost_applied(pos, regular, service):
    from campaigns.models import Promotion, PromotionGroup

    group = PromotionGroup.objects.create(name="Near")
    Promotion.objects.create(
        name="Big bill", description="−500 ₽ from 10,000 ₽", group=group,
        status="active", effect="fixed_bill", amount=Decimal("500"),
        min_bill=Decimal("10000"),
    )  # fmt: skip

    body = pos.post(
        "/api/v1/pos/quote",
        {"member_id": regular.pk, "lines": [{"service": service.pk}]},
        format="json",
    ).json()

    assert body["near_misses"] == [
        {"name": "−500 ₽ from 10,000 ₽", "missing": "From a bill of 10,000\u00a0₽."}
    ]
