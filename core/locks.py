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

from core import rows


def rows_lock(queryset: QuerySet, pks: Iterable | None = None) -> list[Model]:
    """Lock the queryset's rows (only its own table's), in primary-key order."""
    if pks is not None:
        queryset = queryset.filter(pk__in=list(pks))
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def row_lock(model: type[Model], pk, *, defer: tuple[str, ...] = ()) -> Model | None:
    """Lock one row of ``model`` by primary key; None if there is none.

    The hottest lock of all (every checkout takes two), so its statement is
    written once per model and connection, run on a plain cursor and the row
    built with ``Model.from_db`` and the ORM's own field conversions: a third
    of the CPU of the same query compiled by the ORM on every call.
    """
    return rows.row_read(model, pk, lock=True, defer=defer)
