"""``manage.py import_members``: reading, merging and reporting."""

import csv
import io
import shutil
from datetime import date
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from imports import members as imports
from imports import reading
from members import exports, services
from members.models import Member

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).parent.parent / "fixtures" / "members_cp1251.csv"


def run(path, *args) -> str:
    out = io.StringIO()
    call_command(
        "import_members", str(path), "--no-progress", *args, stdout=out, stderr=out
    )
    return out.getvalue()


def report_lines(path) -> list[list[str]]:
    with open(reading.report_path(path), encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture
def messy(tmp_path):
    path = tmp_path / "members.csv"
    shutil.copy(FIXTURE, path)
    return path


@pytest.fixture
def anna(db):
    # The duplicate in the fixture: a name, everything else blank.
    return services.member_register(phone="+79165550001", first_name="Анна")


# --- Reading ----------------------------------------------------------------


def test_encoding_and_delimiter_are_detected():
    sample = FIXTURE.read_bytes()
    assert reading.encoding_detect(sample) == "cp1251"
    assert reading.encoding_detect("\ufeffТелефон".encode()) == "utf-8-sig"
    assert reading.encoding_detect("Телефон".encode()) == "utf-8-sig"
    # A character cut by the end of the sample is still UTF-8.
    assert reading.encoding_detect("Телефон".encode()[:-1]) == "utf-8-sig"
    assert reading.delimiter_detect(sample.decode("cp1251")) == ";"
    assert reading.delimiter_detect("phone\tfirst_name\n+7916\tAnna\n") == "\t"
    assert reading.delimiter_detect("phone,first_name\n+7916,Anna\n") == ","


def test_headers_are_recognised_in_both_languages_and_by_mapping():
    russian = [" Телефон ", "ИМЯ", "Фамилия", "E-mail", "Дата рождения",
               "Комментарий", "Согласие на рассылку"]  # fmt: skip
    english = ["phone", "First_Name", "last_name", "email", "birthday", "note",
               "marketing_consent"]  # fmt: skip
    expected = {
        "phone": 0,
        "first_name": 1,
        "last_name": 2,
        "email": 3,
        "birthday": 4,
        "preferences": 5,
        "marketing_consent": 6,
    }
    assert reading.columns_recognise(russian, imports.HEADER_ALIASES) == expected
    assert reading.columns_recognise(english, imports.HEADER_ALIASES) == expected
    assert reading.columns_recognise(
        ["Мобильный"], imports.HEADER_ALIASES, {"мобильный": "phone"}
    ) == {"phone": 0}
    with pytest.raises(reading.ImportFileError):
        reading.columns_recognise(["Имя"], imports.HEADER_ALIASES)


def test_mapping_file_names_unknown_headers(tmp_path):
    mapping = tmp_path / "map.json"
    mapping.write_text('{"Мобильный": "phone", "ФИО": "first_name"}', "utf-8")
    path = tmp_path / "m.csv"
    path.write_text("Мобильный,ФИО\n89161234567,Лена\n", "utf-8")
    assert "created 1" in run(path, "--mapping", str(mapping))
    assert Member.objects.get(phone="+79161234567").first_name == "Лена"


# --- Import -----------------------------------------------------------------


def test_messy_file_is_imported_merged_and_reported(messy, anna, location):
    # When the cp1251, ;-separated file is imported at a location
    output = run(messy, "--location", location.code)

    # Then the messy phones are read, new members registered there
    assert "created 3, filled 1, unchanged 0, rejected 2, skipped 0" in output
    irina = Member.objects.get(phone="+79161112233")
    assert (irina.first_name, irina.last_name, irina.email) == (
        "Ирина",
        "Петрова",
        "irina@example.com",
    )
    assert irina.birthday == date(1990, 5, 17)
    assert irina.preferences == "Любит кофе"
    assert irina.registration_location == location
    assert irina.consent_sms and irina.consent_email and not irina.consent_push
    olga = Member.objects.get(phone="+79162223344")
    assert not olga.consent_sms and not olga.consent_email
    maria = Member.objects.get(phone="+79163334455")
    assert maria.birthday == date(1985, 3, 2)
    # And the known member's blanks are filled, the name is not overwritten
    anna.refresh_from_db()
    assert anna.first_name == "Анна"
    assert anna.last_name == "Иванова"
    assert anna.email == "anna@example.com"
    assert anna.birthday == date(1991, 1, 1)
    assert anna.preferences == "Постоянный клиент"
    assert anna.consent_sms and anna.consent_email
    # And the bad rows are in the report with their line and column
    lines = report_lines(messy)
    assert lines[0] == ["line", "column", "reason"]
    assert [row[:2] for row in lines[1:]] == [
        ["5", "Телефон"],
        ["7", "Дата рождения"],
    ]
    assert not Member.objects.filter(last_name="Телефона").exists()


def test_second_import_changes_nothing(messy, anna):
    run(messy)
    before = list(Member.objects.order_by("pk").values())
    output = run(messy)
    assert "created 0, filled 0, unchanged 4, rejected 2, skipped 0" in output
    assert list(Member.objects.order_by("pk").values()) == before


def test_dry_run_writes_nothing_but_counts_and_reports(messy, anna):
    output = run(messy, "--dry-run")
    assert "created 3, filled 1, unchanged 0, rejected 2, skipped 0" in output
    assert Member.objects.count() == 1
    anna.refresh_from_db()
    assert anna.last_name == "" and not anna.consent_sms
    assert len(report_lines(messy)) == 3


def test_consents_come_only_from_a_consent_column_and_only_turn_on(tmp_path):
    on = services.member_register(
        phone="+79165550002", first_name="Ира", consents={"sms": True}
    )
    path = tmp_path / "m.csv"
    path.write_text(
        "phone,first_name,marketing_consent\n+79165550002,Ира,no\n+79165550003,Оля,\n",
        "utf-8",
    )
    run(path)
    on.refresh_from_db()
    assert on.consent_sms  # "no" does not withdraw a consent
    path.write_text("phone,first_name\n+79165550004,Вера\n", "utf-8")
    run(path)
    vera = Member.objects.get(phone="+79165550004")
    assert not (vera.consent_sms or vera.consent_email or vera.consent_push)


def test_blocked_member_is_skipped_with_a_reason(tmp_path):
    member = services.member_register(phone="+79165550005", first_name="Ира")
    Member.objects.filter(pk=member.pk).update(status=Member.Status.BLOCKED)
    path = tmp_path / "m.csv"
    path.write_text("phone,last_name\n+79165550005,Новая\n", "utf-8")
    assert "skipped 1" in run(path)
    member.refresh_from_db()
    assert member.last_name == ""
    assert report_lines(path)[1][:2] == ["2", "phone"]


def test_xlsx_is_imported_with_excel_dates_and_numeric_phones(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Телефон", "Имя", "Дата рождения"])
    sheet.append([89165550006, "Лена", date(1990, 5, 17)])
    sheet.append(["+7 916 555-00-07", "Катя", "17.05.1991"])
    path = tmp_path / "m.xlsx"
    book.save(path)
    assert "created 2" in run(path)
    assert Member.objects.get(phone="+79165550006").birthday == date(1990, 5, 17)
    assert Member.objects.get(phone="+79165550007").birthday == date(1991, 5, 17)


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_member_export_reimported_is_a_no_op(tmp_path, member, location, suffix):
    member.email = "anna@example.com"
    member.birthday = date(1990, 5, 17)
    member.registration_location = location
    member.consent_sms = True
    member.save()
    services.member_register(phone="+79165550008", first_name="")
    path = tmp_path / f"members.{suffix}"
    call_command("export_members", str(path), "--no-progress", stdout=io.StringIO())
    before = list(Member.objects.order_by("pk").values())
    output = run(path)
    assert "created 0, filled 0, unchanged 2, rejected 0, skipped 0" in output
    assert list(Member.objects.order_by("pk").values()) == before
    assert exports.MEMBER_HEADERS  # the columns the import reads back


def test_unknown_location_and_file_without_phone_column_fail(tmp_path, messy):
    with pytest.raises(CommandError):
        run(messy, "--location", "nowhere")
    path = tmp_path / "m.csv"
    path.write_text("name\nAnna\n", "utf-8")
    with pytest.raises(CommandError):
        run(path)


def test_invalid_value_is_rejected_with_its_column_and_nothing_half_done(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "Телефон;Имя;E-mail\n+79165550009;Лена;not-an-email\n+79165550010;Катя;\n",
        "utf-8",
    )
    assert "created 1, filled 0, unchanged 0, rejected 1" in run(path)
    assert not Member.objects.filter(phone="+79165550009").exists()
    assert report_lines(path)[1][:2] == ["2", "E-mail"]
