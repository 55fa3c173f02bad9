"""Members from CSV and XLSX files: ``manage.py import_members FILE``.

**Reading.** Rows are streamed: the csv module over a text stream, openpyxl
``read_only`` for XLSX; never the whole file in memory. A CSV's encoding is
UTF-8 (with or without a BOM) when its first 64 KB decode as such, else cp1251
(Excel with a Russian locale); its delimiter (``,`` ``;`` or tab) is sniffed
from the first few KB, falling back to counting them in the header line.

**Headers** are recognised case-insensitively in English and Russian, and the
member export's own headers (``members.exports.MEMBER_HEADERS``) are accepted
so that an export re-imported changes nothing; a JSON mapping may name the
field of any other header.

**Merge.** A phone already known is the same member: blanks are filled, a
non-empty value is never overwritten, consents are only turned on and only from
an explicit consent column. Blocked and erased members are not touched. Each
row is its own transaction, so a bad row never leaves half a member and never
stops the import. A dry run does everything inside one transaction that is
rolled back, so it reports the very counts the real run would.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import enum
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from openpyxl import load_workbook

from members import member_flow
from members.models import Location, Member
from members.services import member_register, member_update, phone_normalize

SAMPLE_BYTES = 64 * 1024
SNIFF_CHARS = 8 * 1024
DELIMITERS = ",;\t"

# Fields the importer fills, and the export's columns it reads but ignores
# (ids and stats follow from the database, not from a file).
PROFILE_FIELDS = ("first_name", "last_name", "email", "birthday", "preferences")
FIELDS = (
    "phone",
    *PROFILE_FIELDS,
    "marketing_consent",
    "consent_sms",
    "consent_email",
    "consent_push",
    "location",
)
IGNORED = (
    "id",
    "status",
    "registered_at",
    "visits_count",
    "total_spent",
)

HEADER_ALIASES = {
    "телефон": "phone",
    "phone": "phone",
    "имя": "first_name",
    "first_name": "first_name",
    "фамилия": "last_name",
    "last_name": "last_name",
    "email": "email",
    "e-mail": "email",
    "дата рождения": "birthday",
    "birthday": "birthday",
    "комментарий": "preferences",
    "note": "preferences",
    "preferences": "preferences",
    "согласие на рассылку": "marketing_consent",
    "marketing_consent": "marketing_consent",
    "consent_sms": "consent_sms",
    "consent_email": "consent_email",
    "consent_push": "consent_push",
    "location": "location",
    "филиал": "location",
    **{name: "" for name in IGNORED},
}

_YES = {"true", "yes", "y", "1", "да", "д", "+", "on"}
_NO = {"false", "no", "n", "0", "нет", "н", "-", "off", ""}
_DMY = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


class ImportFileError(Exception):
    """The file cannot be imported at all (no phone column, bad mapping…)."""


class Outcome(enum.StrEnum):
    CREATED = "created"
    FILLED = "filled"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class RowResult:
    outcome: Outcome
    column: str = ""
    reason: str = ""


@dataclass
class ImportSummary:
    counts: dict[Outcome, int] = field(
        default_factory=lambda: dict.fromkeys(Outcome, 0)
    )
    problems: list[tuple[int, str, str]] = field(default_factory=list)


class _RowError(Exception):
    def __init__(self, field_name: str, reason: str):
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


# --- reading -----------------------------------------------------------------


def header_key(header: Any) -> str:
    return " ".join(str(header or "").split()).lower()


def mapping_load(path: str | Path) -> dict[str, str]:
    """A ``{"header": "field"}`` JSON mapping, keys normalised like headers."""
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    if not isinstance(raw, dict):
        raise ImportFileError(_("The mapping must be a JSON object."))
    mapping = {}
    for header, name in raw.items():
        if name not in FIELDS and name != "":
            raise ImportFileError(
                _("Unknown field “%(field)s” in the mapping.") % {"field": name}
            )
        mapping[header_key(header)] = name
    return mapping


def columns_recognise(
    headers: list[Any], mapping: dict[str, str] | None = None
) -> dict[str, int]:
    """``{field: column index}`` for the headers a field is known for."""
    aliases = {**HEADER_ALIASES, **(mapping or {})}
    columns: dict[str, int] = {}
    for index, header in enumerate(headers):
        name = aliases.get(header_key(header))
        if name and name not in columns:
            columns[name] = index
    if "phone" not in columns:
        raise ImportFileError(_("The file has no phone column."))
    return columns


def encoding_detect(sample: bytes) -> str:
    """``utf-8-sig`` when ``sample`` decodes as UTF-8 (a character cut at the
    end of the sample aside), else ``cp1251``."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        decoder.decode(sample, final=False)
    except UnicodeDecodeError:
        return "cp1251"
    return "utf-8-sig"


