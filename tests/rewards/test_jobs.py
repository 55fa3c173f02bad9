"""The daily jobs with a fixed clock: pending points, expiry and inactivity burn,
vouchers, expiry notices, monthly perks — and after every job the ledger verifier
says the books balance and every hash chain holds (which also proves the SQL
hash of batch entries equals the Python one).

Each job runs the way beat runs it: at 00:10 on the business date, for that date.
"""

import re
from contextlib import contextmanager
from datetime import date, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from config.celery import BEAT_SCHEDULE
from rewards.explain import entry_text
from rewards.jobs import (
    CATCH_UP_DAYS,
    JOBS,
    Job,
    UnknownJob,
    daily_jobs_run,
    job_run,
)
from rewards.models import (
    ExpiryNotice,
    JobRun,
    LedgerEntry,
    LotAllocation,
    PointLot,
    Voucher,
)
from rewards.services import batch, reward_redeem
from rewards.tasks import daily_jobs_task
from rewards.verify import ledger_verify
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import (
    adjust,
    balances,
    entries,
    give_points,
    lots,
    program_set,
    row_counts,
)

pytestmark = pytest.mark.django_db

T0 = moscow(2025, 1, 10, 12, 0)
D0 = date(2025, 1, 10)
Kind = LedgerEntry.Kind


@pytest.fixture(autouse=True)
def frozen_clock(program_defaults):
    with time_machine.travel(T0, tick=False):
        yield


@contextmanager
def at(day: date, hour: int = 0, minute: int = 10):
    with time_machine.travel(
        moscow(day.year, day.month, day.day, hour, minute), tick=False
    ):
        yield


def assert_ledger_ok() -> None:
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]


def run(name: str, day: date, *, force: bool = False, hour: int = 0) -> dict:
    """Run one job for ``day`` at 00:10 that day (or ``hour``), then verify."""
    with at(day, hour):
        outcome = job_run(name, day, force=force)
    assert outcome.status == "done", outcome
    assert_ledger_ok()
    return outcome.result


def days(n: int) -> date:
    return D0 + timedelta(days=n)


# --- Expiry -------------------------------------------------------------------


def test_points_expire_on_their_expiry_date_and_not_a_day_before(member):
    # Given 100 points expiring in 30 days and 50 in 60 days
    give_points(member, 100, lifetime_days=30)
    give_points(member, 50, lifetime_days=60)
    before = entries(member)[-1]

    # When the expiry runs the day before, nothing happens
    assert run("expire_points", days(29))["members"] == 0
    assert balances(member) == (150, 0, 0)

    # Then on the expiry date the 100 points expire in one entry
    result = run("expire_points", days(30))
    assert result == {"members": 1, "lots": 1, "points": 100}
    assert balances(member) == (50, 0, 0)
    entry = entries(member)[-1]
    assert (entry.kind, entry.reason, entry.amount) == (Kind.EXPIRE, "expire", -100)
    assert (entry.seq, entry.prev_hash) == (before.seq + 1, before.hash)
    assert (entry.balance_after, entry.debt_after) == (50, 0)
    assert entry.idempotency_key == f"expire:{member.pk}:{days(30)}"
    assert entry.params == {"lots": 1, "date": "2025-02-09"}
    assert entry_text(entry) == "100 points expired"
    expired_lot, kept_lot = lots(member)
    assert (expired_lot.remaining, expired_lot.expired) == (0, 100)
    assert (kept_lot.remaining, kept_lot.expired) == (50, 0)
    assert dict(
        LotAllocation.objects.filter(entry=entry).values_list("lot", "amount")
    ) == {expired_lot.pk: -100}


def test_a_partly_spent_lot_expires_what_is_left(member):
    give_points(member, 100, lifetime_days=30)
    adjust(member, -30)

    result = run("expire_points", days(30))

    assert result["points"] == 70
    assert balances(member) == (0, 0, 0)
    (lot,) = lots(member)
    assert (lot.amount, lot.remaining, lot.expired) == (100, 0, 70)
    assert entries(member)[-1].balance_after == 0


def test_a_second_expiry_run_changes_nothing(member):
    give_points(member, 100, lifetime_days=30)
    run("expire_points", days(30))
    before = (row_counts(), balances(member))

    with at(days(30), 3):
        again = batch.lots_expire(on=days(30))
        forced = job_run("expire_points", days(30), force=True)
        skipped = job_run("expire_points", days(30))

    assert again == {"members": 0, "lots": 0, "points": 0}
    assert forced.status == "done" and forced.result["members"] == 0
    assert (skipped.status, skipped.note) == ("skipped", "already done")
    assert (row_counts(), balances(member)) == before
    assert_ledger_ok()


