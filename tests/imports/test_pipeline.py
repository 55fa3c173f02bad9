"""The import pipeline: the reader process, the COPY text, what a failure does."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from imports import bulk, pipeline
from members.models import Member, Visit, VisitLine
from tests.factories import LocationFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def run(command, path, *args) -> str:
    out = io.StringIO()
    call_command(command, str(path), "--no-progress", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def reader_process(monkeypatch):
    """Every file gets a reader process, however small."""
    monkeypatch.setattr(pipeline, "READER_PROCESS_MIN_BYTES", 0)
    assert pipeline.reader_process_possible(1)


def test_members_through_the_reader_process(reader_process, tmp_path):
    path = tmp_path / "m.csv"
    rows = [f"8916{n:07d};Имя{n};x{n}@example.ru" for n in range(2_500)]
    path.write_text("Телефон;Имя;Email\n" + "\n".join(rows) + "\n89;bad;\n", "utf-8")

    out = run("import_members", path)
    again = run("import_members", path)

    assert "created 2500" in out and "rejected 1" in out
    assert "unchanged 2500" in again
    assert Member.objects.count() == 2_500
    assert Member.objects.get(phone="+79160002499").email == "x2499@example.ru"


def test_visits_through_the_reader_process(reader_process, tmp_path, monkeypatch):
    from imports import visits

    monkeypatch.setattr(visits, "CHUNK_ROWS", 100)
    LocationFactory(code="center")
    ServiceFactory(name="Ароматерапия", code="aroma", base_price=900)
    path = tmp_path / "v.csv"
    rows = [
        f"{n // 2};0{1 + n // 2 % 9}.02.2025 10:00;8916{n // 2:07d};aroma;900"
        for n in range(1_001)
    ]
    path.write_text("ID записи;Дата;Телефон;Услуга;Сумма\n" + "\n".join(rows) + "\n")

    out = run("import_visits", path, "--location", "center")
    again = run("import_visits", path, "--location", "center")

    assert "imported 1001, already there 0, rejected 0" in out
    assert "imported 0, already there 1001" in again
    assert (Visit.objects.count(), VisitLine.objects.count()) == (501, 1_001)


def test_a_failure_in_the_reader_process_is_raised_here(reader_process, tmp_path):
    def parse(chunk):
        raise RuntimeError("boom in the reader")

    chunks = iter([[1, 2], [3]])
    with pytest.raises(pipeline._ReaderFailed, match="boom in the reader"):
        pipeline.chunks_run(
            chunks,
            parse=parse,
            write=lambda work: [],
            done=lambda results, rows: None,
            overlap=False,
            reader_process=True,
        )


def test_a_failure_in_the_writer_stops_the_reader(reader_process):
    written = []

    def write(work):
        written.append(work)
        raise ValueError("the database said no")

    with pytest.raises(ValueError, match="said no"):
        pipeline.chunks_run(
            iter([[n] for n in range(1_000)]),
            parse=lambda chunk: (chunk, []),
            write=write,
            done=lambda results, rows: None,
            overlap=False,
            reader_process=True,
        )
    assert written == [[0]]


def test_copy_text_keeps_tabs_newlines_and_backslashes(tmp_path):
    odd = "Анна\tМария\\n\nО'Нил\r"
    path = tmp_path / "m.csv"
    path.write_text(
        'phone,first_name,preferences\n89160000001,"Анна\\Мария","' + odd + '"\n',
        "utf-8",
    )

    run("import_members", path)

    member = Member.objects.get()
    assert member.first_name == "Анна\\Мария"
    assert member.preferences == odd.strip()
    assert bulk._copy_value(None) == "\\N" and bulk._copy_value(True) == "t"


def test_the_reader_process_is_not_used_where_it_cannot_be(monkeypatch):
    assert not pipeline.reader_process_possible(Path(__file__).stat().st_size)
    monkeypatch.setattr(pipeline, "READER_PROCESS_MIN_BYTES", 0)
    monkeypatch.setattr(
        pipeline.multiprocessing,
        "current_process",
        lambda: type("P", (), {"daemon": True}),
    )
    assert not pipeline.reader_process_possible(10**9)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the writer threads run on PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_neighbouring_chunks_written_side_by_side_settle_one_phone(
    reader_process, tmp_path, monkeypatch
):
    from imports import members

    monkeypatch.setattr(members, "CHUNK_ROWS", 50)
    path = tmp_path / "m.csv"
    # Rows n and n + 50 share a phone: two chunks that the two writers take
    # at the same time.
    rows = [f"8916{(n // 100) * 50 + n % 50:07d};Имя{n}" for n in range(1_000)]
    path.write_text("Телефон;Имя\n" + "\n".join(rows) + "\n", "utf-8")

    out = run("import_members", path)

    assert "created 500, filled 0, unchanged 500, rejected 0" in out
    assert Member.objects.count() == 500


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the writer threads run on PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_neighbouring_chunks_make_a_new_client_once(
    reader_process, tmp_path, monkeypatch
):
    from imports import visits

    monkeypatch.setattr(visits, "CHUNK_ROWS", 50)
    LocationFactory(code="center")
    ServiceFactory(name="Ароматерапия", code="aroma", base_price=900)
    path = tmp_path / "v.csv"
    rows = [
        f"{n};01.02.2025 1{n % 10}:00;8916{(n // 100) * 50 + n % 50:07d};aroma;900"
        for n in range(1_000)
    ]
    path.write_text("ID записи;Дата;Телефон;Услуга;Сумма\n" + "\n".join(rows) + "\n")

    out = run("import_visits", path, "--location", "center")

    assert "imported 1000, already there 0, rejected 0" in out
    assert "1000 visits, 500 members" in out
    assert Member.objects.count() == 500
    assert sorted(set(Member.objects.values_list("visits_count", flat=True))) == [2]
