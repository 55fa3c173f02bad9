"""Members and visits as rows for CSV and XLSX files, streamed.

The rows are plain functions over a queryset (``member_rows``, ``visit_rows``)
and the writers turn any rows into file content (``csv_chunks``,
``xlsx_write``); the admin actions and the ``export_members`` /
``export_visits`` commands only pick the queryset and the format.

**Round trip.** The headers are the field names an import recognises
(``phone``, ``first_name``, ``paid_at``, ``service``, ``quantity``,
``amount``, ``location``, ``external_id``…) and every value is written as an
import reads it back: phones in E.164, codes rather than names for locations
and services, dates and times in ISO 8601 with the business time zone's offset,
money with a dot and two decimals, booleans as ``true``/``false`` in CSV (real
booleans in XLSX). An export of members re-imported must change nothing
(``imports.members`` reads these columns),
so keep the columns in this shape.

**Memory.** Rows come from ``values()`` over ``iterator(chunk_size=2000)``: no
model instances and at most one chunk in memory, whatever the table's size.
CSV is streamed as it is produced; XLSX is a zip that cannot be, so it is
written (openpyxl ``write_only``) to a spooled temporary file that moves to
disk past a few megabytes and is then streamed from there.

**CSV dialect.** Comma-separated (RFC 4180), UTF-8 with a BOM. The comma is
what importers, pandas and the databases' ``COPY`` expect by default; the BOM
makes Excel read Cyrillic names right. Excel with a Russian locale splits a
double-clicked CSV on ``;``, so for Excel users the XLSX is the format to pick.

**Formula injection.** A text cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a leading apostrophe, so a spreadsheet
shows it as text instead of running it (and openpyxl does not write it as a
formula). Numbers (amounts, counts) are written as numbers and left alone: a
refund of ``-50.00`` is a number, not a formula. Phones are the exception
among texts: a phone in E.164 (``+`` and digits only, or the analyst's masked
``+7916•••••67``) cannot carry a formula and stays usable as it is; any other
phone value (an erased member's placeholder) is neutralised like any text.
"""

from __future__ import annotations

import csv
import re
import tempfile
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.db.models import QuerySet
from openpyxl import Workbook

from members.admin_text import MASK
from members.models import Member, Visit, VisitLine
from members.privacy import phone_text

CHUNK_SIZE = 2000
BOM = "\ufeff"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PHONE = re.compile(rf"^\+[0-9{MASK}]{{1,15}}$")

MEMBER_HEADERS = [
    "id",
    "phone",
    "first_name",
    "last_name",
    "email",
    "birthday",
    "status",
    "registered_at",
    "location",
    "visits_count",
    "total_spent",
    "consent_sms",
    "consent_email",
    "consent_push",
    "joined_via",
]

VISIT_HEADERS = [
    "visit_id",
    "paid_at",
    "location",
    "phone",
    "service",
    "service_name",
    "specialist",
    "quantity",
    "price",
    "list_price",
    "amount",
    "visit_total",
    "amount_paid",
    "status",
    "source",
    "external_id",
    "payment_method",
]

_MEMBER_VALUES = [
    "id",
    "phone",
    "first_name",
    "last_name",
    "email",
    "birthday",
    "status",
    "registered_at",
    "registration_location__code",
    "visits_count",
    "total_spent",
    "consent_sms",
    "consent_email",
    "consent_push",
    "joined_via",
]

_VISIT_VALUES = [
    "visit_id",
    "visit__paid_at",
    "visit__location__code",
    "visit__member__phone",
    "service__code",
    "service__name",
    "specialist__code",
    "quantity",
    "price",
    "list_price",
    "visit__total",
    "visit__amount_paid",
    "visit__status",
    "visit__source",
    "visit__external_id",
    "visit__payment_method",
]


def _business_tz() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _iso(moment: datetime | date | None, tz: zoneinfo.ZoneInfo) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return moment.astimezone(tz).isoformat()
    return moment.isoformat()


def phone_masked(phone: str) -> str:
    """``+7916•••••67``: the country and area code and the last two digits, in
    one token (no spaces), so a masked column still tells members apart."""
    if not _PHONE.match(phone) or len(phone) < 8:
        return phone
    return phone[:5] + MASK * (len(phone) - 7) + phone[-2:]


