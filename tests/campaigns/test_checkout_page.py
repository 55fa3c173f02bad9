"""Promo codes on the front desk's checkout page: typed beside the vouchers,
priced by the one checkout, refused on their own field.

Catalogue and clock: tests/campaigns/conftest.py (massage at 3000.00, aroma
at 500.00; Tuesday 10 June 2025, 15:00).
"""

from decimal import Decimal

import pytest

from campaigns.models import Promotion, Redemption
from members.models import Visit
from rewards.models import VisitBenefit
from tests.factories import PromoCodeFactory, PromotionFactory
from tests.rewards.test_checkout_page import URL, form_data, quote_and_commit

pytestmark = pytest.mark.django_db


@pytest.fixture
def spring(db):
    promotion = PromotionFactory(
        name="Spring",
        code_required=True,
        effect=Promotion.Effect.PERCENT_BILL,
        percent=Decimal("20"),
    )
    return PromoCodeFactory(promotion=promotion, code="SPRING")


def test_the_page_asks_for_promo_codes(front_desk_client, regular):
    response = front_desk_client.get(URL, {"member": regular.pk})

    assert response.status_code == 200
    assert 'name="promo_codes"' in response.content.decode()


def test_a_promo_code_shows_in_the_quote_and_is_redeemed(
    front_desk_client, regular, location, service, addon, spring
):
    data = form_data(regular, location, [(service, 1), (addon, 1)])
    data["promo_codes"] = "spring,"

    quoted, committed = quote_and_commit(front_desk_client, data)

    # The quote lists the promotion with the other benefits, in words
    quote = quoted.context["quote"]
    assert quote.amount_to_pay == Decimal("2800.00")
    assert [(b.kind, b.amount) for b in quote.benefits] == [
        ("promotion", Decimal("700.00"))
    ]
    page = quoted.content.decode()
    assert "Promotion “Spring”: 20% off (code SPRING)" in page
    assert 'value="SPRING"' in page  # the field shows the code as read
    # And recording the visit redeems it once
    assert committed.status_code == 302, committed.context["form"].errors
    visit = Visit.objects.get(member=regular, amount_paid=Decimal("2800.00"))
    assert VisitBenefit.objects.get(visit=visit).kind == "promotion"
    assert Redemption.objects.get(visit=visit).code == spring


@pytest.mark.parametrize(
    "typed,code",
    [("NOPE", "promo_code_not_found"), ("SPRING OTHER", "promo_code_duplicate")],
)
def test_a_refused_code_is_an_error_on_its_field(
    front_desk_client, regular, location, service, spring, typed, code
):
    PromoCodeFactory(promotion=spring.promotion, code="OTHER")  # one promotion
    data = form_data(regular, location, [(service, 1)], promo_codes=typed)

    response = front_desk_client.post(URL, {**data, "quote": "1"})

    assert response.status_code == 200
    assert response.context["quote"] is None
    form = response.context["form"]
    assert [e.code for e in form.errors.as_data()["promo_codes"]] == [code]
    assert (
        not Visit.objects.filter(member=regular, paid_at__isnull=False)
        .exclude(amount_paid=0)
        .exists()
    )


def test_a_visit_without_codes_is_priced_as_before(
    front_desk_client, regular, location, service
):
    data = form_data(regular, location, [(service, 1)])

    quoted, committed = quote_and_commit(front_desk_client, data)

    assert quoted.context["quote"].amount_to_pay == Decimal("3000.00")
    assert committed.status_code == 302


def test_the_quote_names_what_almost_applies(
    front_desk_client, regular, location, service
):
    PromotionFactory(
        name="Big bill", description="−500 ₽ from 10,000 ₽",
        effect=Promotion.Effect.FIXED_BILL, amount=Decimal("500"),
        min_bill=Decimal("10000"),
    )  # fmt: skip
    data = form_data(regular, location, [(service, 1)])

    response = front_desk_client.post(URL, {**data, "quote": "1"})

    page = response.content.decode()
    assert "Almost applies:" in page
    assert "−500 ₽ from 10,000 ₽" in page
    assert "From a bill of 10,000\u00a0₽." in page
