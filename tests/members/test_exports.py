"""Members and visits exported to CSV and XLSX: the rows, the formats, formula
injection, the admin actions and their permissions, the commands."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import CommandError, call_command
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from openpyxl import load_workbook

from members import exports, services
from members.models import Member, Specialist, Visit
from tests.conftest import moscow
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def csv_rows(text: str) -> list[list[str]]:
    assert text.startswith(exports.BOM)
    return list(csv.reader(io.StringIO(text.removeprefix(exports.BOM))))


def csv_of(headers, rows) -> list[list[str]]:
    return csv_rows("".join(exports.csv_chunks(headers, rows)))


def xlsx_of(content: bytes) -> list[tuple]:
    book = load_workbook(io.BytesIO(content), read_only=True)
    return list(book.worksheets[0].iter_rows(values_only=True))


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def anna(member, location):
    member.email = "anna@example.com"
    member.birthday = date(1990, 5, 17)
    member.registration_location = location
    member.registered_at = moscow(2026, 3, 1, 10, 30)
    member.consent_sms = True
    member.save()
    return member


@pytest.fixture
def visit(anna, record_visit, service, addon):
    return record_visit(
        anna,
        lines=[
            services.VisitLineInput(service=service),
            services.VisitLineInput(service=addon, quantity=2, price="450.00"),
        ],
        paid_at=moscow(2026, 4, 2, 18, 15),
        external_id="bk-1",
        source=Visit.Source.POS,
        payment_method=Visit.PaymentMethod.CARD,
    )


# --- Rows -------------------------------------------------------------------


def test_member_row_has_the_reimport_headers_and_the_values(anna):
    # Given a member with a profile; when exported
    rows = csv_of(exports.MEMBER_HEADERS, exports.member_rows(Member.objects.all()))

    # Then the headers are the import's field names and the values read back
    assert rows[0] == exports.MEMBER_HEADERS
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row == {
        "id": str(anna.pk),
        "phone": anna.phone.as_e164,
        "first_name": "Anna",
        "last_name": "Smirnova",
        "email": "anna@example.com",
        "birthday": "1990-05-17",
        "status": "active",
        "registered_at": "2026-03-01T10:30:00+03:00",
        "location": "patriki",
        "visits_count": "0",
        "total_spent": "0.00",
        "consent_sms": "true",
        "consent_email": "false",
        "consent_push": "false",
        "joined_via": "till",
    }
    assert row["phone"].startswith("+7")  # E.164, usable as it is


def test_visit_rows_are_one_per_line(visit):
    rows = csv_of(exports.VISIT_HEADERS, exports.visit_rows(Visit.objects.all()))

    assert rows[0] == exports.VISIT_HEADERS
    first, second = (dict(zip(rows[0], r, strict=True)) for r in rows[1:])
    assert first["visit_id"] == second["visit_id"] == str(visit.pk)
    assert first["paid_at"] == "2026-04-02T18:15:00+03:00"
    assert first["location"] == "patriki"
    assert first["phone"] == visit.member.phone.as_e164
    assert (first["service"], first["service_name"]) == (
        "classic-60",
        "Classic massage, 60 min",
    )
    assert (second["service"], second["quantity"], second["price"]) == (
        "aroma",
        "2",
        "450.00",
    )
    assert second["list_price"] == "500.00"
    assert second["amount"] == "900.00"
    assert first["visit_total"] == second["visit_total"] == "3900.00"
    assert first["status"] == "paid"
    assert first["source"] == "pos"
    assert first["external_id"] == "bk-1"
    assert first["payment_method"] == "card"


def test_masked_phones_tell_members_apart_but_hide_the_number(visit):
    rows = list(exports.visit_rows(Visit.objects.all(), mask_phones=True))

    phone = visit.member.phone.as_e164
    masked = rows[0][exports.VISIT_HEADERS.index("phone")]
    assert masked != phone
    assert masked[:5] == phone[:5] and masked[-2:] == phone[-2:]
    assert exports.MASK * 3 in masked


# --- Formats ----------------------------------------------------------------


def test_csv_starts_with_a_bom_and_keeps_cyrillic(db):
    MemberFactory(first_name="Анна", last_name="Смирнова")

    text = "".join(
        exports.csv_chunks(
            exports.MEMBER_HEADERS, exports.member_rows(Member.objects.all())
        )
    )

    assert text.startswith("\ufeffid,phone,")
    assert "Анна,Смирнова" in text


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_text_cells_that_look_like_formulas_are_neutralised(text):
    assert exports.safe_text(text) == "'" + text


def test_formula_injection_in_csv_and_xlsx(db):
    # Given a member whose name is a formula
    attack = '=HYPERLINK("http://evil","x")'
    MemberFactory(first_name=attack, last_name="-Ivanova")
    headers, members = exports.MEMBER_HEADERS, Member.objects.all()

    # Then both formats hold it as text with a leading apostrophe…
    (row,) = csv_of(headers, exports.member_rows(members))[1:]
    assert row[2:4] == ["'" + attack, "'-Ivanova"]
    out = io.BytesIO()
    exports.xlsx_write(out, headers, exports.member_rows(members))
    (_header, xrow) = xlsx_of(out.getvalue())
    assert xrow[2:4] == ("'" + attack, "'-Ivanova")

    # …while the phone (E.164 starts with "+") stays as it is
    assert row[1].startswith("+7") and xrow[1].startswith("+7")


def test_numbers_are_numbers_even_when_negative():
    rows = [[1, "+79161234567", Decimal("-50.00"), "-50.00"]]
    headers = ["id", "phone", "amount", "note"]

    (_h, row) = csv_of(headers, rows)
    assert row == ["1", "+79161234567", "-50.00", "'-50.00"]

    out = io.BytesIO()
    exports.xlsx_write(out, headers, rows)
    (_h, xrow) = xlsx_of(out.getvalue())
    assert xrow[2] == -50 and isinstance(xrow[2], int | float)
    assert xrow[1] == "+79161234567"


def test_an_erased_members_phone_placeholder_is_neutralised():
    assert exports.safe_text("+0-erased-5", phone=True) == "'+0-erased-5"
    assert exports.safe_text("+79161234567", phone=True) == "+79161234567"


# --- Admin actions ----------------------------------------------------------


def export_post(client, model, action, objs, **extra):
    data = {
        "action": action,
        "index": "0",
        ACTION_CHECKBOX_NAME: [str(o.pk) for o in objs],
        **extra,
    }
    return client.post(reverse(f"admin:members_{model}_changelist"), data)


def offered(client, model) -> set[str]:
    response = client.get(reverse(f"admin:members_{model}_changelist"))
    form = response.context["action_form"]
    return {name for name, _label in form.fields["action"].choices} if form else set()


@pytest.mark.parametrize("who", ["front_desk_client", "manager_client"])
def test_contact_roles_export_members_to_csv(request, who, anna):
    client = request.getfixturevalue(who)
    assert {"export_members_csv", "export_members_xlsx"} <= offered(client, "member")

    response = export_post(client, "member", "export_members_csv", [anna])

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(streamed(response).decode("utf-8"))
    assert rows[1][1] == anna.phone.as_e164


def test_members_xlsx_action_sends_a_workbook(manager_client, anna):
    response = export_post(manager_client, "member", "export_members_xlsx", [anna])

    assert isinstance(response, FileResponse)
    rows = xlsx_of(streamed(response))
    assert rows[0] == tuple(exports.MEMBER_HEADERS)
    assert rows[1][:3] == (anna.pk, anna.phone.as_e164, "Anna")


def test_analyst_may_not_export_members(analyst_client, anna):
    assert not {"export_members_csv", "export_members_xlsx"} & offered(
        analyst_client, "member"
    )

    response = export_post(analyst_client, "member", "export_members_csv", [anna])

    assert not isinstance(response, StreamingHttpResponse | FileResponse)


def test_analyst_exports_visits_with_masked_phones(analyst_client, visit):
    assert {"export_visits_csv", "export_visits_xlsx"} <= offered(
        analyst_client, "visit"
    )

    response = export_post(analyst_client, "visit", "export_visits_csv", [visit])

    assert isinstance(response, StreamingHttpResponse)
    text = streamed(response).decode("utf-8")
    assert visit.member.phone.as_e164 not in text
    assert exports.MASK in text


def test_front_desk_exports_visits_with_phones_to_xlsx(front_desk_client, visit):
    response = export_post(front_desk_client, "visit", "export_visits_xlsx", [visit])

    assert isinstance(response, FileResponse)
    rows = xlsx_of(streamed(response))
    assert len(rows) == 3  # the headers and the visit's two lines
    assert rows[1][exports.VISIT_HEADERS.index("phone")] == visit.member.phone.as_e164


def test_select_all_exports_every_member_matching_the_filters(manager_client, anna):
    # Given a blocked member besides the active one, and the list filtered
    blocked = MemberFactory(status=Member.Status.BLOCKED)
    url = reverse("admin:members_member_changelist") + "?status__exact=active"

    # When "select all" is sent with the action (one row ticked, as the page does)
    response = manager_client.post(
        url,
        {
            "action": "export_members_csv",
            "index": "0",
            "select_across": "1",
            ACTION_CHECKBOX_NAME: [str(anna.pk)],
        },
    )

    # Then every matching member is exported, and only those
    ids = {r[0] for r in csv_rows(streamed(response).decode("utf-8"))[1:]}
    assert str(anna.pk) in ids and str(blocked.pk) not in ids


# --- Commands ---------------------------------------------------------------


def test_export_members_command_writes_csv_and_xlsx(tmp_path, anna):
    csv_path, xlsx_path = tmp_path / "m.csv", tmp_path / "m.xlsx"

    call_command("export_members", str(csv_path), "--no-progress", stdout=io.StringIO())
    call_command(
        "export_members", str(xlsx_path), "--no-progress", stdout=io.StringIO()
    )

    rows = csv_rows(csv_path.read_text(encoding="utf-8"))
    assert rows[0] == exports.MEMBER_HEADERS and rows[1][1] == anna.phone.as_e164
    assert xlsx_of(xlsx_path.read_bytes())[1][1] == anna.phone.as_e164


def test_export_visits_command_filters_by_business_days(tmp_path, anna, record_visit):
    record_visit(anna, paid_at=moscow(2026, 4, 1, 23, 30))  # before --since
    inside = record_visit(anna, paid_at=moscow(2026, 4, 2, 0, 10))
    record_visit(anna, paid_at=moscow(2026, 4, 4, 0, 5))  # after --until
    path = tmp_path / "v.csv"

    call_command(
        "export_visits",
        str(path),
        "--since=2026-04-02",
        "--until=2026-04-03",
        "--no-progress",
        stdout=io.StringIO(),
    )

    rows = csv_rows(path.read_text(encoding="utf-8"))
    assert [r[0] for r in rows[1:]] == [str(inside.pk)]


def test_export_command_refuses_an_unknown_extension(tmp_path):
    with pytest.raises(CommandError):
        call_command("export_members", str(tmp_path / "m.txt"))


def test_visit_rows_name_the_lines_specialist(anna, record_visit, service, location):
    olga = Specialist.objects.create(name="Olga", code="olga")
    olga.locations.add(location)
    record_visit(
        anna, lines=[services.VisitLineInput(service=service, specialist=olga)]
    )

    rows = csv_of(exports.VISIT_HEADERS, exports.visit_rows(Visit.objects.all()))

    assert rows[1][exports.VISIT_HEADERS.index("specialist")] == "olga"
