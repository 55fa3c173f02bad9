"""CSV and XLSX of a dashboard's table: a BOM and quoted text in CSV,
numbers kept as numbers (and formatted) in XLSX."""

import csv
import io
from datetime import date
from decimal import Decimal

from openpyxl import load_workbook

from analytics.exports import export_filename, table_csv, table_xlsx
from analytics.tables import Column, Filters, Table


def ltv_table() -> Table:
    return Table(
        key="by_tier",
        title="LTV by tier",
        columns=[
            Column("tier", "Уровень", "text"),
            Column("members", "Members", "count"),
            Column("revenue", "Revenue, ₽", "money"),
            Column("share", "Share", "percent"),
        ],
        rows=[
            {
                "tier": "Золото; VIP",
                "members": 12,
                "revenue": Decimal("4200.5"),
                "share": Decimal("0.125"),
            },
            {
                "tier": "=HYPERLINK()",
                "members": 3,
                "revenue": None,
                "share": Decimal("0.5"),
            },
        ],
    )


def test_csv_has_a_bom_the_labels_and_a_line_per_row():
    content = table_csv(ltv_table())

    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows == [
        ["Уровень", "Members", "Revenue, ₽", "Share"],
        ["Золото; VIP", "12", "4200.50", "0.125"],
        ["'=HYPERLINK()", "3", "", "0.5"],
    ]


def test_csv_quotes_every_text_so_a_semicolon_stays_in_its_cell():
    text = table_csv(ltv_table()).decode("utf-8-sig")

    assert '"Золото; VIP",12,4200.50,0.125' in text
    # Read with Excel's Russian separator, the label is still one cell.
    row = next(r for r in csv.reader(io.StringIO(text), delimiter=";") if "VIP" in r[0])
    assert row[0].startswith("Золото; VIP")


def test_xlsx_opens_back_with_numbers_as_numbers():
    book = load_workbook(io.BytesIO(table_xlsx(ltv_table())))
    sheet = book.active

    assert sheet.title == "LTV by tier"
    assert [c.value for c in sheet[1]] == ["Уровень", "Members", "Revenue, ₽", "Share"]
    assert sheet["A1"].font.bold
    assert sheet["A2"].value == "Золото; VIP"
    assert sheet["B2"].value == 12
    assert sheet["C2"].value == 4200.5
    assert sheet["C2"].number_format == "#,##0.00"
    assert sheet["D2"].value == 0.125
    assert sheet["D2"].number_format == "0.0%"
    assert sheet["A3"].value == "'=HYPERLINK()"
    assert sheet["C3"].value is None


def test_a_sheet_title_is_cut_to_what_excel_allows():
    table = ltv_table()
    table.title = "Revenue: by tier/by location [12 months] and more words"

    sheet = load_workbook(io.BytesIO(table_xlsx(table))).active

    assert len(sheet.title) <= 31
    assert not set(sheet.title) & set("[]:*?/\\")


def test_the_file_name_says_dashboard_table_and_dates():
    f = Filters(date_from=date(2026, 1, 1), date_to=date(2026, 1, 31))

    assert (
        export_filename("ltv", "by_tier", f, "xlsx")
        == "ltv-by_tier-2026-01-01-2026-01-31.xlsx"
    )
    assert export_filename("ltv", "по уровням", f, "csv").startswith("ltv-table-")
