"""The hot paths' statements, written once per model instead of compiled per call.

Reads: ``row_get`` (by primary key, ``core.locks.row_lock`` with FOR UPDATE),
``row_get_with`` (one more column), ``row_find``/``rows_find`` (by a condition).
The row comes back through ``Model.from_db`` after the ORM's own converters.

Writes: ``rows_insert``. A checkout writes six rows (the visit, its lines
and benefits, a ledger entry, a lot, the POS receipt). Through
``Model.save()`` / ``bulk_create`` Django builds and compiles an INSERT for
each, every time; with the reads, a third of a POS visit's Python function
calls went to these statements. ``rows_insert`` writes the statement once per
model, row count and connection and fills it with the values exactly as the
ORM's insert compiler prepares them (``Field.pre_save`` then
``Field.get_db_prep_save``), so the rows are the same; the new primary keys
come back through ``RETURNING``, as with ``bulk_create``.

What it does not do, so callers use it only where none applies: send
``pre_save``/``post_save`` (the project has no receivers; a model that needs
them uses ``save()``), call an overridden ``save()``, or write a value that is
a database expression (a ``db_default`` without a Python default): such a
batch goes to ``bulk_create`` instead.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model
from django.db.models.sql import Query


@dataclass
class _Writer:
    sql: str
    fields: list[Field]
    returning: bool


# Per connection (one per thread): statements and converters are its own.
_writers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached(cache: weakref.WeakKeyDictionary, conn, key, build):
    per_conn = cache.get(conn)
    if per_conn is None:
        per_conn = cache[conn] = {}
    value = per_conn.get(key)
    if value is None:
        value = per_conn[key] = build()
    return value


def rows_insert(objs: Sequence[Model]) -> list[Model]:
    """INSERT new instances of one model in one statement; sets their primary keys."""
    objs = list(objs)
    if not objs:
        return objs
    model = type(objs[0])
    conn = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    auto = meta.auto_field
    if (
        meta.parents
        or (auto is not None and any(o.pk is not None for o in objs))
        or not conn.features.can_return_rows_from_bulk_insert
    ):
        return model._base_manager.bulk_create(objs)
    writer = _cached(
        _writers, conn, (model, len(objs)), lambda: _writer(conn, model, len(objs))
    )
    params = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="rows_insert")
        for field in writer.fields:
            value = field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):
                return model._base_manager.bulk_create(objs)
            params.append(field.get_db_prep_save(value, connection=conn))
    with conn.cursor() as cursor:
        cursor.execute(writer.sql, params)
        pks = [row[0] for row in cursor.fetchall()] if writer.returning else []
    for n, obj in enumerate(objs):
        if writer.returning:
            setattr(obj, auto.attname, auto.to_python(pks[n]))
        obj._state.adding = False
        obj._state.db = conn.alias
    return objs


def _writer(conn, model: type[Model], rows: int) -> _Writer:
    meta = model._meta
    auto = meta.auto_field
    fields = [
        f
        for f in meta.local_concrete_fields
        if f is not auto and not getattr(f, "generated", False)
    ]
    qn = conn.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES " + ", ".join(
        [one] * rows
    )
    returning = auto is not None
    if returning:
        sql += f" RETURNING {qn(meta.db_table)}.{qn(auto.column)}"
    return _Writer(sql=sql, fields=fields, returning=returning)


# --- Reads -----------------------------------------------------------------------


def row_get(model: type[Model], pk, *, defer: tuple[str, ...] = ()) -> Model | None:
    """The same read without a lock (a quote, a read-only path); None if none.

    ``defer``: fields left out of the read, loaded on first access (as the
    ORM's ``defer()``), for a column whose conversion costs (a phone number).
    """
    return row_read(model, pk, lock=False, defer=defer)


def row_get_with(model: type[Model], pk, extra: str, params: list) -> Model | None:
    """``row_get`` with one more select item (``<sql> AS <name>``, a constant
    string per call site: it keys the statement cache), set as an attribute.

    ``params`` are the extra item's parameters; the primary key's comes last.
    """
    return row_read(model, pk, lock=False, extra=extra, params=[*params, pk])


def row_find(model: type[Model], where: str, params: list) -> Model | None:
    """The first row of ``model`` matching ``where``, read as ``row_get`` reads.

    ``where``: SQL over the model's table (a constant string per call site: it
    keys the statement cache), with ``params`` for its ``%s``.
    """
    return row_read(model, None, lock=False, where=where, params=params)


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


def row_read(
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
    reader = _cached(
        _readers,
        conn,
        (model, lock, extra, where, defer),
        lambda: _reader(conn, model, lock, extra, where, defer=defer),
    )
    with conn.cursor() as cursor:
        cursor.execute(reader.sql, [pk] if params is None else params)
        row = cursor.fetchone()
    if row is None:
        return None
    return _build(conn, model, reader, row)


def _rows(model, where: str, params: list, source: str) -> list[Model]:
    conn = connections[DEFAULT_DB_ALIAS]
    reader = _cached(
        _readers,
        conn,
        (model, "rows", source, where),
        lambda: _reader(conn, model, False, "", where, source, many=True),
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
