"""A large visits import sets the visits' foreign keys aside and proves them after
(``imports.keys``): on PostgreSQL, with real connections and threads."""

import io
import threading

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection

from imports import keys, visits
from imports.models import SetAsideKey
from members.models import Member, Visit, VisitLine
from tests.factories import LocationFactory, ServiceFactory

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="foreign keys set aside: PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]

VISIT_KEYS = {
    ("members_visit", "member_id"),
    ("members_visit", "location_id"),
    ("members_visitline", "visit_id"),
    ("members_visitline", "service_id"),
    ("members_visitline", "specialist_id"),
}


def foreign_keys(cursor=None) -> dict[tuple[str, str], bool]:
    """{(table, column): validated} of the visits' single-column foreign keys."""
    sql = """
        SELECT c.conrelid::regclass::text, a.attname, c.convalidated
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f'
          AND c.conrelid IN ('members_visit'::regclass, 'members_visitline'::regclass)
    """
    if cursor is None:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
    else:
        cursor.execute(sql)
        rows = cursor.fetchall()
    return {(table, column): valid for table, column, valid in rows}


@pytest.fixture
def salon(settings):
    settings.IMPORTS_KEYS_ASIDE_MIN_BYTES = 1  # every file is "large"
    LocationFactory(code="center")
    ServiceFactory(name="Ароматерапия", code="aroma", base_price=900)


@pytest.fixture
def visits_file(tmp_path):
    path = tmp_path / "v.csv"
    lines = ["ID записи;Дата;Телефон;Услуга;Мастер;Сумма"]
    for n in range(30):  # 15 bookings of two lines
        booking = n // 2
        lines.append(
            f"{booking};0{1 + booking % 9}.02.2025 10:00;8916000{booking:04d};"
            f"aroma;Мастер {n % 3};900"
        )
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


@pytest.fixture
def keys_seen(monkeypatch):
    """The visits' foreign keys as they stand while the rows are written."""
    seen = []
    real = visits.import_run

    def spy(*args, **kwargs):
        seen.append(foreign_keys())
        return real(*args, **kwargs)

    monkeypatch.setattr(visits, "import_run", spy)
    return seen


def run(path) -> str:
    out = io.StringIO()
    call_command(
        "import_visits", str(path), "--no-progress", "--location", "center",
        stdout=out, stderr=out,
    )  # fmt: skip
    return out.getvalue()


def test_a_large_import_loads_without_the_keys_and_proves_them_after(
    salon, visits_file, keys_seen
):
    before = foreign_keys()
    assert set(before) >= VISIT_KEYS

    out = run(visits_file)

    assert "imported 30, already there 0, rejected 0" in out
    assert not VISIT_KEYS & set(keys_seen[0])  # set aside while loading
    assert foreign_keys() == before  # all back, all validated
    assert all(foreign_keys().values())
    assert not SetAsideKey.objects.exists()
    assert (Visit.objects.count(), VisitLine.objects.count()) == (15, 30)
    assert VisitLine.objects.filter(specialist__isnull=False).count() == 30


def test_a_small_file_or_a_dry_run_keeps_the_keys(
    settings, salon, visits_file, keys_seen
):
    settings.IMPORTS_KEYS_ASIDE_MIN_BYTES = visits_file.stat().st_size + 1
    run(visits_file)
    settings.IMPORTS_KEYS_ASIDE_MIN_BYTES = 1
    call_command(
        "import_visits", str(visits_file), "--no-progress", "--dry-run",
        "--location", "center", stdout=io.StringIO(),
    )  # fmt: skip

    assert all(set(seen) >= VISIT_KEYS for seen in keys_seen)
    assert len(keys_seen) == 2


def test_busy_tables_keep_their_keys_and_the_import_still_runs(
    monkeypatch, salon, visits_file, keys_seen
):
    monkeypatch.setattr(keys, "LOCK_TIMEOUT", "200ms")
    holding, release = threading.Event(), threading.Event()

    def till():  # a long transaction reading visits: ALTER TABLE must wait
        from django.db import connection as own
        from django.db import transaction

        try:
            with transaction.atomic(), own.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM members_visit")
                holding.set()
                release.wait(30)
        finally:
            own.close()

    thread = threading.Thread(target=till)
    thread.start()
    try:
        assert holding.wait(10)
        out = run(visits_file)
    finally:
        release.set()
        thread.join()

    assert "imported 30" in out
    assert set(keys_seen[0]) >= VISIT_KEYS  # never dropped
    assert not SetAsideKey.objects.exists()


def test_the_keys_of_an_import_that_died_are_put_back(salon):
    set_aside, died = threading.Event(), threading.Event()

    def import_that_dies():
        from django.db import connection as own

        try:
            assert keys._lock_try()
            assert keys._drop(visits.FOREIGN_KEYS)
            set_aside.set()
            died.wait(30)
        finally:
            own.close()  # the process dies: its session's lock goes with it

    thread = threading.Thread(target=import_that_dies)
    thread.start()
    try:
        assert set_aside.wait(10)
        # Still loading: its keys are its own to restore.
        assert keys.keys_restore_abandoned() == []
        assert keys.keys_set_aside_now()
        assert not VISIT_KEYS & set(foreign_keys())
    finally:
        died.set()
        thread.join()

    restored = keys.keys_restore_abandoned()

    assert len(restored) == 5
    assert set(foreign_keys()) >= VISIT_KEYS
    assert all(foreign_keys().values())
    assert keys.keys_set_aside_now() == []


def test_a_row_that_breaks_a_key_while_aside_fails_the_validation(salon):
    try:
        with (
            pytest.raises(IntegrityError),
            keys.keys_set_aside(visits.FOREIGN_KEYS) as aside,
        ):
            assert len(aside) == 5
            member = Member.objects.create(phone="+79160000001")
            visit = Visit.objects.create(
                member=member, location_id=LocationFactory().pk, total=0,
                amount_paid=0, status="paid",
            )  # fmt: skip
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO members_visitline (visit_id, service_id, price,"
                    " quantity, refunded_quantity, price_reason)"
                    " VALUES (%s, 999999, 1, 1, 0, '')",
                    [visit.pk],
                )
        # Back, enforced for new rows, but not valid: the operator sees it.
        state = foreign_keys()
        assert state[("members_visitline", "service_id")] is False
        assert all(
            state[key] for key in VISIT_KEYS - {("members_visitline", "service_id")}
        )
        assert not SetAsideKey.objects.exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM members_visitline WHERE service_id = 999999")
            cursor.execute(
                "SELECT conname FROM pg_constraint WHERE NOT convalidated"
                " AND conrelid = 'members_visitline'::regclass"
            )
            for (name,) in cursor.fetchall():
                cursor.execute(
                    f'ALTER TABLE members_visitline VALIDATE CONSTRAINT "{name}"'
                )
