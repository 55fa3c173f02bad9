"""Shared fixtures of the campaigns tests: the clock, the catalogue, members as
a case describes them, and the real checkout services.

Time is frozen at Tuesday 10 June 2025, 15:00 Moscow time. The catalogue:
massage 3000.00 and aroma 500.00 (category "massage"), a facial 2000.00
(category "face"), a manicure 1000.00 (category "nails") and a holiday special
5000.00 excluded from discounts. A "regular" member has one earlier visit that
paid nothing (no points, no first-visit discount): promotions price alone.
"""

from decimal import Decimal

import pytest
import time_machine

from campaigns.models import PromotionUsage, Redemption
from members.services import VisitLineInput
from rewards import services
from tests.conftest import moscow
from tests.factories import MemberFactory, ServiceCategoryFactory, ServiceFactory
from tests.rewards.conftest import program_defaults, tier_set  # noqa: F401

NOW = moscow(2025, 6, 10, 15, 0)  # a Tuesday


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def face(db):
    return ServiceCategoryFactory(name="Face", code="face")


@pytest.fixture
def nails(db):
    return ServiceCategoryFactory(name="Nails", code="nails")


@pytest.fixture
def facial(face):
    return ServiceFactory(
        category=face, name="Facial", code="facial", base_price=Decimal("2000.00")
    )


@pytest.fixture
def manicure(nails):
    return ServiceFactory(
        category=nails, name="Manicure", code="manicure", base_price=Decimal("1000.00")
    )


@pytest.fixture
def special(category):
    return ServiceFactory(
        category=category,
        name="New Year special",
        code="ny-special",
        base_price=Decimal("5000.00"),
        excluded_from_discounts=True,
    )


@pytest.fixture
def catalogue(service, addon, facial, manicure, special):
    return {
        "massage": service,
        "aroma": addon,
        "facial": facial,
        "manicure": manicure,
        "special": special,
    }


@pytest.fixture
def lines_of(catalogue):
    """``lines_of(("massage", 2), "aroma")`` → visit lines."""

    def make(*spec) -> list[VisitLineInput]:
        result = []
        for item in spec:
            name, quantity = (item, 1) if isinstance(item, str) else item
            result.append(VisitLineInput(service=catalogue[name], quantity=quantity))
        return result

    return make


@pytest.fixture
def member_as(record_visit):
    """``new``: no visit yet; ``regular``: one earlier visit that paid nothing;
    ``silver`` / ``gold``: a regular on that tier."""

    def make(who: str = "regular", **fields):
        member = MemberFactory(**fields)
        if who != "new":
            record_visit(member, paid_at=moscow(2025, 5, 1, 12, 0), amount_paid="0")
        if who in ("silver", "gold"):
            tier_set(member, who)
        return member

    return make


@pytest.fixture
def regular(member_as):
    return member_as("regular")


@pytest.fixture
def quote(location, service):
    def run(member, *, lines=None, **kwargs):
        kwargs.setdefault("location", location)
        return services.checkout_quote(
            member=member, lines=lines or [VisitLineInput(service=service)], **kwargs
        )

    return run


@pytest.fixture
def checkout(location, service):
    def run(member, *, lines=None, **kwargs):
        kwargs.setdefault("location", location)
        return services.checkout_commit(
            member=member, lines=lines or [VisitLineInput(service=service)], **kwargs
        )

    return run


def promo_benefits(quote) -> list[tuple[str, Decimal]]:
    """(promotion name, money off) of each promotion the quote applied."""
    return [
        (b.params["name"], b.amount) for b in quote.benefits if b.kind == "promotion"
    ]


def all_benefits(quote) -> list[tuple[str, Decimal]]:
    return [(b.kind, b.amount) for b in quote.benefits]


def usage_of(promotion) -> tuple[int, Decimal, int]:
    """(redemptions, money, points) a promotion has given: its usage row when
    it has a budget (the row the checkout locks), else its live redemptions
    (a promotion without a budget keeps no usage row)."""
    promotion.refresh_from_db()
    budgeted = (
        promotion.budget_money is not None
        or promotion.budget_points is not None
        or promotion.max_redemptions is not None
    )
    if not budgeted:
        assert not PromotionUsage.objects.filter(promotion=promotion).exists()
        live = Redemption.objects.filter(promotion=promotion, reversed_at__isnull=True)
        return (
            live.count(),
            sum((r.money - r.money_refunded for r in live), Decimal("0.00")),
            sum(r.points - r.points_refunded for r in live),
        )
    usage = PromotionUsage.objects.filter(promotion=promotion).first()
    if usage is None:
        return (0, Decimal("0.00"), 0)
    return (usage.redemptions, usage.money, usage.points)


def live_redemptions(promotion) -> int:
    return Redemption.objects.filter(
        promotion=promotion, reversed_at__isnull=True
    ).count()
