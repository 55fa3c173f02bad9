"""Row locks, taken through one helper and in one order (after Saleor's
``lock_objects``).

The order every writer follows, so two transactions never wait on each other
in a circle:

1. member rows (``members.Member``), several in id order — a friend's row
   before their referrer's (``referrals``: invitations form a tree);
2. the visit being reversed or refunded;
3. wallets (``rewards.Wallet``), several in member-id order;
4. what hangs off a wallet (vouchers, lots), through the wallet's lock.

A service locks at its entry point, once, and hands the locked rows down.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Model, QuerySet


def rows_lock(queryset: QuerySet, pks: Iterable | None = None) -> list[Model]:
    """Lock the queryset's rows (only its own table's), in primary-key order."""
    if pks is not None:
        queryset = queryset.filter(pk__in=list(pks))
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def row_lock(queryset: QuerySet, pk) -> Model | None:
    """Lock one row of the queryset's table; None if there is none."""
    return queryset.select_for_update(of=("self",)).filter(pk=pk).first()
