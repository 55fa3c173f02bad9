"""Where the analytics read: the read replica when one is configured.

``DATABASE_REPLICA_URL`` adds a ``replica`` database and this module's
``AnalyticsRouter`` (settings). The router sends reads of the analytics' own
tables (the aggregates) to the replica and their writes to the primary; the
dashboards' reads of other apps' tables run ``.using(reading())`` or on
``connections[reading()]``, so the heavy reads leave the primary alone.
Without a replica everything is the primary (``default``). The aggregates'
refresh reads and writes the primary.

A replica lags its primary by a moment: a dashboard may miss the last
seconds of visits, which its daily figures can afford; the checkout, the
APIs and the admin's lists never read from it.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.conf import settings
from django.db import connections, transaction

REPLICA = "replica"


# Memory for a dashboard's hash aggregates. Counting the distinct members of
# half a year of 21.7M visits spills a 4 MB hash to disk; with PostgreSQL's
# parallel workers and the statement's parameters bound (as the app sends
# them) that spill took over a minute where 64 MB answers in 1.1 s.
WORK_MEM = "256MB"


def reading() -> str:
    """The database alias analytics reads from."""
    return REPLICA if REPLICA in settings.DATABASES else "default"


@contextmanager
def heavy_reads():
    """A read transaction on ``reading()`` whose aggregates may use
    ``WORK_MEM`` (PostgreSQL; for that transaction only)."""
    alias = reading()
    with transaction.atomic(using=alias):
        connection = connections[alias]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        yield


class AnalyticsRouter:
    """Reads of the analytics app's models from ``reading()``, writes to the
    primary; nothing is migrated on the replica (it follows its primary)."""

    def db_for_read(self, model, **hints):
        if model._meta.app_label == "analytics":
            return reading()
        return None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one database, copied

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA
