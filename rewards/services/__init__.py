"""Writes of the rewards app. Admin, API, tasks and commands call these."""

from rewards.services.checkout import (
    CheckoutResult,
    Quote,
    checkout_commit,
    checkout_quote,
)
from rewards.services.points import (
    points_adjust,
    points_bonus,
    points_bonus_reverse,
)
from rewards.services.tiers import tier_override
from rewards.services.vouchers import reward_redeem, voucher_cancel, voucher_issue

__all__ = [
    "CheckoutResult",
    "Quote",
    "checkout_commit",
    "checkout_quote",
    "points_adjust",
    "points_bonus",
    "points_bonus_reverse",
    "reward_redeem",
    "tier_override",
    "voucher_cancel",
    "voucher_issue",
]
