"""Factories for the campaigns app.

A promotion is active, in a group of its own mode, with no condition and no
limit unless the test says so: 10 % off the matching services. Condition
lists (services, categories, tiers…) are many-to-many: pass them as lists
(``services=[service]``), they are set after the row is created.
"""

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from campaigns.models import PromoCode, Promotion, PromotionGroup


class PromotionGroupFactory(DjangoModelFactory):
    class Meta:
        model = PromotionGroup
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Group {n}")
    order = factory.Sequence(lambda n: n)
    mode = PromotionGroup.Mode.STACK


M2M = (
    "services",
    "categories",
    "excluded_services",
    "excluded_categories",
    "locations",
    "tiers",
    "combo_categories",
    "segments",
)


class PromotionFactory(DjangoModelFactory):
    class Meta:
        model = Promotion
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Promotion {n}")
    status = Promotion.Status.ACTIVE
    group = factory.SubFactory(PromotionGroupFactory)
    effect = Promotion.Effect.PERCENT_LINES
    percent = Decimal("10")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        related = {name: kwargs.pop(name) for name in M2M if name in kwargs}
        promotion = super()._create(model_class, *args, **kwargs)
        for name, values in related.items():
            getattr(promotion, name).set(values)
        return promotion


class PromoCodeFactory(DjangoModelFactory):
    class Meta:
        model = PromoCode

    promotion = factory.SubFactory(PromotionFactory, code_required=True)
    code = factory.Sequence(lambda n: f"SAVE{n}")
    max_uses = None
