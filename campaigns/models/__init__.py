"""The campaigns app's models: promotions and their codes (``promotions``),
segments and the members' nightly scores (``segments``), campaigns and
journeys with their enrollments and sends (``journeys``)."""

from campaigns.models.journeys import (  # noqa: F401
    Arm,
    Campaign,
    CampaignSend,
    CampaignSettings,
    CampaignStep,
    Enrollment,
)
from campaigns.models.promotions import (  # noqa: F401
    MONEY,
    PERCENT,
    PromoCode,
    Promotion,
    PromotionGroup,
    PromotionUsage,
    Redemption,
)
from campaigns.models.segments import MemberCategory, MemberScore, Segment  # noqa: F401