def member_rows(queryset: QuerySet[Member]) -> Iterator[list]:
    """``MEMBER_HEADERS`` rows of the members in ``queryset``, in id order."""
    tz = _business_tz()
    rows = queryset.order_by("pk").values_list(*_MEMBER_VALUES)
    for row in rows.iterator(chunk_size=CHUNK_SIZE):
        row = list(row)
        row[1] = phone_text(row[1])
        row[5] = _iso(row[5], tz)
        row[7] = _iso(row[7], tz)
        yield row


def visit_rows(
    queryset: QuerySet[Visit], *, mask_phones: bool = False
) -> Iterator[list]:
    """``VISIT_HEADERS`` rows, one per line of the visits in ``queryset``, in
    visit and line order. ``mask_phones`` for those who may not see contacts
    (``members.view_member_contacts``): the member's phone is masked."""
    tz = _business_tz()
    lines = (
        VisitLine.objects.filter(visit__in=queryset.values("pk"))
        .order_by("visit_id", "pk")
        .values_list(*_VISIT_VALUES)
    )
    for row in lines.iterator(chunk_size=CHUNK_SIZE):
        (visit_id, paid_at, location, phone, service, name, specialist, quantity,
         price, list_price, total, paid, status, source, external_id,
         method) = row  # fmt: skip
        phone = phone_text(phone)
        yield [
            visit_id,
            _iso(paid_at, tz),
            location,
            phone_masked(phone) if mask_phones else phone,
            service,
            name,
            specialist,
            quantity,
            price,
            list_price,
            price * quantity,
            total,
            paid,
            status,
            source,
            external_id,
            method,
        ]


# --- cells ------------------------------------------------------------------


def safe_text(value: str, *, phone: bool = False) -> str:
    """A text cell that a spreadsheet shows as text, never runs as a formula."""
    if phone and _PHONE.match(value):
        return value
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _cells(headers: list[str], rows: Iterable[list]) -> Iterator[list]:
    """Rows with their text cells neutralised; numbers and booleans as they are."""
    phone_at = headers.index("phone")
    for row in rows:
        yield [
            safe_text(v, phone=i == phone_at) if isinstance(v, str) else v
            for i, v in enumerate(row)
        ]


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


class _Echo:
    """A file-like object whose ``write`` hands the line back (Django's
    streaming CSV recipe)."""

    def write(self, value: str) -> str:
        return value


def csv_chunks(headers: list[str], rows: Iterable[list]) -> Iterator[str]:
    """The CSV text, a BOM and then one line at a time."""
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow(headers)
    for row in _cells(headers, rows):
        yield writer.writerow([_csv_value(v) for v in row])


def csv_write(
    out: IO[str],
    headers: list[str],
    rows: Iterable[list],
    *,
    progress: Callable[[int], None] | None = None,
) -> None:
    chunks = csv_chunks(headers, rows)
    out.write(next(chunks))  # the BOM and the headers
    for chunk in chunks:
        out.write(chunk)
        if progress:
            progress(1)


def xlsx_write(
    out: IO[bytes],
    headers: list[str],
    rows: Iterable[list],
    *,
    title: str = "export",
    progress: Callable[[int], None] | None = None,
) -> None:
    """An XLSX workbook of one sheet into ``out``, row by row (``write_only``:
    openpyxl keeps no rows in memory)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title)
    sheet.append(headers)
    for row in _cells(headers, rows):
        sheet.append(row)
        if progress:
            progress(1)
    book.save(out)


def xlsx_file(headers: list[str], rows: Iterable[list], *, title: str) -> IO[bytes]:
    """The workbook in a spooled temporary file, rewound: in memory up to
    8 MB, on disk past it. Closing it removes it."""
    # Not a ``with``: the caller owns the file and closes it once it is sent.
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    xlsx_write(out, headers, rows, title=title)
    out.seek(0)
    return out


def file_write(
    path: str,
    headers: list[str],
    rows: Iterable[list],
    *,
    title: str,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Rows into a ``.csv`` or ``.xlsx`` file, by the path's extension."""
    if path.lower().endswith(".xlsx"):
        with open(path, "wb") as out:
            xlsx_write(out, headers, rows, title=title, progress=progress)
    elif path.lower().endswith(".csv"):
        with open(path, "w", encoding="utf-8", newline="") as out:
            csv_write(out, headers, rows, progress=progress)
    else:
        raise ValueError(path)
