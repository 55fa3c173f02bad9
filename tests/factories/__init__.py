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
    "RewardFactory",
    "ServiceCategoryFactory",
    "ServiceFactory",
    "TierFactory",
]
