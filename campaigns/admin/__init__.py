"""The operator's side of promotions: groups, promotions with their schedule,
conditions, effect and limits, promo codes (public ones and generated
batches, exported as CSV), the redemptions the checkout recorded, and the
segments (rules over member data, with a live count).

Statuses move, promotions are copied and codes are made only through
``campaigns.services``; redemptions are read-only (``campaigns.flow`` writes
them). ``PromotionUsage`` has no page: the promotion list shows it.
"""

from campaigns.admin import campaigns, codes, promotions, redemptions, runs, segments

__all__ = ["campaigns", "codes", "promotions", "redemptions", "runs", "segments"]
