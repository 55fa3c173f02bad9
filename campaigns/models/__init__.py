"""The campaigns app's models: promotions and their codes (``promotions``),
segments and the members' nightly scores (``segments``)."""

from campaigns.models.promotions import (  # noqa: F401
    MONEY,
    PERCENT,
    PromoCode,
    Promotion,
    PromotionGroup,
    PromotionUsage,
    Redemption,
)
from campaigns.models.segments import MemberScore, Segment  # noqa: F401
