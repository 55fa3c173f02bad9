"""GET me/offers: what the signed-in member can use now and soon, in words;
never a promotion whose member conditions fail, never a batch's code."""

from datetime import time
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from campaigns.models import PromoCode, Promotion, PromotionGroup
from campaigns.offers import offers_for
from tests.conftest import moscow
from tests.rewards.conftest import tier, tier_set

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)  # a Tuesday afternoon


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def group(db):
    return PromotionGroup.objects.create(name="Main", mode="best")


def promotion(group, **fields) -> Promotion:
    fields.setdefault("status", Promotion.Status.ACTIVE)
    fields.setdefault("effect", Promotion.Effect.PERCENT_BILL)
    fields.setdefault("percent", Decimal("10"))
    return Promotion.objects.create(group=group, **fields)


def offers(api) -> list[dict]:
    response = api.get(reverse("api-me-offers"))
    assert response.status_code == 200, response.content
    return response.json()["offers"]


def test_now_soon_and_not_for_this_member(member, member_api, group, category):
    tier_set(member, "silver")
    promotion(group, name="Everyone", description="10 % for everyone")
    morning = promotion(group, name="Mornings", weekdays="12345",
                        time_from=time(10), time_to=time(13))  # fmt: skip
    promotion(group, name="Next week", starts_at=moscow(2025, 6, 14))
    promotion(group, name="Far off", starts_at=moscow(2025, 7, 20))
    promotion(group, name="Gold only").tiers.add(tier("gold"))
    promotion(group, name="First visit", first_visit=True)
    promotion(group, name="Draft", status=Promotion.Status.DRAFT)
    morning.categories.add(category)

    body = offers(member_api(member))

    seen = {o["name"]: o for o in body}
    assert set(seen) == {"Everyone", "Mornings", "Next week", "First visit"}
    assert seen["Everyone"]["when"] == "now"
    assert seen["Everyone"]["effect"] == "10% off"
    assert seen["Mornings"]["when"] == "soon"  # 15:00 is past the window
    assert seen["Mornings"]["conditions"][:3] == [
        "On: Massage",
        "Days: Mon, Tue, Wed, Thu, Fri",
        "Hours: 10:00–13:00",
    ]
    assert seen["Next week"]["when"] == "soon"
    assert [o["name"] for o in body][0] in {"Everyone", "First visit"}


def test_first_visit_promotion_goes_after_the_first_visit(member, group, record_visit):
    promotion(group, name="First visit", first_visit=True)
    assert [o.rule.name for o in offers_for(member=member)] == ["First visit"]

    record_visit(member)
    member.refresh_from_db()

    assert offers_for(member=member) == []


def test_a_code_promotion_shows_its_public_code_never_a_batch_code(member, group):
    public = promotion(group, name="Welcome", code_required=True)
    PromoCode.objects.create(promotion=public, code="WELCOME")
    handed_out = promotion(group, name="Flyer", code_required=True)
    PromoCode.objects.create(
        promotion=handed_out, code="K7M2P9QX", batch="flyers", max_uses=1
    )

    found = {o.rule.name: o.code for o in offers_for(member=member)}

    assert found == {"Welcome": "WELCOME"}


def test_russian_words(member, member_api, group):
    promotion(group, name="Скидка", min_bill=Decimal("5000"), uses_per_member=2)
    api = member_api(member)

    response = api.get(reverse("api-me-offers"), HTTP_ACCEPT_LANGUAGE="ru")

    (offer,) = response.json()["offers"]
    assert offer["effect"] == "скидка 10%"
    assert "От суммы 5 000 ₽" in [c.replace("\u00a0", " ") for c in offer["conditions"]]


def test_offers_need_a_signed_in_member(client):
    assert client.get(reverse("api-me-offers")).status_code == 401
