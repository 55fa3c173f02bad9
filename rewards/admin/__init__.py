"""The rewards admin: program settings, tiers and catalogue, the ledger and
vouchers read-only, the member and visit pages' rewards panels, and the
checkout page.

Nothing here writes points, tiers or vouchers itself: every action and page
calls a service from ``rewards.services``.
"""

from rewards.admin import catalogue, checkout, members, records, visits, vouchers

__all__ = ["catalogue", "checkout", "members", "records", "visits", "vouchers"]