def test_expiry_over_many_members_in_chunks_one_entry_per_member(monkeypatch):
    # Given members with several due lots each, in chunks of two members
    monkeypatch.setattr(batch.common, "CHUNK_MEMBERS", 2)
    members = MemberFactory.create_batch(5)
    for i, m in enumerate(members[:4]):
        give_points(m, 10 + i, lifetime_days=10)
        give_points(m, 20, lifetime_days=20)
        give_points(m, 7, lifetime_days=40)
    give_points(members[4], 5, lifetime_days=40)

    result = run("expire_points", days(20))

    assert result == {"members": 4, "lots": 8, "points": 10 + 11 + 12 + 13 + 80}
    for i, m in enumerate(members[:4]):
        assert balances(m) == (7, 0, 0)
        (expiry,) = [e for e in entries(m) if e.kind == Kind.EXPIRE]
        assert expiry.amount == -(10 + i + 20)
        assert LotAllocation.objects.filter(entry=expiry).count() == 2
    assert balances(members[4]) == (5, 0, 0)
    assert len(entries(members[4])) == 1


def test_lots_due_on_several_missed_dates_expire_once_per_date_in_order(member):
    give_points(member, 10, lifetime_days=2)
    give_points(member, 20, lifetime_days=4)
    run("expire_points", days(0))

    # When beat comes back after days of downtime
    with at(days(5)):
        outcomes = daily_jobs_run(days(5), ["expire_points"])

    assert [o.business_date for o in outcomes] == [days(n) for n in range(1, 6)]
    assert all(o.status == "done" for o in outcomes)
    expiries = [e for e in entries(member) if e.kind == Kind.EXPIRE]
    assert [(e.params["date"], e.amount) for e in expiries] == [
        (str(days(2)), -10),
        (str(days(4)), -20),
    ]
    assert_ledger_ok()


def test_pending_points_that_expire_leave_the_pending_balance(member, record_visit):
    # Given a pending period longer than the points' life (odd, but allowed)
    program_set(pending_days=5, lot_lifetime_days=2)
    record_visit(member)
    assert balances(member) == (0, 150, 0)

    run("expire_points", days(2))

    assert balances(member) == (0, 0, 0)
    assert lots(member)[0].pending_until is None


# --- Inactivity burn --------------------------------------------------------


def test_inactive_members_lose_all_their_points_after_n_months(record_visit):
    program_set(inactivity_burn_months=6)
    visited, never, recent = MemberFactory.create_batch(3)
    record_visit(visited, paid_at=T0)
    give_points(never, 40)
    with at(date(2025, 6, 1), 12):
        record_visit(recent)

    # Six months to the day: still in
    assert run("expire_points", date(2025, 7, 10))["inactive_members"] == 0

    # The day after: the two inactive members lose everything
    result = run("expire_points", date(2025, 7, 11))

    assert (result["inactive_members"], result["inactive_points"]) == (2, 190)
    assert balances(visited)[0] == 0
    assert balances(never)[0] == 0
    assert balances(recent)[0] == 150
    burn = entries(visited)[-1]
    assert (burn.kind, burn.reason, burn.amount) == (
        Kind.EXPIRE,
        "expire_inactive",
        -150,
    )
    assert burn.params == {"lots": 1, "date": "2025-07-11", "months": 6}
    assert burn.idempotency_key == f"expire_inactive:{visited.pk}:2025-07-11"
    assert entry_text(burn) == "150 points expired: no visits for 6 months"
    # And running again burns nothing more
    with at(date(2025, 7, 11), 5):
        assert batch.lots_expire(on=date(2025, 7, 11))["inactive_members"] == 0


def test_inactivity_burn_is_off_by_default(member):
    give_points(member, 40)

    result = run("expire_points", date(2025, 12, 1))

    assert result == {"members": 0, "lots": 0, "points": 0}
    assert balances(member) == (40, 0, 0)


# --- Pending points ---------------------------------------------------------


def test_pending_points_become_spendable_once_their_period_ended(member, record_visit):
    # Given points pending 3 days from a visit at 12:00
    program_set(pending_days=3)
    record_visit(member)
    assert balances(member) == (0, 150, 0)

    # At 00:10 on the third day the period has not ended yet
    assert run("activate_pending", days(3))["points"] == 0
    assert balances(member) == (0, 150, 0)

    # The next night it has
    result = run("activate_pending", days(4))

    assert result == {"members": 1, "lots": 1, "points": 150}
    assert balances(member) == (150, 0, 0)
    assert lots(member)[0].pending_until is None
    with at(days(4), 5):
        assert batch.lots_activate(on=days(4)) == {"members": 0, "lots": 0, "points": 0}


