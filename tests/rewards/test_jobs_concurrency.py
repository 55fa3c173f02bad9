"""The nightly jobs against real concurrency: PostgreSQL, real threads.

Beat can fire the expiry twice at once, and checkouts go on while it runs: each
lot must expire exactly once, each member get one expiry entry, and the books
balance afterwards whatever the interleaving.
"""

import threading
from datetime import date, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, connections

from rewards.jobs import _lock_key, daily_jobs_run, job_run
from rewards.models import LedgerEntry, LotAllocation, PointLot
from rewards.services import batch
from rewards.verify import ledger_verify
from tests.conftest import moscow
from tests.factories import MemberFactory
from tests.members.test_concurrency import errors_of, race
from tests.rewards.conftest import adjust, give_points

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite has no row locks to race on",
    ),
    pytest.mark.django_db(transaction=True),
]

D0 = date(2025, 1, 10)
DUE = D0 + timedelta(days=30)
MEMBERS = 12


@pytest.fixture(autouse=True)
def shipped_program(program_defaults):
    """Transactional tests empty the tables: put the tiers and settings back."""


@pytest.fixture
def due_lots():
    """12 members, each with two lots due on DUE and one that is not."""
    with time_machine.travel(moscow(2025, 1, 10, 12, 0), tick=False):
        members = MemberFactory.create_batch(MEMBERS)
        for m in members:
            give_points(m, 100, lifetime_days=20)
            give_points(m, 50, lifetime_days=30)
            give_points(m, 70, lifetime_days=90)
    return members


def assert_expired_once(members) -> None:
    expiries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EXPIRE)
    assert sorted(expiries.values_list("member", flat=True)) == sorted(
        m.pk for m in members
    )
    assert LotAllocation.objects.filter(entry__in=expiries).count() == 2 * MEMBERS
    assert set(
        PointLot.objects.filter(expires_on__lte=DUE).values_list("remaining", "expired")
    ) == {(0, 100), (0, 50)}
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]


def test_the_expiry_job_fired_twice_at_once_runs_once(due_lots):
    with time_machine.travel(moscow(2025, 2, 9, 0, 10), tick=False):
        outcomes = race(2, lambda _i: job_run("expire_points", DUE))

    assert errors_of(outcomes) == []
    statuses = sorted(value.status for _kind, value in outcomes)
    assert statuses == ["done", "skipped"]
    assert_expired_once(due_lots)


def test_the_expiry_sql_run_twice_at_once_expires_each_lot_once(due_lots, monkeypatch):
    # Without the job lock or the run record: the wallet locks alone decide.
    monkeypatch.setattr(batch.common, "CHUNK_MEMBERS", 5)

    with time_machine.travel(moscow(2025, 2, 9, 0, 10), tick=False):
        outcomes = race(2, lambda _i: batch.lots_expire(on=DUE))

    assert errors_of(outcomes) == []
    results = [value for _kind, value in outcomes]
    assert sum(r["members"] for r in results) == MEMBERS
    assert sum(r["lots"] for r in results) == 2 * MEMBERS
    assert_expired_once(due_lots)


def test_checkouts_going_on_while_the_nightly_jobs_run_keep_the_books(due_lots):
    # Thread 0 runs the night; the others take points from members meanwhile.
    def work(i):
        if i == 0:
            return daily_jobs_run(DUE)
        member = due_lots[i - 1]
        try:
            return adjust(member, -30, reason="spent at the bar")
        except ValidationError as exc:
            return exc

    with time_machine.travel(moscow(2025, 2, 9, 0, 10), tick=False):
        outcomes = race(len(due_lots) + 1, work)

    assert errors_of(outcomes) == []
    assert {o.status for o in outcomes[0][1]} == {"done"}
    assert_expired_once(due_lots)


def test_a_run_holding_the_jobs_lock_elsewhere_makes_this_one_skip(due_lots):
    held, release = threading.Event(), threading.Event()

    def holder():
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(%s)", [_lock_key("expire_points")])
                held.set()
                release.wait(timeout=30)
                cur.execute(
                    "SELECT pg_advisory_unlock(%s)", [_lock_key("expire_points")]
                )
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(timeout=30)
        with time_machine.travel(moscow(2025, 2, 9, 0, 10), tick=False):
            skipped = job_run("expire_points", DUE)
            assert (skipped.status, skipped.note) == ("skipped", "running elsewhere")
    finally:
        release.set()
        thread.join(timeout=30)

    with time_machine.travel(moscow(2025, 2, 9, 0, 20), tick=False):
        assert job_run("expire_points", DUE).status == "done"
    assert_expired_once(due_lots)


def test_a_failing_chunk_keeps_the_others_and_the_retry_finishes(due_lots, monkeypatch):
    # Given chunks of four members, run by two workers, the last one failing
    monkeypatch.setattr(batch.common, "CHUNK_MEMBERS", 4)
    real_chunk = batch.points._expire_chunk
    last_lo = sorted(m.pk for m in due_lots)[8]

    def flaky(db, cur, *, params, **kwargs):
        if params["lo"] == last_lo:
            raise RuntimeError("connection lost")
        return real_chunk(db, cur, params=params, **kwargs)

    monkeypatch.setattr(batch.points, "_expire_chunk", flaky)
    with time_machine.travel(moscow(2025, 2, 9, 0, 10), tick=False):
        failed = job_run("expire_points", DUE)

    # Then the run is failed, what the other chunks did is committed and sound
    assert (failed.status, failed.note) == ("failed", "connection lost")
    expired = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EXPIRE)
    assert expired.count() == 8
    assert ledger_verify().ok

    # And the next run retries the date and finishes the job
    monkeypatch.setattr(batch.points, "_expire_chunk", real_chunk)
    with time_machine.travel(moscow(2025, 2, 9, 1, 10), tick=False):
        assert job_run("expire_points", DUE).result["members"] == 4
    assert_expired_once(due_lots)


@pytest.mark.parametrize("workers", [1, 3])
def test_the_chunks_run_on_the_workers_the_setting_asks_for_now(
    due_lots, monkeypatch, settings, workers
):
    # Given chunks of four members and REGULARS_JOB_WORKERS set after import
    monkeypatch.setattr(batch.common, "CHUNK_MEMBERS", 4)
    settings.REGULARS_JOB_WORKERS = workers
    threads: set[int] = set()
    real_chunk = batch.points._expire_chunk

    def counted(*args, **kwargs):
        threads.add(threading.get_ident())
        return real_chunk(*args, **kwargs)

    monkeypatch.setattr(batch.points, "_expire_chunk", counted)
    with time_machine.travel(moscow(2025, 2, 9, 0, 10), tick=False):
        done = batch.lots_expire(on=DUE)

    # Then one worker runs the chunks here; more run them in their own threads
    assert done["members"] == MEMBERS
    if workers == 1:
        assert threads == {threading.get_ident()}
    else:
        assert threading.get_ident() not in threads
        assert 1 <= len(threads) <= workers
    assert_expired_once(due_lots)
