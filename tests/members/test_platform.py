"""Deploy-time set-up: staff roles and the periodic-task schedule, through the
services and through their management commands."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from celery.schedules import crontab
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from config.celery import BEAT_SCHEDULE
from config.celery import app as celery_app
from members import roles
from members.models import Member
from members.platform_services import (
    beat_schedule_sync,
    role_permissions,
    roles_sync,
)
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def group_permissions() -> dict[str, set[str]]:
    return {
        group.name: {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        for group in Group.objects.all()
    }


# --- roles_sync ---------------------------------------------------------------


def test_roles_sync_creates_each_role_with_exactly_its_permissions():
    result = roles_sync()

    assert sorted(result.created) == sorted(
        [roles.ANALYST, roles.FRONT_DESK, roles.MANAGER]
    )
    expected = {role: set(perms) for role, perms in role_permissions().items()}
    assert group_permissions() == expected
    assert result.granted == {role: len(p) for role, p in expected.items()}
    assert result.extra == {}


def test_roles_give_refunds_to_managers_only():
    roles_sync()
    perms = group_permissions()

    assert "members.refund_visit" in perms[roles.MANAGER]
    assert "members.refund_visit" not in perms[roles.FRONT_DESK]
    assert "members.cancel_visit" in perms[roles.FRONT_DESK]
    assert not any(
        p.split(".")[1].startswith(("add_", "change_", "delete_", "cancel_", "refund_"))
        for p in perms[roles.ANALYST]
    )


def test_roles_sync_twice_changes_nothing():
    roles_sync()
    before = group_permissions()

    result = roles_sync()

    assert group_permissions() == before
    assert result.created == []
    assert set(result.granted.values()) == {0}
    assert result.extra == {}


def test_roles_sync_restores_a_permission_taken_away():
    roles_sync()
    desk = Group.objects.get(name=roles.FRONT_DESK)
    desk.permissions.remove(Permission.objects.get(codename="add_visit"))

    result = roles_sync()

    assert result.granted[roles.FRONT_DESK] == 1
    assert "members.add_visit" in group_permissions()[roles.FRONT_DESK]


def test_roles_sync_keeps_and_reports_hand_added_permissions():
    # Given an operator who let the front desk refund too
    roles_sync()
    desk = Group.objects.get(name=roles.FRONT_DESK)
    desk.permissions.add(Permission.objects.get(codename="refund_visit"))

    # When the roles are synced on the next deploy
    result = roles_sync()

    # Then the operator's choice stays, and is reported
    assert "members.refund_visit" in group_permissions()[roles.FRONT_DESK]
    assert result.extra == {roles.FRONT_DESK: ["members.refund_visit"]}


def test_roles_sync_with_reset_makes_groups_exactly_what_the_code_says():
    roles_sync()
    desk = Group.objects.get(name=roles.FRONT_DESK)
    desk.permissions.add(Permission.objects.get(codename="refund_visit"))

    roles_sync(reset=True)

    assert group_permissions()[roles.FRONT_DESK] == set(
        role_permissions()[roles.FRONT_DESK]
    )


def test_roles_sync_leaves_other_groups_alone():
    other = Group.objects.create(name="Owners")
    other.permissions.add(Permission.objects.get(codename="delete_member"))

    roles_sync(reset=True)

    assert group_permissions()["Owners"] == {"members.delete_member"}


def test_setup_roles_command():
    out = StringIO()
    call_command("setup_roles", stdout=out)
    assert f"{roles.FRONT_DESK}: created" in out.getvalue()

    Group.objects.get(name=roles.FRONT_DESK).permissions.add(
        Permission.objects.get(codename="refund_visit")
    )
    out = StringIO()
    call_command("setup_roles", stdout=out)
    assert f"{roles.FRONT_DESK}: exists, 0 permission(s) granted" in out.getvalue()
    assert "keeps hand-added permissions: members.refund_visit" in out.getvalue()

    call_command("setup_roles", "--reset", stdout=StringIO())
    assert "members.refund_visit" not in group_permissions()[roles.FRONT_DESK]


# --- beat_schedule_sync ------------------------------------------------------------

RECONCILE = "members: reconcile cached member stats"


def crontab_of(task: PeriodicTask) -> str:
    c = task.crontab
    return (
        f"{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}"
        f" {c.timezone}"
    )


def test_every_scheduled_task_exists_in_the_celery_app():
    celery_app.loader.import_default_modules()

    for spec in BEAT_SCHEDULE.values():
        assert spec["task"] in celery_app.tasks


def test_beat_sync_creates_the_tasks_of_the_code():
    result = beat_schedule_sync(BEAT_SCHEDULE)

    assert result.created == list(BEAT_SCHEDULE)
    assert (result.updated, result.unknown) == ([], [])
    task = PeriodicTask.objects.get(name=RECONCILE)
    assert task.task == "members.tasks.member_stats_reconcile_task"
    assert task.enabled is True
    assert crontab_of(task) == "30 3 * * * Europe/Moscow"
    assert task.interval is None
    assert json.loads(task.kwargs) == {}
    assert task.description == BEAT_SCHEDULE[RECONCILE]["description"]


def test_beat_sync_twice_changes_nothing():
    beat_schedule_sync(BEAT_SCHEDULE)
    before = list(PeriodicTask.objects.values())

    result = beat_schedule_sync(BEAT_SCHEDULE)

    assert (result.created, result.updated, result.unknown) == ([], [], [])
    assert list(PeriodicTask.objects.values()) == before
    # One crontab row per distinct timing in the code, shared, never duplicated.
    timings = {str(entry["schedule"]) for entry in BEAT_SCHEDULE.values()}
    assert CrontabSchedule.objects.count() == len(timings)


def test_beat_sync_keeps_a_task_an_operator_paused():
    beat_schedule_sync(BEAT_SCHEDULE)
    PeriodicTask.objects.filter(name=RECONCILE).update(enabled=False)

    result = beat_schedule_sync(BEAT_SCHEDULE)

    assert result.updated == []
    assert PeriodicTask.objects.get(name=RECONCILE).enabled is False


def test_beat_sync_follows_a_new_timing_in_the_code_but_keeps_the_pause():
    beat_schedule_sync(BEAT_SCHEDULE)
    PeriodicTask.objects.filter(name=RECONCILE).update(enabled=False)
    moved = {
        RECONCILE: {
            **BEAT_SCHEDULE[RECONCILE],
            "schedule": crontab(hour=4, minute=15, day_of_week="mon-fri"),
            "kwargs": {"dry_run": True},
        }
    }

    result = beat_schedule_sync(moved)

    assert result.updated == [RECONCILE]
    task = PeriodicTask.objects.get(name=RECONCILE)
    assert crontab_of(task) == "15 4 * * mon-fri Europe/Moscow"
    assert json.loads(task.kwargs) == {"dry_run": True}
    assert task.enabled is False
    # And again: nothing more to do
    assert beat_schedule_sync(moved).updated == []


def test_beat_sync_switches_a_task_from_crontab_to_interval():
    beat_schedule_sync(BEAT_SCHEDULE)
    every_ten = {
        RECONCILE: {**BEAT_SCHEDULE[RECONCILE], "schedule": timedelta(minutes=10)}
    }

    result = beat_schedule_sync(every_ten)

    assert result.updated == [RECONCILE]
    task = PeriodicTask.objects.get(name=RECONCILE)
    assert task.crontab is None
    assert (task.interval.every, task.interval.period) == (
        600,
        IntervalSchedule.SECONDS,
    )


def test_beat_sync_reports_tasks_the_code_no_longer_names_and_keeps_them():
    beat_schedule_sync(BEAT_SCHEDULE)
    every_hour, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.HOURS
    )
    PeriodicTask.objects.create(
        name="legacy: send newsletters", task="legacy.send", interval=every_hour
    )
    PeriodicTask.objects.create(
        name="celery.backend_cleanup",
        task="celery.backend_cleanup",
        interval=every_hour,
    )

    result = beat_schedule_sync(BEAT_SCHEDULE)

    assert result.unknown == ["legacy: send newsletters"]
    assert PeriodicTask.objects.filter(name="legacy: send newsletters").exists()


def test_sync_beat_schedule_command():
    out = StringIO()
    call_command("sync_beat_schedule", stdout=out)
    assert f"created: {RECONCILE}" in out.getvalue()

    out = StringIO()
    call_command("sync_beat_schedule", stdout=out)
    n = len(BEAT_SCHEDULE)
    assert f"{n} task(s), {n} unchanged" in out.getvalue()
    assert PeriodicTask.objects.filter(name__in=BEAT_SCHEDULE).count() == n


# --- reconcile_member_stats ---------------------------------------------------------


def test_reconcile_member_stats_command(record_visit):
    member = MemberFactory()
    record_visit(member)
    Member.objects.filter(pk=member.pk).update(visits_count=5)

    out = StringIO()
    call_command("reconcile_member_stats", stdout=out)

    assert "1 member(s) repaired" in out.getvalue()
    member.refresh_from_db()
    assert member.visits_count == 1
    out = StringIO()
    call_command("reconcile_member_stats", stdout=out)
    assert "0 member(s) repaired" in out.getvalue()