def test_a_late_run_for_a_past_date_activates_what_was_due_by_its_end(
    member, record_visit
):
    program_set(pending_days=3)
    record_visit(member)

    with at(days(10)):
        assert batch.lots_activate(on=days(3))["points"] == 150

    assert balances(member) == (150, 0, 0)
    assert_ledger_ok()


# --- Vouchers -----------------------------------------------------------------


def test_vouchers_expire_the_night_after_their_validity_ends(member):
    give_points(member, 500)
    reward = RewardFactory(points_cost=100, voucher_valid_days=30)
    ended = reward_redeem(member=member, reward=reward, idempotency_key="a")
    with at(days(1), 12):
        later = reward_redeem(member=member, reward=reward, idempotency_key="b")

    # Valid until 12:00 on day 30: still active at 00:10 that day
    assert run("expire_vouchers", days(30)) == {"vouchers": 0}
    assert run("expire_vouchers", days(31)) == {"vouchers": 1}

    ended.refresh_from_db()
    later.refresh_from_db()
    assert ended.status == Voucher.Status.EXPIRED
    assert ended.closed_at is not None
    assert later.status == Voucher.Status.ACTIVE


# --- Expiry notices ---------------------------------------------------------


def test_expiry_notices_are_queued_once_for_points_expiring_in_n_days(member):
    program_set(expiry_warning_days=14)
    give_points(member, 100, lifetime_days=30)
    give_points(member, 50, lifetime_days=30)
    give_points(member, 70, lifetime_days=31)
    adjust(member, -20)  # taken from the first lot
    other = MemberFactory()
    give_points(other, 5, lifetime_days=60)

    assert run("queue_expiry_notices", days(15))["notices"] == 0
    result = run("queue_expiry_notices", days(16))

    assert result == {"notices": 1, "expires_on": str(days(30))}
    notice = ExpiryNotice.objects.get()
    assert (notice.member, notice.expires_on, notice.points) == (member, days(30), 130)
    assert notice.status == ExpiryNotice.Status.QUEUED
    with at(days(16), 6):
        assert batch.expiry_notices_queue(on=days(16))["notices"] == 0
    assert ExpiryNotice.objects.count() == 1


def test_the_expiry_job_records_its_run(member):
    give_points(member, 10, lifetime_days=1)

    run("expire_points", days(1))

    job = JobRun.objects.get(job="expire_points")
    assert (job.business_date, job.status) == (days(1), JobRun.Status.DONE)
    assert job.result["points"] == 10 and "seconds" in job.result
    assert job.finished_at is not None
    assert PointLot.objects.get().expired == 10


# --- Running jobs: once per date, catch-up, failures ----------------------------


def test_the_first_run_ever_runs_every_job_for_today_only():
    with at(days(0)):
        outcomes = daily_jobs_run(days(0))

    assert [o.job for o in outcomes] == list(JOBS)
    assert {(o.business_date, o.status) for o in outcomes} == {(days(0), "done")}
    assert JobRun.objects.filter(status=JobRun.Status.DONE).count() == len(JOBS)


def test_beat_firing_twice_runs_each_job_once():
    with at(days(0)):
        daily_jobs_run(days(0))
    with at(days(0), 0, 11):
        again = daily_jobs_run(days(0))

    assert {(o.status, o.note) for o in again} == {("skipped", "already done")}
    assert JobRun.objects.count() == len(JOBS)


def test_after_three_missed_days_each_job_catches_up_in_date_order():
    with at(days(0)):
        daily_jobs_run(days(0))

    with at(days(4), 9):
        outcomes = daily_jobs_run(days(4))

    for name in JOBS:
        ran = [o.business_date for o in outcomes if o.job == name]
        assert ran == [days(1), days(2), days(3), days(4)], name
    assert all(o.status == "done" for o in outcomes)
    runs = JobRun.objects.filter(job="expire_points").order_by("started_at", "id")
    assert [r.business_date for r in runs] == [days(n) for n in range(5)]


def test_catch_up_goes_back_at_most_62_days():
    with at(days(0)):
        job_run("expire_vouchers", days(0))

    with at(days(100)):
        outcomes = daily_jobs_run(days(100), ["expire_vouchers"])

    assert [o.business_date for o in outcomes] == [
        days(100) - timedelta(days=n) for n in range(CATCH_UP_DAYS, -1, -1)
    ]


