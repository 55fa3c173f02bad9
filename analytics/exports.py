"""A dashboard's table as a CSV or XLSX file, with the filters it was asked.

CSV follows ``members.exports``: comma-separated by the ``csv`` module,
UTF-8 with a BOM so Excel reads Cyrillic labels. Every text cell is quoted
(``QUOTE_NONNUMERIC``), so a label with a comma or a semicolon stays one cell
whichever separator the spreadsheet assumes. Numbers are plain
(a dot, money with two decimals, percents as fractions 0..1) so scripts read
them back. XLSX keeps numbers as numbers: money formatted with two decimals,
percents in the percent format, counts as integers. Text cells are guarded
against formula injection (``members.exports.safe_text``).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font

from analytics.tables import Column, Filters, Table
from members.exports import BOM, safe_text

MONEY_FORMAT = "#,##0.00"
PERCENT_FORMAT = "0.0%"
COUNT_FORMAT = "#,##0"
NUMBER_FORMAT = "#,##0.00"
FORMATS = {
    "money": MONEY_FORMAT,
    "percent": PERCENT_FORMAT,
    "count": COUNT_FORMAT,
    "points": COUNT_FORMAT,
    "number": NUMBER_FORMAT,
}


def export_filename(dashboard: str, table: str, f: Filters, fmt: str) -> str:
    """``members-by_tier-2026-01-01-2026-01-31.csv``: the dashboard, the table
    and the period, in ASCII (safe in any browser's download)."""
    name = "-".join(
        [
            _slug(dashboard),
            _slug(table),
            f.date_from.isoformat(),
            f.date_to.isoformat(),
        ]
    )
    return f"{name}.{fmt}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "table"


def _header(table: Table) -> list[str]:
    return [safe_text(str(column.label)) for column in table.columns]


def _csv_cell(value, column: Column):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if column.unit == "money" and isinstance(value, Decimal | int):
        return Decimal(value).quantize(Decimal("0.01"))
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, str):
        return safe_text(value)
    return value


def table_csv(table: Table) -> bytes:
    """The table as CSV bytes: a BOM, the column labels, a line per row."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(_header(table))
    for row in table.rows:
        writer.writerow([_csv_cell(row.get(c.key), c) for c in table.columns])
    return (BOM + out.getvalue()).encode("utf-8")


def _xlsx_cell(value, column: Column):
    if value is None:
        return None
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, datetime):
        # Excel has no time zones: the local wall time, as the page shows it.
        return value.replace(tzinfo=None)
    if isinstance(value, Decimal):
        # openpyxl writes Decimal as a number; keep money to its kopecks.
        return value.quantize(Decimal("0.01")) if column.unit == "money" else value
    return value


def table_xlsx(table: Table, *, title: str = "") -> bytes:
    """The table as an XLSX workbook of one sheet (header in bold)."""
    book = Workbook()
    sheet = book.active
    # A sheet's title: at most 31 characters, none of []:*?/\.
    sheet.title = (
        re.sub(r"[\[\]:*?/\\]", " ", str(title or table.title))[:31] or "table"
    )
    sheet.append(_header(table))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table.rows:
        sheet.append([_xlsx_cell(row.get(c.key), c) for c in table.columns])
    for index, column in enumerate(table.columns, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = max(
            12, min(40, len(str(column.label)) + 4)
        )
        number_format = FORMATS.get(column.unit)
        if number_format is None:
            continue
        for (cell,) in sheet.iter_rows(
            min_row=2, min_col=index, max_col=index, max_row=sheet.max_row
        ):
            if isinstance(cell.value, int | float | Decimal):
                cell.number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
