"""Reading the files an import is fed: CSV or XLSX, streamed, headers recognised.

**Streaming.** The csv module over a text stream, openpyxl ``read_only`` for
XLSX: never the whole file in memory. A CSV's encoding is UTF-8 (with or
without a BOM) when its first 64 KB decode as such, else cp1251 (Excel with a
Russian locale); its delimiter (``,`` ``;`` or tab) is sniffed from the first
few KB, falling back to counting them in the header line.

**Headers** are recognised case-insensitively (spaces collapsed) through each
importer's aliases; a JSON mapping ``{"header": "field"}`` names the field of
any other header ("" ignores a column).

**Results** are shared by the importers: an ``Outcome`` per row, a summary of
counts, and the problems (line, column, reason) written next to the file.
"""

from __future__ import annotations

import codecs
import csv
import enum
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _
from openpyxl import load_workbook

SAMPLE_BYTES = 64 * 1024
SNIFF_CHARS = 8 * 1024
DELIMITERS = ",;\t"

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
    # What the file named that the database did not have (visits: services,
    # specialists), created by the real run — listed by the dry run.
    unknown: dict[str, list[str]] = field(default_factory=dict)
    # What the run wrote besides the rows' own outcomes (visits: the visits,
    # members, services and specialists created).
    created: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("visits", "members", "services", "specialists"), 0
        )
    )


class RowError(Exception):
    """One row's bad value: the field and a reason staff can act on."""

    def __init__(self, field_name: str, reason: str):
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


# --- reading -----------------------------------------------------------------


def header_key(header: Any) -> str:
    return " ".join(str(header or "").split()).lower()


def mapping_load(path: str | Path, fields: Iterable[str]) -> dict[str, str]:
    """A ``{"header": "field"}`` JSON mapping, keys normalised like headers."""
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    return mapping_check(raw, fields)


def mapping_check(raw: Any, fields: Iterable[str]) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ImportFileError(_("The mapping must be a JSON object."))
    fields = set(fields)
    mapping = {}
    for header, name in raw.items():
        if name not in fields and name != "":
            raise ImportFileError(
                _("Unknown field “%(field)s” in the mapping.") % {"field": name}
            )
        mapping[header_key(header)] = name
    return mapping


def columns_recognise(
    headers: list[Any],
    aliases: dict[str, str],
    mapping: dict[str, str] | None = None,
    required: Iterable[str] = ("phone",),
) -> dict[str, int]:
    """``{field: column index}`` for the headers a field is known for."""
    aliases = {**aliases, **(mapping or {})}
    columns: dict[str, int] = {}
    for index, header in enumerate(headers):
        name = aliases.get(header_key(header))
        if name and name not in columns:
            columns[name] = index
    for name in required:
        if name not in columns:
            raise ImportFileError(
                _("The file has no “%(field)s” column.") % {"field": name}
            )
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


def headers_read(path: str | Path) -> tuple[list[Any], Iterator[tuple[int, list[Any]]]]:
    """The header row and the data rows after it (blank rows left out)."""
    rows = rows_read(path)
    try:
        _, headers = next(rows)
    except StopIteration:
        raise ImportFileError(_("The file is empty.")) from None
    return headers, ((line, cells) for line, cells in rows if _filled(cells))


def _filled(cells: list[Any]) -> bool:
    """Not a blank row (as spreadsheets leave at the end): some cell holds
    something other than spaces."""
    for cell in cells:
        if (
            cell is not None
            and cell != ""
            and (not isinstance(cell, str) or not cell.isspace())
        ):
            return True
    return False


def batched(rows: Iterable, size: int) -> Iterator[list]:
    """Lists of ``size`` items (the last one shorter): ``itertools.batched``
    of Python 3.12."""
    rows = iter(rows)
    while chunk := list(islice(rows, size)):
        yield chunk


# --- values ------------------------------------------------------------------


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an XLSX phone typed as a number
    return str(value).strip()


def date_parse(value: Any, field_name: str = "birthday") -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = text(value)
    if not raw:
        return None
    match = _DMY.match(raw)
    try:
        if match:
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise RowError(
            field_name,
            _("Not a date (DD.MM.YYYY or YYYY-MM-DD): “%(value)s”.") % {"value": raw},
        ) from None


def bool_parse(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raw = text(value).lower()
    if raw in _YES:
        return True
    if raw in _NO:
        return False
    raise RowError(name, _("Not a yes or no: “%(value)s”.") % {"value": raw})


def report_path(path: str | Path) -> Path:
    return Path(f"{path}.report.csv")


def report_write(path: Path, problems: list[tuple[int, str, str]]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "column", "reason"])
        writer.writerows(problems)
