"""Factories for the rewards app.

There is no VoucherFactory, no LedgerEntry or PointLot factory on purpose:
vouchers, entries and lots come from the services (``reward_redeem``,
``points_bonus``, ``points_adjust``, the checkout), so the wallet's cached
balances and the hash chain always match them. See tests/rewards/conftest.py
for the helpers that give a member points.
"""

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from rewards.models import Reward, Tier
from tests.factories.members import ServiceFactory


class RewardFactory(DjangoModelFactory):
    """A reward in the catalogue: 10% off the next visit for 100 points.

    Traits: ``free_service`` (a free ``service``, one unit), ``fixed`` (an amount
    off), ``partner`` (not a checkout discount).
    """

    class Meta:
        model = Reward

    name = factory.Sequence(lambda n: f"Reward {n}")
    kind = Reward.Kind.PERCENT_DISCOUNT
    points_cost = 100
    discount_percent = Decimal("10")
    voucher_valid_days = 30
    is_active = True

    class Params:
        free_service = factory.Trait(
            kind=Reward.Kind.FREE_SERVICE,
            discount_percent=None,
            service=factory.SubFactory(ServiceFactory),
        )
        fixed = factory.Trait(
            kind=Reward.Kind.FIXED_DISCOUNT,
            discount_percent=None,
            discount_amount=Decimal("500.00"),
        )
        partner = factory.Trait(kind=Reward.Kind.PARTNER, discount_percent=None)


class TierFactory(DjangoModelFactory):
    """A tier above the shipped four (ranks 0–3 come with the data migration)."""

    class Meta:
        model = Tier
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Tier {n}")
    code = factory.Sequence(lambda n: f"tier-{n}")
    rank = factory.Sequence(lambda n: 10 + n)
    min_visits = 50
    discount_percent = Decimal("25")
    points_multiplier = Decimal("3.00")
