"""Data retention: what is kept only for a while, and the job that purges it.

Each app lists what it keeps for a while in ``REGULARS_RETENTION_PURGES``
(settings): functions ``purge(*, now) -> {name: rows deleted}``, run in order
by :func:`retention_purge` — nightly by Celery beat, or by hand with
``manage.py retention_purge [--date YYYY-MM-DD]``. Each deletes in batches
(a short transaction each), so a first run over years of rows neither locks
the tables for long nor holds one huge transaction; a second run finds
nothing. The periods are settings (``RETENTION_*_DAYS``, the README's table).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

BATCH = 5000
Progress = Callable[[str], None]


def delete_in_batches(queryset: QuerySet, batch: int = BATCH) -> int:
    """Delete ``queryset``'s rows ``batch`` at a time (by primary key); the
    number of its own rows deleted (not of rows deleted with them)."""
    model, deleted = queryset.model, 0
    while True:
        pks = list(queryset.order_by().values_list("pk", flat=True)[:batch])
        if not pks:
            return deleted
        with transaction.atomic():
            _total, per_model = model.objects.filter(pk__in=pks).delete()
        deleted += per_model.get(model._meta.label, 0)


def older_than(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def retention_purge(
    *, now: datetime | None = None, progress: Progress | None = None
) -> dict[str, int]:
    """Run every app's purge as of ``now`` (default: now): rows deleted, by name."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    for path in settings.REGULARS_RETENTION_PURGES:
        got = import_string(path)(now=now)
        counts.update(got)
        if progress:
            progress(", ".join(f"{name}: {n}" for name, n in got.items()))
    return counts


def purge_staff_sign_ins(*, now: datetime) -> dict[str, int]:
    """Staff sign-ins recorded by django-axes (successful ones and the failure
    counters) older than RETENTION_STAFF_SIGN_INS_DAYS; a lock still in force
    is kept whatever its age."""

    cutoff = older_than(now, settings.RETENTION_STAFF_SIGN_INS_DAYS)
    lock_ends = now - settings.AXES_COOLOFF_TIME
    return {
        "staff_sign_ins": delete_in_batches(
            AccessLog.objects.filter(attempt_time__lt=cutoff)
        ),
        "staff_sign_in_failures": delete_in_batches(
            AccessAttempt.objects.filter(attempt_time__lt=min(cutoff, lock_ends))
        ),
    }
