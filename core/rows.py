"""INSERTs of the checkout's rows, written once per model instead of compiled per call.

A checkout writes six rows (the visit, its lines and benefits, a ledger entry,
a lot, the POS receipt). Through ``Model.save()`` / ``bulk_create`` Django
builds and compiles an INSERT for each, every time: about a third of a POS
visit's CPU in Python. ``rows_insert`` writes the statement once per model,
row count and connection and fills it with the values exactly as the ORM's
insert compiler prepares them (``Field.pre_save`` then
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


@dataclass
class _Writer:
    sql: str
    fields: list[Field]
    returning: bool


_writers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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
    per_conn = _writers.get(conn)
    if per_conn is None:
        per_conn = _writers[conn] = {}
    writer = per_conn.get((model, len(objs)))
    if writer is None:
        writer = per_conn[(model, len(objs))] = _writer(conn, model, len(objs))
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