def delimiter_detect(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first_line = sample.split("\n", 1)[0]
        return max(DELIMITERS, key=first_line.count)


def _csv_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    with open(path, "rb") as fh:
        encoding = encoding_detect(fh.read(SAMPLE_BYTES))
    with open(path, encoding=encoding, newline="") as fh:
        delimiter = delimiter_detect(fh.read(SNIFF_CHARS))
        fh.seek(0)
        reader = csv.reader(fh, delimiter=delimiter)
        for row in reader:
            yield reader.line_num, row


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    book = load_workbook(path, read_only=True, data_only=True)
    try:
        for line, row in enumerate(book.worksheets[0].iter_rows(values_only=True), 1):
            yield line, list(row)
    finally:
        book.close()


def rows_read(path: str | Path) -> Iterator[tuple[int, list[Any]]]:
    """``(line, cells)`` of the file, the header first, streamed."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path)
    if suffix == ".xlsx":
        return _xlsx_rows(path)
    raise ImportFileError(_("The file must end in .csv or .xlsx."))


# --- values ------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an XLSX phone typed as a number
    return str(value).strip()


def date_parse(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if not text:
        return None
    match = _DMY.match(text)
    try:
        if match:
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
        return date.fromisoformat(text[:10])
    except ValueError:
        raise _RowError(
            "birthday",
            _("Not a date (DD.MM.YYYY or YYYY-MM-DD): “%(value)s”.") % {"value": text},
        ) from None


def bool_parse(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise _RowError(name, _("Not a yes or no: “%(value)s”.") % {"value": text})


# --- rows --------------------------------------------------------------------


@dataclass
class _Row:
    phone: str
    profile: dict[str, Any]
    consents: dict[str, bool]
    location_code: str


def _row_parse(cells: list[Any], columns: dict[str, int]) -> _Row:
    def cell(name: str) -> Any:
        index = columns.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    raw_phone = _text(cell("phone"))
    if not raw_phone:
        raise _RowError("phone", _("No phone."))
    try:
        phone = phone_normalize(raw_phone)
    except ValidationError:
        raise _RowError(
            "phone", _("Not a valid phone: “%(value)s”.") % {"value": raw_phone}
        ) from None
    profile: dict[str, Any] = {
        name: _text(cell(name))
        for name in ("first_name", "last_name", "email", "preferences")
    }
    profile["birthday"] = date_parse(cell("birthday"))
    consents: dict[str, bool] = {}
    if "marketing_consent" in columns:
        granted = bool_parse("marketing_consent", cell("marketing_consent"))
        consents.update(sms=granted, email=granted)
    for channel in ("sms", "email", "push"):
        if f"consent_{channel}" in columns:
            granted = bool_parse(f"consent_{channel}", cell(f"consent_{channel}"))
            consents[channel] = consents.get(channel, False) or granted
    return _Row(phone, profile, consents, _text(cell("location")))


def _location(code: str, default: Location | None, cache: dict) -> Location | None:
    if not code:
        return default
    if code not in cache:
        cache[code] = Location.objects.filter(code=code).first()
    if cache[code] is None:
        raise _RowError("location", _("Unknown location “%(code)s”.") % {"code": code})
    return cache[code]


class _Skip(Exception):
    pass


@transaction.atomic
def _row_apply(row: _Row, *, location: Location | None, actor) -> Outcome:
    member = Member.objects.filter(phone=row.phone).first()
    if member is None:
        member_register(
            phone=row.phone,
            first_name=row.profile["first_name"],
            last_name=row.profile["last_name"],
            email=row.profile["email"],
            birthday=row.profile["birthday"],
            preferences=row.profile["preferences"],
            registration_location=location,
            consents={c: True for c, granted in row.consents.items() if granted},
            channel=member_flow.Channel.ADMIN,
            actor=actor,
        )
        return Outcome.CREATED
    if member.status != Member.Status.ACTIVE:
        raise _Skip(member.get_status_display())
    # Fill blanks only: what the member (or staff) already entered wins.
    changes = {
        name: value
        for name, value in row.profile.items()
        if value and not getattr(member, name)
    }
    consents = {
        channel: True
        for channel, granted in row.consents.items()
        if granted and not getattr(member, f"consent_{channel}")
    }
    if not changes and not consents:
        return Outcome.UNCHANGED
    member_update(member=member, consents=consents, **changes)
    return Outcome.FILLED


def row_import(
    cells: list[Any],
    columns: dict[str, int],
    *,
    location: Location | None = None,
    actor=None,
    location_cache: dict | None = None,
) -> RowResult:
    """Import one data row in its own transaction; never raises for bad data."""
    try:
        row = _row_parse(cells, columns)
        row_location = _location(
            row.location_code,
            location,
            location_cache if location_cache is not None else {},
        )
        outcome = _row_apply(row, location=row_location, actor=actor)
    except _RowError as exc:
        return RowResult(Outcome.REJECTED, exc.field, exc.reason)
    except _Skip as exc:
        return RowResult(
            Outcome.SKIPPED,
            "phone",
            _("The member is %(status)s: not touched.") % {"status": str(exc).lower()},
        )
    except ValidationError as exc:
        names = list(getattr(exc, "error_dict", {}) or [""])
        return RowResult(Outcome.REJECTED, names[0], " ".join(exc.messages))
    return RowResult(outcome)


class _DryRun(Exception):
    pass


def members_import(
    path: str | Path,
    *,
    dry_run: bool = False,
    location: Location | None = None,
    mapping: dict[str, str] | None = None,
    actor=None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import the members in ``path`` and write ``<path>.report.csv`` with the
    rejected and skipped rows (line, column, reason). ``dry_run`` rolls every
    change back and still counts and reports."""
    summary = ImportSummary()
    rows = rows_read(path)
    try:
        _, headers = next(rows)
    except StopIteration:
        raise ImportFileError(_("The file is empty.")) from None
    columns = columns_recognise(headers, mapping)
    column_names = {name: _text(headers[index]) for name, index in columns.items()}
    cache: dict = {}
    # A real run commits row by row; a dry run nests the rows' transactions
    # (as savepoints) in one that is rolled back at the end.
    try:
        with transaction.atomic() if dry_run else contextlib.nullcontext():
            for line, cells in rows:
                if not any(_text(cell) for cell in cells):
                    continue  # a blank line, as spreadsheets leave at the end
                result = row_import(
                    cells, columns, location=location, actor=actor, location_cache=cache
                )
                summary.counts[result.outcome] += 1
                if result.outcome in (Outcome.REJECTED, Outcome.SKIPPED):
                    column = column_names.get(result.column, result.column)
                    summary.problems.append((line, column, result.reason))
                if progress:
                    progress(1)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    report_write(report_path(path), summary.problems)
    return summary


def report_path(path: str | Path) -> Path:
    return Path(f"{path}.report.csv")


def report_write(path: Path, problems: list[tuple[int, str, str]]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "column", "reason"])
        writer.writerows(problems)
