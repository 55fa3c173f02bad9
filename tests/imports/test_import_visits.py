"""``manage.py import_visits``: bookings, idempotency, what it creates, the report."""

import csv
import io
import json
import random
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection

from imports import reading, visits
from imports.phones import phone_fast
from members.models import Member, Service, Specialist, Visit, VisitLine
from members.services import phone_normalize
from rewards.models import LedgerEntry, Wallet
from tests.factories import LocationFactory, MemberFactory, ServiceFactory

FIXTURE = Path(__file__).parent.parent / "fixtures" / "visits.xlsx"
MSK = ZoneInfo("Europe/Moscow")


def run(path, *args) -> str:
    out = io.StringIO()
    call_command(
        "import_visits", str(path), "--no-progress", *args, stdout=out, stderr=out
    )
    return out.getvalue()


def report(path) -> list[list[str]]:
    with open(reading.report_path(path), encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture
def chain(db):
    center = LocationFactory(code="center", name="Центр")
    LocationFactory(code="patriki", name="Патриаршие")
    LocationFactory(code="mobile", name="На дому")
    classic = ServiceFactory(
        name="Классический массаж 60 мин", code="classic-60", base_price=3500
    )
    aroma = ServiceFactory(name="Ароматерапия", code="aroma", base_price=900)
    anna = Specialist.objects.create(name="Анна Смирнова", code="anna-s")
    anna.locations.add(center)
    return {"classic": classic, "aroma": aroma, "anna": anna}


@pytest.fixture
def xlsx(tmp_path):
    path = tmp_path / "visits.xlsx"
    shutil.copy(FIXTURE, path)
    return path


def counts() -> tuple[int, ...]:
    return (
        Member.objects.count(),
        Visit.objects.count(),
        VisitLine.objects.count(),
        Service.objects.count(),
        Specialist.objects.count(),
    )


def test_headers_are_recognised_in_russian_english_and_the_export():
    russian = ["ID записи", "Дата визита", "Телефон", "Услуга", "Мастер", "Сумма"]
    english = ["external_id", "paid_at", "phone", "service", "specialist", "amount"]
    expected = {
        "external_id": 0,
        "paid_at": 1,
        "phone": 2,
        "service": 3,
        "specialist": 4,
        "amount": 5,
    }
    aliases = visits.HEADER_ALIASES
    assert reading.columns_recognise(russian, aliases) == expected
    assert reading.columns_recognise(english, aliases) == expected
    yclients = ["Дата", "Сотрудник", "Стоимость", "Филиал", "ТЕЛЕФОН", "Услуга"]
    assert reading.columns_recognise(yclients, aliases) == {
        "paid_at": 0,
        "specialist": 1,
        "amount": 2,
        "location": 3,
        "phone": 4,
        "service": 5,
    }
    with pytest.raises(reading.ImportFileError):
        reading.columns_recognise(["Телефон", "Услуга"], aliases, None, visits.REQUIRED)


def test_dry_run_counts_and_writes_nothing(chain, xlsx):
    before = counts()

    out = run(xlsx, "--dry-run")

    assert counts() == before
    assert "Dry run, nothing written" in out
    assert "imported 4" in out
    assert "rejected 3, skipped 1" in out
    assert "3 visits, 3 members, 1 services, 1 specialists" in out
    assert "Массаж шеи и воротниковой зоны" in out
    assert "Игорь Белов" in out


def test_the_file_is_imported_as_bookings(chain, xlsx):
    out = run(xlsx)

    assert "imported 4" in out
    assert "points_backfill" in out
    vera = Member.objects.get(phone="+79165550101")
    assert vera.first_name == "Вера"
    assert not (vera.consent_sms or vera.consent_email or vera.consent_push)
    # Booking 10501: one visit of two lines, at the Excel date and the time column.
    visit = Visit.objects.get(external_id="center:10501")
    assert visit.source == Visit.Source.IMPORT
    assert visit.member == vera
    assert visit.paid_at == datetime(2025, 3, 14, 11, 30, tzinfo=MSK)
    assert visit.total == visit.amount_paid == Decimal("4400.00")
    lines = list(visit.lines.order_by("price"))
    assert [(ln.service, ln.price, ln.specialist) for ln in lines] == [
        (chain["aroma"], Decimal("900.00"), chain["anna"]),
        (chain["classic"], Decimal("3500.00"), chain["anna"]),
    ]
    assert all(ln.price_reason == "" for ln in lines)
    # The cancelled booking 10503 is not a visit; the member's stats count one.
    assert vera.visits_count == 1
    assert vera.total_spent == Decimal("4400.00")
    assert vera.first_visit_at == vera.last_visit_at == visit.paid_at
    # An unknown service and specialist are created inactive, at the price seen.
    neck = Service.objects.get(name="Массаж шеи и воротниковой зоны")
    assert not neck.is_active
    assert neck.base_price == Decimal("1200.00")
    igor = Specialist.objects.get(name="Игорь Белов")
    assert not igor.is_active
    assert [loc.code for loc in igor.locations.all()] == ["patriki"]
    line = VisitLine.objects.get(service=neck)
    assert (line.quantity, line.price, line.specialist) == (2, Decimal("1200.00"), igor)
    # Without an id: a visit of its own, keyed by its content; its price
    # differs from the list price and says why.
    dina = Member.objects.get(phone="+79165550303")
    own = dina.visits.get()
    assert own.external_id.startswith("#")
    assert own.location.code == "mobile"
    assert own.lines.get().price_reason == "Imported history"
    assert not Visit.objects.filter(external_id__in=["center:10503", "center:10505"])
    assert not Wallet.objects.exists()  # no points until points_backfill


def test_rejected_rows_are_reported_with_line_and_column(chain, xlsx):
    run(xlsx)

    rows = report(xlsx)
    assert rows[0] == ["line", "column", "reason"]
    problems = {int(line): (column, reason) for line, column, reason in rows[1:]}
    assert set(problems) == {5, 6, 8, 9}
    assert problems[5][0] == "Статус"
    assert problems[6][0] == "Телефон"
    assert "12-34" in problems[6][1]
    assert problems[9][0] == "Стоимость"
    assert "бесплатно" in problems[9][1]
    # The booking's good line goes with the bad one: never half a visit.
    assert "line 9" in problems[8][1]


def test_a_second_import_changes_nothing_and_says_so(chain, xlsx):
    run(xlsx)
    before = counts()
    vera = Member.objects.get(phone="+79165550101")

    out = run(xlsx)

    assert counts() == before
    assert "imported 0, already there 4" in out
    assert "0 visits, 0 members, 0 services, 0 specialists" in out
    vera.refresh_from_db()
    assert vera.visits_count == 1


def test_a_known_booking_with_other_content_is_rejected_not_merged(chain, tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(
        "ID записи;Дата;Телефон;Услуга;Сумма;Филиал\n"
        "7;01.02.2025 10:00;89160000001;classic-60;3500;center\n",
        "utf-8",
    )
    run(path)
    path.write_text(
        "ID записи;Дата;Телефон;Услуга;Сумма;Филиал\n"
        "7;01.02.2025 10:00;89160000001;classic-60;3000;center\n",
        "utf-8",
    )

    out = run(path)

    assert "rejected 1" in out
    assert "imported before with other content" in report(path)[1][2]
    assert Visit.objects.get().total == Decimal("3500.00")


def test_the_same_booking_id_at_two_locations_is_two_visits(chain, tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(
        "external_id,paid_at,phone,service,amount,location\n"
        "1,2025-02-01 10:00,89160000001,aroma,900,center\n"
        "1,2025-02-01 10:00,89160000002,aroma,900,patriki\n",
        "utf-8",
    )

    run(path)

    assert sorted(Visit.objects.values_list("external_id", flat=True)) == [
        "center:1",
        "patriki:1",
    ]


def test_rows_without_an_id_are_idempotent_by_content(chain, tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(
        "Дата визита,Телефон,Услуга,Сумма\n"
        "01.02.2025 10:00,+7 916 000-00-01,Ароматерапия,900\n"
        "01.02.2025 10:00,+7 916 000-00-01,Ароматерапия,900\n"
        "02.02.2025,+7 916 000-00-01,Ароматерапия,900\n",
        "utf-8",
    )

    out = run(path, "--location", "center")
    again = run(path, "--location", "center")

    assert "imported 2, already there 1" in out  # the same line twice is one
    assert "imported 0, already there 3" in again
    assert Visit.objects.count() == 2
    noon = Visit.objects.get(paid_at__date="2025-02-02")
    assert noon.paid_at == datetime(2025, 2, 2, 12, 0, tzinfo=MSK)  # a date alone


def test_a_known_member_gets_the_visits_and_keeps_their_name(chain, tmp_path):
    member = MemberFactory(phone="+79160000001", first_name="Ольга")
    path = tmp_path / "v.csv"
    path.write_text(
        "Телефон;Имя;Дата;Услуга;Сумма\n"
        "89160000001;Оля;01.02.2025 10:00;aroma;900\n"
        "89160000001;Оля;01.03.2025 10:00;aroma;900\n",
        "utf-8",
    )

    run(path, "--location", "center")

    member.refresh_from_db()
    assert member.first_name == "Ольга"
    assert member.visits_count == 2
    assert member.total_spent == Decimal("1800.00")
    assert member.first_visit_at == datetime(2025, 2, 1, 10, tzinfo=MSK)
    assert member.last_visit_at == datetime(2025, 3, 1, 10, tzinfo=MSK)


def test_a_mapping_names_columns_services_and_specialists(chain, tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(
        "Мобильный;Когда;Процедура;Кто;Итого\n"
        "89160000001;01.02.2025 10:00;Классика 60;Аня С.;3500\n",
        "utf-8",
    )
    mapping = tmp_path / "map.json"
    mapping.write_text(
        json.dumps(
            {
                "columns": {
                    "Мобильный": "phone",
                    "Когда": "paid_at",
                    "Процедура": "service",
                    "Кто": "specialist",
                    "Итого": "amount",
                },
                "services": {"Классика 60": "classic-60"},
                "specialists": {"Аня С.": "anna-s"},
            },
            ensure_ascii=False,
        ),
        "utf-8",
    )

    out = run(path, "--location", "center", "--mapping", str(mapping))

    assert "0 services, 0 specialists" in out
    line = VisitLine.objects.get()
    assert (line.service, line.specialist) == (chain["classic"], chain["anna"])


def test_a_mapping_to_an_unknown_code_stops_before_anything(chain, tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("Телефон;Дата;Услуга;Сумма\n89160000001;01.02.2025;X;1\n", "utf-8")
    mapping = tmp_path / "map.json"
    mapping.write_text('{"services": {"X": "no-such-code"}}', "utf-8")

    with pytest.raises(CommandError, match="no-such-code"):
        run(path, "--location", "center", "--mapping", str(mapping))
    assert not Visit.objects.exists()


def test_future_visits_unknown_locations_and_bad_values_are_rejected(chain, tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(
        "Телефон;Дата;Услуга;Сумма;Количество;Филиал\n"
        "89160000001;01.02.2099 10:00;aroma;900;1;center\n"
        "89160000001;01.02.2025 10:00;aroma;900;1;nowhere\n"
        "89160000001;31.02.2025 10:00;aroma;900;1;center\n"
        "89160000001;01.02.2025 10:00;aroma;100;3;center\n"
        "89160000001;01.02.2025 10:00;aroma;-5;1;center\n"
        "89160000001;01.02.2025 10:00;aroma;900;0;center\n"
        "89160000001;01.02.2025 10:00;aroma;900;1;\n",
        "utf-8",
    )

    out = run(path)

    assert "imported 0" in out and "rejected 7" in out
    reasons = [row[1:] for row in report(path)[1:]]
    assert [column for column, _reason in reasons] == [
        "Дата", "Филиал", "Дата", "Сумма", "Сумма", "Количество", "Филиал",
    ]  # fmt: skip
    assert not Member.objects.exists()


def test_after_the_import_points_backfill_builds_the_points_history(chain, xlsx):
    run(xlsx)

    call_command(
        "points_backfill", "--no-progress", "--jobs", "1", stdout=io.StringIO()
    )

    assert Wallet.objects.count() == 3
    vera = Member.objects.get(phone="+79165550101")
    earned = LedgerEntry.objects.filter(member=vera)
    assert earned.count() == 1 and earned.get().amount > 0
    assert not LedgerEntry.objects.filter(amount__lt=0).exists()  # no spend invented


def test_bookings_are_never_split_between_chunks():
    rows = [(n, [str(n // 3), "x"]) for n in range(20)]  # ids 0,0,0,1,1,1,…

    chunks = list(visits.booking_chunks(iter(rows), 4, {"external_id": 0}))

    assert sum(len(c) for c in chunks) == 20
    for chunk in chunks:
        ids = {cells[0] for _line, cells in chunk}
        assert all(
            cells[0] not in ids for other in chunks if other is not chunk
            for _line, cells in other
        )  # fmt: skip


def test_phones_are_read_as_the_app_reads_them():
    rnd = random.Random(5)
    samples = ["8 (916) 123-45-67", "+7 916 123 45 67", "9161234567", "79161234567"]
    for _ in range(3000):
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(9, 12)))
        prefix = rnd.choice(["", "+", "+7", "7", "8", "8 ", "+7 ("])
        samples.append(prefix + digits)
    for raw in samples:
        try:
            expected = phone_normalize(raw)
        except ValidationError:
            expected = None
        try:
            got = phone_fast(raw)
        except ValidationError:
            got = None
        assert got == expected, raw


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the writer thread runs on PostgreSQL only",
)
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_chunks_are_written_by_a_second_thread(tmp_path, monkeypatch):
    LocationFactory(code="center")
    ServiceFactory(name="Ароматерапия", code="aroma", base_price=900)
    monkeypatch.setattr(visits, "CHUNK_ROWS", 10)
    path = tmp_path / "v.csv"
    lines = ["ID записи;Дата;Телефон;Услуга;Сумма"]
    for n in range(95):  # 48 bookings: two lines each, the last one one
        booking = n // 2
        lines.append(
            f"{booking};0{1 + booking % 9}.02.2025 10:00;8916000{booking:04d};aroma;900"
        )
    path.write_text("\n".join(lines) + "\n", "utf-8")

    out = run(path, "--location", "center")
    again = run(path, "--location", "center")

    assert "imported 95, already there 0, rejected 0" in out
    assert "imported 0, already there 95" in again
    assert (Member.objects.count(), Visit.objects.count()) == (48, 48)
    assert VisitLine.objects.count() == 95
    assert sum(Member.objects.values_list("visits_count", flat=True)) == 48
