"""Two more conditions: who performs a service (a specialist's promotion), and
how often the member came lately (a regular's offer)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import Promotion, PromotionGroup, Redemption
from members.models import Specialist
from members.services import VisitLineInput
from rewards.services import checkout_commit, checkout_quote
from tests.campaigns.conftest import NOW
from tests.conftest import error_codes

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(db):
    return PromotionGroup.objects.create(name="Main", mode="stack")


@pytest.fixture
def olga(location):
    specialist = Specialist.objects.create(name="Olga", code="olga")
    specialist.locations.add(location)
    return specialist


@pytest.fixture
def ivan(location):
    specialist = Specialist.objects.create(name="Ivan", code="ivan")
    specialist.locations.add(location)
    return specialist


def promo_names(quote) -> list[str]:
    return [b.params["name"] for b in quote.benefits if b.kind == "promotion"]


def test_a_specialists_promotion_takes_off_only_their_lines(
    regular, location, service, addon, group, olga, ivan
):
    promotion = Promotion.objects.create(
        name="Olga's week", group=group, status="active",
        effect="percent_lines", percent=Decimal("20"),
    )  # fmt: skip
    promotion.specialists.add(olga)
    lines = [
        VisitLineInput(service=service, specialist="olga"),  # 3000 by Olga
        VisitLineInput(service=addon, specialist=ivan),  # 500 by Ivan
    ]

    quote = checkout_quote(member=regular, location=location, lines=lines)
    result = checkout_commit(member=regular, location=location, lines=lines)

    (benefit,) = [b for b in quote.benefits if b.kind == "promotion"]
    assert benefit.per_line == {0: Decimal("600.00")}  # 20 % of 3000: Olga's line only
    assert Redemption.objects.get(visit=result.visit).money == Decimal("600.00")
    nobody = checkout_quote(
        member=regular, location=location, lines=[VisitLineInput(service=service)]
    )
    assert promo_names(nobody) == []


@pytest.mark.parametrize(("visits", "applies"), [(1, False), (2, True), (3, True)])
def test_a_regulars_offer_counts_the_paid_visits_of_the_last_days(
    member, location, service, group, record_visit, visits, applies
):
    record_visit(member, paid_at=NOW - timedelta(days=40))  # too long ago
    for n in range(visits):
        record_visit(member, paid_at=NOW - timedelta(days=5 + n))
    Promotion.objects.create(
        name="Regulars", group=group, status="active", effect="fixed_bill",
        amount=Decimal("300"), recent_visits=2, recent_days=30,
    )  # fmt: skip
    member.refresh_from_db()

    quote = checkout_quote(
        member=member, location=location, lines=[VisitLineInput(service=service)]
    )

    assert (promo_names(quote) == ["Regulars"]) is applies


def test_a_code_of_a_regulars_offer_says_what_is_missing(
    member, location, service, group
):
    from campaigns.models import PromoCode

    promotion = Promotion.objects.create(
        name="Regulars", group=group, status="active", effect="fixed_bill",
        amount=Decimal("300"), recent_visits=3, recent_days=60, code_required=True,
    )  # fmt: skip
    PromoCode.objects.create(promotion=promotion, code="REGULAR")

    with pytest.raises(ValidationError) as caught:
        checkout_quote(
            member=member, location=location,
            lines=[VisitLineInput(service=service)], promo_codes=["regular"],
        )  # fmt: skip

    assert error_codes(caught.value) == {"promo_code_not_applicable"}
    assert "For clients with 3 visits in the last 60 days." in str(caught.value)
