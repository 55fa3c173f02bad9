"""Foreign keys set aside while a large file loads, then put back and proven.

A foreign key costs PostgreSQL a trigger and a query for every row written: at
five million visit lines, the five keys of a visit and its lines were a
quarter of the whole import's time (bench/README). A large real import on
PostgreSQL (``IMPORTS_KEYS_ASIDE_MIN_BYTES``) therefore drops those
constraints before the load and adds them back after it — ``NOT VALID`` (a
moment), then ``VALIDATE CONSTRAINT``: one join over the tables, which proves
every row written meanwhile (the import's and the tills') as the row-by-row
checks would have. pg_restore loads a dump the same way.

* **One import at a time** sets keys aside: it holds a session advisory lock
  until they are back. Another import meanwhile writes with whatever keys are
  there.
* **Nothing is lost if the process dies**: each constraint's definition is
  saved in a ``SetAsideKey`` row in the transaction that drops it. The next
  import, or the nightly clean-up, finds rows whose lock nobody holds and
  puts those keys back (``keys_restore_abandoned``).
* **Never in the way**: the drop waits at most ``LOCK_TIMEOUT`` for the
  tables (busy tills), and needs the role to own them; if either fails the
  import simply runs with its keys, slower.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from imports.models import SetAsideKey

logger = logging.getLogger(__name__)

LOCK_TIMEOUT = "5s"
_LOCK_KEY = 0x5245_4755_4B45_5953  # an advisory lock's id, "REGUKEYS"


def keys_aside_wanted(size: int, *, dry_run: bool) -> bool:
    """Whether an import of a file of ``size`` bytes sets keys aside."""
    threshold = settings.IMPORTS_KEYS_ASIDE_MIN_BYTES
    return (
        not dry_run
        and threshold > 0
        and size >= threshold
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )


@contextlib.contextmanager
def keys_set_aside(fields, *, enabled: bool = True) -> Iterator[list[str]]:
    """Drop the foreign keys of ``fields`` (``[(model, field name)]``) for the
    block, then add them back and validate them. Yields the names of the
    constraints set aside (none when not ``enabled`` or not possible)."""
    if not enabled or not _lock_try():
        yield []
        return
    try:
        _restore()  # any left by an import that died
        aside = _drop(fields)
        try:
            yield aside
        finally:
            if aside:
                _restore()
    finally:
        _unlock()


def keys_restore_abandoned() -> list[str]:
    """Put back the keys an import set aside and could not restore (it died):
    those whose import no longer holds the lock. Returns their names."""
    if connection.vendor != "postgresql" or not SetAsideKey.objects.exists():
        return []
    if not _lock_try():
        return []  # an import is still loading: it restores them itself
    try:
        return _restore()
    finally:
        _unlock()


def keys_set_aside_now() -> list[str]:
    """Names of the constraints set aside at the moment (for the admin, checks)."""
    return list(SetAsideKey.objects.order_by("pk").values_list("name", flat=True))


# --- the work ----------------------------------------------------------------


def _lock_try() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def _unlock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])


_FOREIGN_KEYS_SQL = """
    SELECT c.conname, pg_get_constraintdef(c.oid)
    FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    WHERE c.contype = 'f' AND c.conrelid = %s::regclass
      AND cardinality(c.conkey) = 1 AND a.attname = %s AND c.convalidated
    ORDER BY c.conname
"""


def _drop(fields) -> list[str]:
    """In one transaction: save the definitions, drop the constraints. On a
    busy table or a role without the right, nothing changes."""
    dropped: list[str] = []
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            for model, name in fields:
                table = model._meta.db_table
                column = model._meta.get_field(name).column
                cursor.execute(_FOREIGN_KEYS_SQL, [table, column])
                for constraint, definition in cursor.fetchall():
                    SetAsideKey.objects.create(
                        table=table, name=constraint, definition=definition
                    )
                    cursor.execute(
                        f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"'
                    )
                    dropped.append(constraint)
    except DatabaseError as exc:  # lock_timeout, or not the tables' owner
        logger.warning("Imports: foreign keys kept in place (%s).", exc)
        return []
    if dropped:
        logger.info("Imports: foreign keys set aside: %s.", ", ".join(dropped))
    return dropped


def _restore() -> list[str]:
    """Add every saved constraint back NOT VALID (its row goes in the same
    transaction), then validate each. A failed validation leaves that key NOT
    VALID — enforced for new rows, not proven for old ones — and raises once
    the others are done."""
    restored, failure = [], None
    for key in SetAsideKey.objects.order_by("pk"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND conname = %s",
                [key.table, key.name],
            )
            if cursor.fetchone() is None:
                cursor.execute(
                    f'ALTER TABLE "{key.table}" ADD CONSTRAINT "{key.name}" '
                    f"{key.definition} NOT VALID"
                )
            key.delete()
        restored.append((key.table, key.name))
    for table, name in restored:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{name}"')
        except DatabaseError as exc:
            logger.error(  # noqa: TRY400 — the exception is raised below
                "Imports: the foreign key %s of %s is back but not valid: rows "
                "written while it was set aside break it (%s).",
                name,
                table,
                exc,
            )
            failure = failure or exc
    if failure is not None:
        raise failure
    names = [name for _table, name in restored]
    if names:
        logger.info("Imports: foreign keys back and valid: %s.", ", ".join(names))
    return names
