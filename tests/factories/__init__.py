from tests.factories.members import (
    LocationFactory,
    MemberFactory,
    ServiceCategoryFactory,
    ServiceFactory,
)

__all__ = [
    "LocationFactory",
    "MemberFactory",
    "ServiceCategoryFactory",
    "ServiceFactory",
]
