"""Many rows of one model written fast: ``rows_copy``.

For the batch writers whose rows number in the tens of thousands (a campaign
queuing a message, a personal code and a send row for each of 100,000
members). ``bulk_create`` prepares every value of every row through the ORM's
insert compiler and builds a model instance per row; for 100,000 rows of three
models that was most of the time of a send. Here the caller passes plain
tuples, already in the shape the column stores (ids for foreign keys, aware
datetimes, dicts for JSON), and:

- on PostgreSQL the rows go by ``COPY`` into a temporary table of the same
  columns, then ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`` moves
  them into the table in one statement (the unique constraints turn away what
  is there already, as ``bulk_create(ignore_conflicts=True)`` would);
- elsewhere (the SQLite trial) each value goes through the field's
  ``get_db_prep_save`` and the rows are inserted with ``ON CONFLICT DO
  NOTHING RETURNING`` in batches.

What it does not do, so callers use it only where none applies: fill Python
defaults (every column the table needs is passed), send signals, call
``save()``. It needs a transaction on PostgreSQL (the temporary table lives
in it), and opens one if there is none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import JSONField, Model

_BATCH_PARAMS = 900  # SQLite's historic limit of parameters in one statement


def rows_copy(
    model: type[Model],
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    returning: Sequence[str] = (),
    using: str = DEFAULT_DB_ALIAS,
) -> list[tuple]:
    """Insert ``rows`` (tuples in the order of ``columns``, field attnames)
    into ``model``'s table, skipping any that a unique constraint turns away.

    Returns the ``returning`` columns of the rows inserted (not of those
    skipped), in no particular order; [] without ``returning``.
    """
    rows = list(rows)
    if not rows:
        return []
    conn = connections[using]
    meta = model._meta
    fields = [meta.get_field(name) for name in columns]
    back = [meta.get_field(name) for name in returning]
    with transaction.atomic(using=using, savepoint=False):
        if conn.vendor == "postgresql":
            return _copy_postgresql(conn, meta.db_table, fields, rows, back)
        return _insert_batches(conn, meta.db_table, fields, rows, back)


def _copy_postgresql(conn, table, fields, rows, back) -> list[tuple]:
    from psycopg.types.json import Jsonb

    qn = conn.ops.quote_name
    cols = ", ".join(qn(f.column) for f in fields)
    temp = qn(f"_copy_{table}")
    json_at = [n for n, f in enumerate(fields) if isinstance(f, JSONField)]
    with conn.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE {temp} AS SELECT {cols} FROM {qn(table)} LIMIT 0"
        )
        try:
            with cursor.cursor.copy(f"COPY {temp} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    if json_at:
                        row = list(row)
                        for n in json_at:
                            row[n] = None if row[n] is None else Jsonb(row[n])
                    copy.write_row(row)
            sql = f"INSERT INTO {qn(table)} ({cols}) SELECT {cols} FROM {temp} ON CONFLICT DO NOTHING"
            if back:
                sql += " RETURNING " + ", ".join(qn(f.column) for f in back)
            cursor.execute(sql)
            out = [tuple(r) for r in cursor.fetchall()] if back else []
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {temp}")
    return out


def _insert_batches(conn, table, fields, rows, back) -> list[tuple]:
    qn = conn.ops.quote_name
    cols = ", ".join(qn(f.column) for f in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    tail = " ON CONFLICT DO NOTHING"
    if back:
        tail += " RETURNING " + ", ".join(qn(f.column) for f in back)
    size = max(1, _BATCH_PARAMS // len(fields))
    out: list[tuple] = []
    with conn.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            params = [
                field.get_db_prep_save(value, connection=conn)
                for row in batch
                for field, value in zip(fields, row, strict=True)
            ]
            values = ", ".join([one] * len(batch))
            cursor.execute(
                f"INSERT INTO {qn(table)} ({cols}) VALUES {values}{tail}", params
            )
            if back:
                out.extend(tuple(r) for r in cursor.fetchall())
    return out
