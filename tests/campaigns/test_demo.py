"""Demo promotions: scripts/demo.sh's ``seed_campaigns_demo`` makes six
promotions in two groups from the demo catalogue, once."""

from datetime import time
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns.demo import WELCOME_CODE
from campaigns.models import PromoCode, Promotion, PromotionGroup
from members.models import Location, Service
from members.services import VisitLineInput
from rewards.services import checkout_quote
from tests.conftest import moscow
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

TODAY = "2025-06-10"  # the conftest's frozen clock: a Tuesday, 15:00


def run(*args) -> str:
    out = StringIO()
    call_command("seed_campaigns_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def demo_chain(db):
    """The demo's catalogue and staff, as scripts/demo.sh's first step makes them."""
    call_command(
        "seed_demo", "--members", "0", "--no-progress", "--jobs", "1",
        "--language", "ru", stdout=StringIO(), stderr=StringIO(),
    )  # fmt: skip


def test_the_demo_makes_six_promotions_once(demo_chain):
    first = run("--language", "ru", "--today", TODAY)

    assert "Demo promotions ready: 6 created" in first
    assert "Счастливые часы" in first
    promotions = {p.name: p for p in Promotion.objects.all()}
    assert set(promotions) == {
        "Счастливые часы",
        "Месяц ухода за телом",
        "Массаж + спа-ритуал",
        "3 услуги — самая дешёвая в подарок",
        "Промокод WELCOME",
        "Неделя дня рождения: баллы ×2",
    }
    assert {p.status for p in promotions.values()} == {Promotion.Status.ACTIVE}
    assert PromotionGroup.objects.count() == 2
    assert list(PromoCode.objects.values_list("code", "max_uses")) == [
        (WELCOME_CODE, None)
    ]

    # When the demo runs again
    again = run("--language", "ru", "--today", TODAY)

    # Then nothing new
    assert "nothing added" in again
    assert Promotion.objects.count() == 6
    assert PromotionGroup.objects.count() == 2
    assert PromoCode.objects.count() == 1


def test_the_demo_promotions_are_as_described(demo_chain):
    run("--language", "en", "--today", TODAY)
    by_name = {p.name: p for p in Promotion.objects.all()}

    happy = by_name["Happy hours"]
    assert (happy.effect, happy.percent, happy.weekdays) == (
        "percent_lines", Decimal("15.00"), "12345",
    )  # fmt: skip
    assert (happy.time_from, happy.time_to) == (time(10), time(13))
    assert {c.code for c in happy.categories.all()} >= {"classic", "sports", "thai"}
    month = by_name["Month of body care"]
    assert (month.starts_at, month.ends_at) == (
        moscow(2025, 6, 1, 0, 0), moscow(2025, 7, 1, 0, 0),
    )  # fmt: skip
    combo = by_name["Massage + spa ritual"]
    assert combo.effect == "fixed_bill" and combo.amount == Decimal("1000.00")
    assert {c.code for c in combo.combo_categories.all()} == {"classic", "spa"}
    welcome = by_name["Welcome code"]
    assert welcome.code_required and welcome.first_visit
    assert (welcome.effect, welcome.percent) == ("percent_bill", Decimal("20.00"))
    birthday = by_name["Birthday week ×2 points"]
    assert (birthday.birthday_days, birthday.multiplier) == (7, Decimal("2.00"))
    assert birthday.points_lifetime_days == 30
    cheapest = by_name["3 services — the cheapest is a gift"]
    assert (cheapest.effect, cheapest.min_lines) == ("cheapest_free", 3)


def test_the_welcome_code_prices_a_new_client_s_first_visit(demo_chain):
    run("--language", "en", "--today", TODAY)
    member = MemberFactory(birthday=None)  # no visit yet, no birthday week

    quote = checkout_quote(
        member=member,
        location=Location.objects.get(code="center"),
        lines=[VisitLineInput(service=Service.objects.get(code="classic-60"))],
        promo_codes=["welcome"],
    )

    promotions = [b for b in quote.benefits if b.kind == "promotion"]
    assert [b.params["name"] for b in promotions] == ["Welcome code"]
    assert promotions[0].params["code"] == WELCOME_CODE
    # As docs/api.md shows it: 5 % welcome discount, then 20 % of what is left
    assert [(b.kind, b.amount) for b in quote.benefits] == [
        ("first_visit", Decimal("160.00")),
        ("promotion", Decimal("608.00")),
    ]
    assert quote.amount_to_pay == Decimal("2432.00")
    assert promotions[0].explanation == (
        "Promotion “Welcome code”: 20% off (code WELCOME)"
    )


def test_the_themed_month_follows_the_demo_s_today(demo_chain):
    run("--language", "en", "--today", "2025-12-03")

    month = Promotion.objects.get(name="Month of body care")
    assert timezone.localtime(month.starts_at) == moscow(2025, 12, 1, 0, 0)
    assert timezone.localtime(month.ends_at) == moscow(2026, 1, 1, 0, 0)