def test_a_failed_run_is_recorded_stops_that_jobs_catch_up_and_is_retried(
    monkeypatch,
):
    with at(days(0)):
        daily_jobs_run(days(0))
    calls = []

    def flaky(*, on):
        calls.append(on)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return {"vouchers": 0}

    monkeypatch.setitem(JOBS, "expire_vouchers", Job("expire_vouchers", flaky, ""))

    with at(days(3)):
        outcomes = daily_jobs_run(days(3))

    failed = [o for o in outcomes if o.job == "expire_vouchers"]
    assert [(o.business_date, o.status) for o in failed] == [(days(1), "failed")]
    assert failed[0].note == "database went away"
    run_ = JobRun.objects.get(job="expire_vouchers", business_date=days(1))
    assert run_.status == JobRun.Status.FAILED
    assert "RuntimeError: database went away" in run_.error
    # The other jobs went on
    assert all(o.status == "done" for o in outcomes if o.job != "expire_vouchers")

    with at(days(3), 1):
        retried = daily_jobs_run(days(3), ["expire_vouchers"])

    assert [(o.business_date, o.status) for o in retried] == [
        (days(n), "done") for n in (1, 2, 3)
    ]
    assert JobRun.objects.get(job="expire_vouchers", business_date=days(1)).error == ""


def test_a_run_left_running_is_retried_once_it_is_clearly_abandoned():
    # A run that says "running" since 5 minutes: on PostgreSQL the advisory
    # lock proves nobody runs it (we hold it), on SQLite only its age can tell.
    with at(days(0), 0, 5):
        JobRun.objects.create(
            job="expire_vouchers", business_date=days(0), status=JobRun.Status.RUNNING
        )
    with at(days(0)):
        outcome = job_run("expire_vouchers", days(0))
    if connection.vendor == "postgresql":
        assert outcome.status == "done"
    else:
        assert (outcome.status, outcome.note) == ("skipped", "running elsewhere")
        with at(days(0), 3):
            assert job_run("expire_vouchers", days(0)).status == "done"


def test_a_business_date_that_has_not_begun_is_refused(member):
    give_points(member, 10, lifetime_days=1)

    with pytest.raises(ValueError, match="has not begun yet"):
        job_run("expire_points", days(1))

    assert balances(member) == (10, 0, 0)
    assert not JobRun.objects.exists()


def test_an_unknown_job_is_refused():
    with pytest.raises(UnknownJob):
        job_run("expire_everything", days(0))
    with pytest.raises(UnknownJob, match="expire_everything"):
        daily_jobs_run(days(0), ["expire_points", "expire_everything"])


# --- The command and the task -------------------------------------------------


def command(*args) -> str:
    out = StringIO()
    call_command("run_daily_jobs", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_run_daily_jobs_for_a_date_runs_that_date_only(member):
    give_points(member, 100, lifetime_days=30)

    with at(days(40)):
        out = command("--date", str(days(30)), "--only", "expire_points")

    assert f"{days(30)} expire_points" in out
    assert '"points": 100' in out and "done" in out
    assert list(JobRun.objects.values_list("job", "business_date")) == [
        ("expire_points", days(30))
    ]
    with at(days(40)):
        assert "already done" in command(
            "--date", str(days(30)), "--only", "expire_points"
        )
        assert '"points": 0' in command(
            "--date", str(days(30)), "--only", "expire_points", "--force"
        )
    assert_ledger_ok()


def test_run_daily_jobs_without_a_date_runs_today_with_catch_up():
    with at(days(0)):
        command()
    with at(days(2)):
        out = command("--only", "expire_vouchers", "review_tiers")

    lines = out.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [
        [str(days(1)), "expire_vouchers"],
        [str(days(2)), "expire_vouchers"],
        [str(days(1)), "review_tiers"],
        [str(days(2)), "review_tiers"],
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "expire_all"], "Unknown job(s): expire_all"),
        (["--date", "2025-13-01"], "Bad --date '2025-13-01'"),
        (["--date", "2025-01-11"], "is in the future"),
    ],
)
def test_run_daily_jobs_refuses_bad_input_clearly(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        command(*args)
    assert not JobRun.objects.exists()


def test_run_daily_jobs_fails_loudly_when_a_job_fails(monkeypatch):
    def broken(*, on):
        raise RuntimeError("boom")

    monkeypatch.setitem(JOBS, "expire_vouchers", Job("expire_vouchers", broken, ""))

    with pytest.raises(CommandError, match="1 job run"):
        command("--only", "expire_vouchers")


def test_the_daily_task_runs_the_jobs_for_today():
    with at(days(0)):
        result = daily_jobs_task.apply()

    assert result.successful()
    assert [(r["job"], r["business_date"], r["status"]) for r in result.get()] == [
        (name, str(days(0)), "done") for name in JOBS
    ]


def test_the_daily_task_is_on_the_beat_schedule():
    (spec,) = [s for s in BEAT_SCHEDULE.values() if s["task"] == daily_jobs_task.name]
    assert (spec["schedule"].hour, spec["schedule"].minute) == ({0}, {10})
