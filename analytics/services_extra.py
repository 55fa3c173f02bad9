"""Writes of the analytics app's own data: the marketing spend per month."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from analytics.models import MarketingSpend


@transaction.atomic
def marketing_spend_save(
    *,
    month: date,
    amount: Decimal,
    note: str = "",
    actor=None,
    spend: MarketingSpend | None = None,
) -> MarketingSpend:
    """Enter (or correct, with ``spend``) a month's marketing spend.

    The month is stored as its first day, one row a month; the amount is
    money, never negative (``ValidationError``, as a form shows it). Who
    entered it and when are the latest correction's.
    """
    spend = spend or MarketingSpend()
    spend.month, spend.amount, spend.note = month, amount, note
    spend.full_clean()
    spend.entered_by = actor
    spend.entered_at = timezone.now()
    spend.save()
    return spend
