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

import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.sql import Query


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
    return _row(model, pk, lock=True, defer=defer)


def row_get(model: type[Model], pk, *, defer: tuple[str, ...] = ()) -> Model | None:
    """The same read without a lock (a quote, a read-only path); None if none.

    ``defer``: fields left out of the read, loaded on first access (as the
    ORM's ``defer()``), for a column whose conversion costs (a phone number).
    """
    return _row(model, pk, lock=False, defer=defer)


def row_get_with(model: type[Model], pk, extra: str, params: list) -> Model | None:
    """``row_get`` with one more select item (``<sql> AS <name>``, a constant
    string per call site: it keys the statement cache), set as an attribute.

    ``params`` are the extra item's parameters; the primary key's comes last.
    """
    return _row(model, pk, lock=False, extra=extra, params=[*params, pk])


def row_find(model: type[Model], where: str, params: list) -> Model | None:
    """The first row of ``model`` matching ``where``, read as ``row_get`` reads.

    ``where``: SQL over the model's table (a constant string per call site: it
    keys the statement cache), with ``params`` for its ``%s``.
    """
    return _row(model, None, lock=False, where=where, params=params)


def rows_find(
    model: type[Model], where: str, params: list, *, source: str = ""
) -> list[Model]:
    """Every row of ``model`` matching ``where`` (which may end in ORDER BY).

    ``source``: a FROM item in place of the table, aliased as the table (a
    subquery adding a window column, say); its parameters come first.
    """
    return _rows(model, where, params, source)


@dataclass
class _Reader:
    sql: str
    attnames: list[str]
    converters: dict  # position → (converters, expression), as the ORM's
    extra_name: str | None


# Per connection (one per thread): the converters are the connection's own.
_readers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _row(
    model,
    pk,
    *,
    lock: bool,
    extra: str = "",
    where: str = "",
    params=None,
    defer: tuple[str, ...] = (),
) -> Model | None:
    conn = connections[DEFAULT_DB_ALIAS]
    per_conn = _readers.get(conn)
    if per_conn is None:
        per_conn = _readers[conn] = {}
    key = (model, lock, extra, where, defer)
    reader = per_conn.get(key)
    if reader is None:
        reader = per_conn[key] = _reader(conn, model, lock, extra, where, defer=defer)
    with conn.cursor() as cursor:
        cursor.execute(reader.sql, [pk] if params is None else params)
        row = cursor.fetchone()
    if row is None:
        return None
    return _build(conn, model, reader, row)


def _rows(model, where: str, params: list, source: str) -> list[Model]:
    conn = connections[DEFAULT_DB_ALIAS]
    per_conn = _readers.get(conn)
    if per_conn is None:
        per_conn = _readers[conn] = {}
    key = (model, "rows", source, where)
    reader = per_conn.get(key)
    if reader is None:
        reader = per_conn[key] = _reader(
            conn, model, False, "", where, source, many=True
        )
    with conn.cursor() as cursor:
        cursor.execute(reader.sql, params)
        rows = cursor.fetchall()
    return [_build(conn, model, reader, row) for row in rows]


def _build(conn, model, reader: _Reader, row) -> Model:
    values = list(row[: len(reader.attnames)])
    for pos, (convs, expression) in reader.converters.items():
        value = values[pos]
        for convert in convs:
            value = convert(value, expression, conn)
        values[pos] = value
    obj = model.from_db(conn.alias, reader.attnames, values)
    if reader.extra_name:
        setattr(obj, reader.extra_name, row[-1])
    return obj


def _reader(
    conn,
    model: type[Model],
    lock: bool,
    extra: str,
    where: str,
    source: str = "",
    *,
    many: bool = False,
    defer: tuple[str, ...] = (),
) -> _Reader:
    qn = conn.ops.quote_name
    meta = model._meta
    table = qn(meta.db_table)
    fields = [f for f in meta.concrete_fields if f.name not in defer]
    columns = ", ".join(f"{table}.{qn(f.column)}" for f in fields)
    if extra:
        columns += ", " + extra
    if many:
        sql = f"SELECT {columns} FROM {source or table} WHERE {where}"
    elif where:
        sql = f"SELECT {columns} FROM {table} WHERE {where} LIMIT 1"
    else:
        sql = f"SELECT {columns} FROM {table} WHERE {table}.{qn(meta.pk.column)} = %s"
    if lock and conn.features.has_select_for_update:
        sql += " FOR UPDATE"
    compiler = conn.ops.compiler("SQLCompiler")(Query(model), conn, conn.alias)
    converters = compiler.get_converters([f.get_col(meta.db_table) for f in fields])
    return _Reader(
        sql=sql,
        attnames=[f.attname for f in fields],
        converters=converters,
        extra_name=extra.rsplit(" AS ", 1)[1].strip() if extra else None,
    )
