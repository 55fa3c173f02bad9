"""Row locks, taken through one helper and in one order (after Saleor's
``lock_objects``), and the same one-row reads without a lock.

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
from functools import cache

from django.db import connection
from django.db.models import Model, QuerySet


def rows_lock(queryset: QuerySet, pks: Iterable | None = None) -> list[Model]:
    """Lock the queryset's rows (only its own table's), in primary-key order."""
    if pks is not None:
        queryset = queryset.filter(pk__in=list(pks))
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def row_lock(model: type[Model], pk) -> Model | None:
    """Lock one row of ``model`` by primary key; None if there is none.

    The hottest lock of all (every checkout takes two), so its statement is
    written once per model and process and run through ``raw()``: half the CPU
    of the same query compiled by the ORM on every call, with the same field
    conversions.
    """
    return _row(model, pk, lock=True)


def row_get(model: type[Model], pk) -> Model | None:
    """The same read without a lock (a quote, a read-only path); None if none."""
    return _row(model, pk, lock=False)


def row_get_with(model: type[Model], pk, extra: str, params: list) -> Model | None:
    """``row_get`` with more select items (``<sql> AS <name>``, a constant string
    per call site: it keys the statement cache), set as attributes on the row.

    ``params`` are the extra items' parameters; the primary key's comes last.
    """
    sql = _row_sql(model, connection.vendor, False, extra)
    rows = list(model._default_manager.raw(sql, [*params, pk]))
    return rows[0] if rows else None


def _row(model: type[Model], pk, *, lock: bool) -> Model | None:
    sql = _row_sql(model, connection.vendor, lock, "")
    rows = list(model._default_manager.raw(sql, [pk]))
    return rows[0] if rows else None


@cache
def _row_sql(model: type[Model], vendor: str, lock: bool, extra: str) -> str:
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    columns = ", ".join(f"{table}.{qn(f.column)}" for f in model._meta.concrete_fields)
    if extra:
        columns += ", " + extra
    sql = (
        f"SELECT {columns} FROM {table} WHERE {table}.{qn(model._meta.pk.column)} = %s"
    )
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return sql
