"""The operator's side of promotions: groups, promotions with their schedule,
conditions, effect and limits, promo codes (public ones and generated
batches, exported as CSV) and the redemptions the checkout recorded.

Statuses move, promotions are copied and codes are made only through
``campaigns.services``; redemptions are read-only (``campaigns.flow`` writes
them). ``PromotionUsage`` has no page: the promotion list shows it.
"""

from campaigns.admin import codes, promotions, redemptions

__all__ = ["codes", "promotions", "redemptions"]
