from tests.factories.campaigns import (
    PromoCodeFactory,
    PromotionFactory,
    PromotionGroupFactory,
)
from tests.factories.members import (
    LocationFactory,
    MemberFactory,
    ServiceCategoryFactory,
    ServiceFactory,
)
from tests.factories.rewards import RewardFactory, TierFactory

__all__ = [
    "LocationFactory",
    "MemberFactory",
    "PromoCodeFactory",
    "PromotionFactory",
    "PromotionGroupFactory",
    "RewardFactory",
    "ServiceCategoryFactory",
    "ServiceFactory",
    "TierFactory",
]
