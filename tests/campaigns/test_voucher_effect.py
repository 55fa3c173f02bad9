"""A promotion whose effect is a voucher for the next visit: listed on the
quote at 0, issued once the visit is recorded (once, however often the booking
is retried), cancelled with the visit while unused."""

from decimal import Decimal

import pytest

from campaigns.models import Promotion, PromotionGroup, Redemption
from members.models import Visit
from members.services import visit_cancel
from rewards.models import Voucher
from tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def next_visit_coupon(db):
    reward = RewardFactory(name="10% off the next visit", points_cost=150)
    group = PromotionGroup.objects.create(name="Coupons", mode="best")
    return Promotion.objects.create(
        name="Come back", group=group, status="active", effect="voucher",
        reward=reward, min_bill=Decimal("2000"),
    )  # fmt: skip


@pytest.mark.usefixtures("next_visit_coupon")
def test_the_quote_names_the_voucher_and_takes_nothing_off(regular, quote):
    q = quote(regular)
    (benefit,) = [b for b in q.benefits if b.kind == "promotion"]
    assert benefit.amount == Decimal("0.00")
    assert benefit.explanation == (
        "Promotion “Come back”: a voucher “10% off the next visit” for the next visit"
    )


@pytest.mark.usefixtures("next_visit_coupon")
def test_the_visit_issues_the_voucher_once_and_its_cancel_takes_it_back(
    regular, checkout
):
    first = checkout(regular, external_id="B-1", source=Visit.Source.POS)
    again = checkout(regular, external_id="B-1", source=Visit.Source.POS)

    assert again.created is False
    (voucher,) = Voucher.objects.filter(member=regular, source="promotion")
    assert voucher.status == Voucher.Status.ACTIVE and voucher.points_cost == 0
    assert Redemption.objects.get(visit=first.visit).voucher == voucher

    visit_cancel(visit=first.visit)

    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.CANCELLED
    assert Redemption.objects.get(visit=first.visit).reversed_at is not None


@pytest.mark.usefixtures("next_visit_coupon")
def test_a_voucher_already_used_stays_used_when_its_visit_is_cancelled(
    regular, checkout
):
    first = checkout(regular)
    voucher = Voucher.objects.get(member=regular, source="promotion")
    checkout(regular, voucher_codes=[voucher.code])

    visit_cancel(visit=first.visit)

    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED


def test_a_voucher_is_worth_its_reward_in_a_best_group(
    regular, quote, next_visit_coupon
):
    # 150 points of reward beat 2 % off a 3,000 bill (60.00).
    Promotion.objects.create(
        name="Two percent", group=next_visit_coupon.group, status="active",
        effect="percent_bill", percent=Decimal("2"),
    )  # fmt: skip
    names = [b.params["name"] for b in quote(regular).benefits if b.kind == "promotion"]
    assert names == ["Come back"]
