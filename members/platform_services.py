"""Platform set-up writes: staff roles and the periodic-task schedule.

Both are idempotent and safe to run on every deploy; neither takes back what an
operator chose in the admin (extra permissions, a paused periodic task).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import import_module

from celery.schedules import crontab
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


def role_permissions() -> dict[str, set[str]]:
    """Merge ``ROLE_PERMISSIONS`` from every installed app's ``roles`` module."""
    merged: dict[str, set[str]] = {}
    for config in apps.get_app_configs():
        try:
            module = import_module(f"{config.name}.roles")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.roles":
                raise
            continue
        for role, perms in getattr(module, "ROLE_PERMISSIONS", {}).items():
            merged.setdefault(role, set()).update(perms)
    return merged


@dataclass
class RolesSyncResult:
    created: list[str] = field(default_factory=list)
    granted: dict[str, int] = field(default_factory=dict)
    extra: dict[str, list[str]] = field(default_factory=dict)


@transaction.atomic
def roles_sync(*, reset: bool = False) -> RolesSyncResult:
    """Create the staff groups and grant each the permissions its role needs.

    Permissions an operator added to a group by hand are kept (and reported)
    unless ``reset`` is true, which makes each group exactly what the code says.
    """
    result = RolesSyncResult()
    for role, names in sorted(role_permissions().items()):
        group, created = Group.objects.get_or_create(name=role)
        if created:
            result.created.append(role)
        wanted = _permissions(names)
        current = set(group.permissions.all())
        missing = set(wanted) - current
        extra = current - set(wanted)
        if missing:
            group.permissions.add(*missing)
        if extra:
            if reset:
                group.permissions.remove(*extra)
            else:
                result.extra[role] = sorted(
                    f"{p.content_type.app_label}.{p.codename}" for p in extra
                )
        result.granted[role] = len(missing)
    return result


def _permissions(names: set[str]) -> list[Permission]:
    found = []
    for name in sorted(names):
        app_label, codename = name.split(".", 1)
        perm = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if perm is None:
            raise LookupError(f"Permission {name} does not exist; run migrate first.")
        found.append(perm)
    return found


@dataclass
class BeatSyncResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


@transaction.atomic
def beat_schedule_sync(schedule: dict[str, dict]) -> BeatSyncResult:
    """Write the in-code beat schedule into django-celery-beat's tables.

    Matched by name: the task, its timing and arguments follow the code; the
    ``enabled`` flag is set only when a task is first created, so an operator's
    decision to pause a job survives every deploy. Tasks in the database that
    the code no longer names are reported, never deleted.
    """
    result = BeatSyncResult()
    for name, spec in schedule.items():
        timing = _schedule_row(spec["schedule"])
        defaults = {
            "task": spec["task"],
            "kwargs": json.dumps(spec.get("kwargs", {})),
            "description": str(spec.get("description", "")),
            "crontab": timing if isinstance(timing, CrontabSchedule) else None,
            "interval": timing if isinstance(timing, IntervalSchedule) else None,
        }
        task = PeriodicTask.objects.filter(name=name).first()
        if task is None:
            PeriodicTask.objects.create(name=name, enabled=True, **defaults)
            result.created.append(name)
            continue
        changed = [k for k, v in defaults.items() if getattr(task, k) != v]
        if changed:
            for key in changed:
                setattr(task, key, defaults[key])
            task.save()
            result.updated.append(name)
    result.unknown = sorted(
        PeriodicTask.objects.exclude(name__in=schedule)
        .exclude(name__startswith="celery.")
        .values_list("name", flat=True)
    )
    return result


def _schedule_row(schedule) -> CrontabSchedule | IntervalSchedule:
    from django.conf import settings

    if isinstance(schedule, crontab):
        row, _ = CrontabSchedule.objects.get_or_create(
            minute=schedule._orig_minute,
            hour=schedule._orig_hour,
            day_of_week=schedule._orig_day_of_week,
            day_of_month=schedule._orig_day_of_month,
            month_of_year=schedule._orig_month_of_year,
            timezone=settings.CELERY_TIMEZONE,
        )
        return row
    seconds = int(
        schedule.total_seconds() if hasattr(schedule, "total_seconds") else schedule
    )
    row, _ = IntervalSchedule.objects.get_or_create(
        every=seconds, period=IntervalSchedule.SECONDS
    )
    return row
