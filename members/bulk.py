"""Bulk writes for generators and backfills: millions of rows, no ORM objects.

COPY on PostgreSQL, ``executemany`` on SQLite. The caller holds a transaction
(IMMEDIATE on SQLite, so the ids it reserves are its own).
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import connection

# A member row as the bulk writers (demo data, imports) write it; the other
# columns take their database defaults.
MEMBER_COLUMNS = [
    "id", "phone", "email", "first_name", "last_name", "birthday", "status",
    "registered_at", "registration_location_id", "preferences",
    "consent_sms", "consent_sms_at", "consent_email", "consent_email_at",
    "consent_push", "consent_push_at",
    "visits_count", "total_spent", "first_visit_at", "last_visit_at",
    "created_at", "updated_at", "joined_via",
]  # fmt: skip


def ids_reserve(model, count: int) -> list[int]:
    """Primary keys for ``count`` new rows, safe beside concurrent inserts."""
    if count == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
                "FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
        if connection.vendor == "sqlite":
            # The transaction began IMMEDIATE: this connection holds the
            # database's write lock, so no one else can take these ids.
            cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')  # noqa: S608
            first = cursor.fetchone()[0] + 1
            return list(range(first, first + count))
    raise NotImplementedError(
        f"bulk writes support PostgreSQL and SQLite, not {connection.vendor}"
    )


def rows_insert(model, columns: list[str], rows: list) -> None:
    """Insert plain tuples (values in ``columns`` order) into ``model``'s table."""
    if not rows:
        return
    table = model._meta.db_table
    names = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
            return
        ops = connection.ops
        rows = [[_sqlite_value(ops, v) for v in row] for row in rows]
        marks = ", ".join(["%s"] * len(columns))
        cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)


def _sqlite_value(ops, value):
    if isinstance(value, datetime):
        return ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return ops.adapt_datefield_value(value)
    return value
