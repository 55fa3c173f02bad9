"""Per-process caches of rarely changing rows, invalidated by change stamps.

Program settings, tiers, earn rates, services, locations and API credentials
are read on every checkout and every API request, and change a few times a
day. Each process keeps them in memory (``ProcessCache``) next to the stamp
they were loaded under; a request reads the stamps once (one primary-key query,
``current``) and reloads what is stale. Database triggers bump a stamp in the
same transaction as the change (``triggers_install``), so every process sees an
edit on its next request, whoever made it and however (admin, ``update()``,
raw SQL). A stamp is a random number, not a counter: a rolled-back change
(a test's transaction, say) can never bring an old stamp back.

Within a request (``scope``) the stamps are read once; outside one (a Celery
task, a shell, a test) every cache access reads them. A write in the same
request that changes a cached table calls ``changed()`` so the rest of the
request reads the stamps afresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

from django.db import InterfaceError, OperationalError, connection

from core.models import Stamp

T = TypeVar("T")

CONFIG = Stamp.CONFIG
CREDENTIALS = Stamp.CREDENTIALS
# A safety net only (a trigger dropped by hand, say): nothing stays cached longer.
MAX_AGE_SECONDS = 300.0

_scope: ContextVar[dict | None] = ContextVar("core_stamps_scope", default=None)


def _select() -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, value FROM core_stamp")
        return dict(cursor.fetchall())


def _read() -> dict[int, int]:
    """The stamps; as a request's first statement, also its connection check.

    With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before a reused
    connection's first statement in each request: a round trip of its own on
    every API request, whose first statement is this one. So this read is the
    check: a connection that turns out broken is closed and the read runs once
    more on a new one. A retry is safe here, outside any transaction, for a
    read; inside one (``in_atomic_block``) Django's own rules apply.
    """
    conn = connection
    if (
        conn.connection is not None
        and conn.health_check_enabled
        and not conn.health_check_done
        and not conn.in_atomic_block
    ):
        conn.health_check_done = True
        try:
            return _select()
        except (OperationalError, InterfaceError):
            conn.close()
    return _select()


def current() -> dict[int, int]:
    """The stamps: read once per scope, every time outside one."""
    scope = _scope.get()
    if scope is not None:
        stamps = scope.get("stamps")
        if stamps is None:
            stamps = scope["stamps"] = _read()
        return stamps
    return _read()


@contextmanager
def scope() -> Iterator[None]:
    """Read the stamps at most once inside this block (a request, a checkout)."""
    if _scope.get() is not None:
        yield
        return
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def changed() -> None:
    """This process just changed a cached table: read the stamps afresh."""
    scope = _scope.get()
    if scope is not None:
        scope.pop("stamps", None)


class ProcessCache(Generic[T]):
    """A value loaded once per process and reloaded when its stamp moves."""

    _all: list[ProcessCache] = []

    def __init__(self, loader: Callable[[], T], *, stamp: int = CONFIG):
        self.loader = loader
        self.stamp = stamp
        self._entry: tuple[int | None, float, T] | None = None
        self._lock = threading.Lock()
        ProcessCache._all.append(self)

    def get(self) -> T:
        stamp = current().get(self.stamp)
        entry = self._entry
        now = time.monotonic()
        if entry is not None and entry[0] == stamp and now - entry[1] < MAX_AGE_SECONDS:
            return entry[2]
        value = self.loader()
        self._entry = (stamp, now, value)
        return value

    def clear(self) -> None:
        self._entry = None

    @classmethod
    def clear_all(cls) -> None:
        for cache in cls._all:
            cache.clear()


def process_cached(
    *, stamp: int = CONFIG
) -> Callable[[Callable[[], T]], ProcessCache[T]]:
    """Decorate a loader: ``@process_cached()`` then ``loader.get()``."""

    def wrap(loader: Callable[[], T]) -> ProcessCache[T]:
        return ProcessCache(loader, stamp=stamp)

    return wrap


# --- Triggers ------------------------------------------------------------------
# An app's migration installs them on its own tables:
#   migrations.RunPython(stamps.migration_install("rewards_tier"), ...)

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION core_stamp_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO core_stamp (id, value)
  VALUES (TG_ARGV[0]::smallint, (random() * 9e18)::bigint)
  ON CONFLICT (id) DO UPDATE SET value = (random() * 9e18)::bigint;
  RETURN NULL;
END $$;
"""


def _names(table: str, stamp: int) -> str:
    return f"{table}_stamp{stamp}"


def triggers_install(
    schema_editor,
    table: str,
    *,
    stamp: int = CONFIG,
    when_changed: tuple[str, ...] = (),
) -> None:
    """Bump ``stamp`` whenever ``table`` changes.

    With ``when_changed`` only an UPDATE that changes one of those columns (or
    a DELETE) bumps it: a row-level trigger, so that hot writes to other
    columns (``last_used_at``, visit stats) never touch the stamp row.
    """
    name = _names(table, stamp)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_PG_FUNCTION)
        if when_changed:
            cond = " OR ".join(
                f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in when_changed
            )
            schema_editor.execute(
                f"CREATE TRIGGER {name}_upd AFTER UPDATE OF "
                f"{', '.join(when_changed)} ON {table} FOR EACH ROW "
                f"WHEN ({cond}) EXECUTE FUNCTION core_stamp_bump({stamp})"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {name} AFTER DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION core_stamp_bump({stamp})"
            )
        else:
            schema_editor.execute(
                f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE OR "
                f"TRUNCATE ON {table} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION core_stamp_bump({stamp})"
            )
        return
    bump = (
        f"INSERT INTO core_stamp (id, value) VALUES ({stamp}, random()) "
        f"ON CONFLICT (id) DO UPDATE SET value = random();"
    )
    events = {"del": "DELETE"}
    if when_changed:
        cond = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in when_changed)
        events["upd"] = f"UPDATE OF {', '.join(when_changed)}"
    else:
        events["ins"] = "INSERT"
        events["upd"] = "UPDATE"
    for suffix, event in events.items():
        where = f" WHEN {cond}" if when_changed and suffix == "upd" else ""
        schema_editor.execute(
            f"CREATE TRIGGER {name}_{suffix} AFTER {event} ON {table} "
            f"FOR EACH ROW{where} BEGIN {bump} END"
        )


def triggers_drop(schema_editor, table: str, *, stamp: int = CONFIG) -> None:
    name = _names(table, stamp)
    if schema_editor.connection.vendor == "postgresql":
        for trigger in (name, f"{name}_upd"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        return
    for suffix in ("ins", "upd", "del"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}_{suffix}")


def migration_ops(*specs: tuple[str, dict]):
    """RunPython forwards/backwards for ``(table, options)`` pairs."""

    def forwards(apps, schema_editor):
        for table, options in specs:
            triggers_install(schema_editor, table, **options)

    def backwards(apps, schema_editor):
        for table, options in specs:
            triggers_drop(schema_editor, table, stamp=options.get("stamp", CONFIG))

    return forwards, backwards
