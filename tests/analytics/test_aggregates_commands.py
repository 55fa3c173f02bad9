"""The refresh and rebuild commands, and the beat's tasks."""

from __future__ import annotations

import io
from datetime import date

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command

from analytics.models import DailyStat, SpanStat, SpanState
from analytics.tasks import analytics_refresh_nightly_task, analytics_refresh_today_task
from config.celery import BEAT_SCHEDULE
from tests.analytics import test_aggregates_dataset as dataset
from tests.conftest import moscow

history = dataset.history

TODAY = moscow(2026, 6, 15, 12, 0)


def run(name, *args) -> str:
    out = io.StringIO()
    with time_machine.travel(TODAY, tick=False):
        call_command(name, *args, stdout=out)
    return out.getvalue()


def test_rebuild_then_refresh_a_past_range_with_progress(history):
    out = run("analytics_rebuild")
    assert "2025-12-20 – 2026-01-19: done" in out and "Done" in out
    rows = DailyStat.objects.count()
    DailyStat.objects.filter(day__month=3).delete()

    out = run("analytics_refresh", "--from", "2026-03-01", "--to", "2026-03-31")

    assert "Done" in out
    assert DailyStat.objects.count() == rows


def test_rebuild_only_the_window_figures(history):
    out = run("analytics_rebuild", "--only", "windows")
    assert "window figures, all locations: 2025-12-20" in out and "Done" in out
    assert SpanStat.objects.exists() and not DailyStat.objects.exists()
    assert SpanState.objects.get().span_days == settings.ANALYTICS_SPAN_DAYS


def test_refresh_one_past_date(history):
    run("analytics_refresh", "--date", "2026-03-01", "--no-reach-back")
    assert set(DailyStat.objects.values_list("day", flat=True)) == {date(2026, 3, 1)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2026-13-01"], "Bad --date"),
        (["--from", "2026-03-01"], "go together"),
        (["--date", "2026-03-01", "--from", "2026-03-01"], "not both"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "is before"),
        (["--date", "2026-06-16"], "in the future"),
    ],
)
def test_refresh_refuses_bad_dates(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("analytics_refresh", *args)


def test_the_tasks_refresh_today_and_yesterday(history):
    with time_machine.travel(moscow(2026, 3, 31, 12, 0), tick=False):
        today = analytics_refresh_today_task()
    assert (today["first"], today["last"]) == ("2026-03-31", "2026-03-31")
    assert DailyStat.objects.filter(day=date(2026, 3, 31)).exists()

    night = analytics_refresh_nightly_task("2026-04-01")
    assert night["last"] == "2026-03-31"
    # The open retention windows: the 31 days before are refreshed too.
    assert night["first"] <= "2026-02-28"
    assert DailyStat.objects.get(day=date(2026, 3, 1), new_members=1).new_retained == 1


def test_the_beat_runs_them_hourly_and_nightly():
    tasks = {e["task"]: e for e in BEAT_SCHEDULE.values()}
    assert "analytics.tasks.analytics_refresh_today_task" in tasks
    assert "analytics.tasks.analytics_refresh_nightly_task" in tasks
