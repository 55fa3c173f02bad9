"""What the LTV, referrals, campaigns and specialists dashboards share: the
period's bounds and the arithmetic of their figures."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext_lazy as _

from analytics.tables import Filters
from members.money import money
from rewards.selectors.program import day_start

RATE_PLACES = Decimal("0.0001")

TIER_NOTE = _("The tier filter does not apply here.")
LOCATION_NOTE = _("The location filter does not apply here.")
SPECIALIST_NOTE = _("The specialist filter does not apply here.")


def bounds(f: Filters) -> tuple[datetime, datetime]:
    """[start, end) of the period: local midnights of its first day and of
    the day after its last."""
    return day_start(f.date_from), day_start(f.date_to + timedelta(days=1))


def months_of(f: Filters) -> list[date]:
    """The first days of the months the period touches, in order."""
    month, last, out = f.date_from.replace(day=1), f.date_to.replace(day=1), []
    while month <= last:
        out.append(month)
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def ratio(numerator, denominator) -> Decimal | None:
    """A rate (0..1, four places) or None when there is nothing to divide."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(
        RATE_PLACES, rounding=ROUND_HALF_UP
    )


def per(amount, count) -> Decimal | None:
    """Money per one of ``count`` (kopecks), None when ``count`` is 0."""
    if not count:
        return None
    return money(Decimal(amount) / Decimal(count))
