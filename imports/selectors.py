"""Reads of the import page: a file's columns and first rows, a run's progress
and its report. None of these writes; ``imports.services`` does.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import load_workbook

from imports import reading
from imports.kinds import KINDS, Kind
from imports.models import ImportJob

EXTENSIONS = (".csv", ".xlsx")
PREVIEW_ROWS = 10
PROGRESS_FILE = "progress.json"
# A run's own copy of the importer's report, so the real run's report does not
# replace the dry run's.
REPORT_NAMES = {True: "report-dry-run.csv", False: "report.csv"}


# --- Files --------------------------------------------------------------------


# What staff read for a field in the column selects. The importers name their
# fields only; a field missing here reads as its name in words ("paid_at" →
# "Paid at") until it gets a label.
FIELD_LABELS = {
    "phone": gettext_lazy("Phone"),
    "first_name": gettext_lazy("First name"),
    "last_name": gettext_lazy("Last name"),
    "email": gettext_lazy("Email"),
    "birthday": gettext_lazy("Birthday"),
    "preferences": gettext_lazy("Preferences (note)"),
    "marketing_consent": gettext_lazy("Marketing consent"),
    "consent_sms": gettext_lazy("Consent to SMS"),
    "consent_email": gettext_lazy("Consent to email"),
    "consent_push": gettext_lazy("Consent to push"),
    "location": gettext_lazy("Location (code)"),
    "paid_at": gettext_lazy("Date of the visit"),
    "time": gettext_lazy("Time of the visit"),
    "service": gettext_lazy("Service"),
    "specialist": gettext_lazy("Specialist"),
    "amount": gettext_lazy("Amount"),
    "price": gettext_lazy("Price"),
    "quantity": gettext_lazy("Quantity"),
    "external_id": gettext_lazy("Booking id"),
    "status": gettext_lazy("Status"),
    "payment_method": gettext_lazy("Payment method"),
}


def field_label(name: str) -> str:
    return str(FIELD_LABELS.get(name) or name.replace("_", " ").capitalize())


def kind_available(name: str) -> bool:
    """Whether the kind's importer can be loaded (one may still be on its way)."""
    kind = KINDS.get(name)
    if kind is None:
        return False
    try:
        kind.fields  # noqa: B018 - imports the importer's module
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class FilePreview:
    headers: list[str]
    rows: list[list[str]]  # the first data rows, as text, as wide as the headers


def file_error(exc: Exception) -> ValidationError:
    if isinstance(exc, reading.ImportFileError):
        return ValidationError(str(exc), code="import_file")
    # A broken XLSX (not a zip, no worksheet) or an unreadable file.
    return ValidationError(
        _("The file cannot be read as CSV or XLSX: %(error)s") % {"error": exc},
        code="unreadable",
    )


def file_preview(path: Path, *, rows: int = PREVIEW_ROWS) -> FilePreview:
    """The header row and the first ``rows`` data rows; raises ValidationError."""
    try:
        headers, data = reading.headers_read(path)
        preview = []
        for _line, cells in data:
            preview.append(cells)
            if len(preview) >= rows:
                break
        data.close()  # and the file (an XLSX workbook stays open until then)
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
        raise file_error(exc) from exc
    width = max([len(headers), *(len(cells) for cells in preview)], default=0)
    return FilePreview(
        headers=[reading.text(h) for h in headers] + [""] * (width - len(headers)),
        rows=[
            [reading.text(c) for c in cells] + [""] * (width - len(cells))
            for cells in preview
        ],
    )


def rows_estimate(path: Path) -> int | None:
    """About how many data rows the file has, cheaply (for the progress bar)."""
    try:
        if path.suffix.lower() == ".xlsx":
            book = load_workbook(path, read_only=True)
            try:
                max_row = book.worksheets[0].max_row
            finally:
                book.close()
            return max(max_row - 1, 0) if max_row else None
        size = path.stat().st_size
        with open(path, "rb") as fh:
            sample = fh.read(reading.SAMPLE_BYTES)
        lines = sample.count(b"\n")
        if len(sample) >= size:  # the whole file was read
            return max(lines - (0 if sample.endswith(b"\n") else -1) - 1, 0)
        return max(round(size / (len(sample) / max(lines, 1))) - 1, 0)
    except Exception:  # noqa: BLE001 - an estimate is optional
        return None


def mapping_detect(*, kind: Kind, headers: list[str]) -> dict[str, str]:
    """``{normalised header: field or ""}`` as the kind's aliases read them."""
    mapping: dict[str, str] = {}
    for header in headers:
        key = reading.header_key(header)
        if key in mapping:
            continue  # the same header twice: the first one is read
        field = kind.aliases.get(key, "")
        mapping[key] = "" if field in mapping.values() else field
    return mapping


def columns_check(*, job: ImportJob, mapping: dict[str, str]) -> dict[str, int]:
    """``{field: column}`` the run will use; ValidationError when it cannot run
    (a required field without a column, a field given to two columns)."""
    kind = KINDS[job.kind]
    try:
        mapping = reading.mapping_check(mapping, kind.fields)
        headers, _rows = reading.headers_read(job.path)
        columns = reading.columns_recognise(
            headers, kind.aliases, mapping, kind.required
        )
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
        raise file_error(exc) from exc
    # As columns_recognise reads them: the mapping first, then the aliases. The
    # same header twice is one key, read once (its first column): no clash.
    fields = {**kind.aliases, **mapping}
    used: dict[str, tuple[str, str]] = {}  # field -> (header key, header)
    for header in headers:
        key = reading.header_key(header)
        field = fields.get(key, "")
        if field and used.get(field, (key,))[0] != key:
            raise ValidationError(
                _("Two columns are read as “%(field)s”: “%(first)s” and “%(second)s”.")
                % {
                    "field": field_label(field),
                    "first": used[field][1],
                    "second": reading.text(header),
                },
                code="duplicate_field",
            )
        if field:
            used.setdefault(field, (key, reading.text(header)))
    return columns


# --- Progress -----------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    done: int
    at: datetime | None  # when the worker last wrote it


def progress_read(*, job: ImportJob) -> Progress:
    try:
        data = json.loads((job.folder / PROGRESS_FILE).read_text())
        at = datetime.fromtimestamp(
            float(data["at"]), tz=timezone.get_current_timezone()
        )
        return Progress(done=int(data["done"]), at=at)
    except (OSError, ValueError, KeyError, TypeError):
        return Progress(done=0, at=None)


def job_stalled(*, job: ImportJob, now: datetime | None = None) -> bool:
    """A run under way whose progress has not moved for IMPORTS_STALL_MINUTES
    (nor was it asked for or started in that time)."""
    if not job.is_working:
        return False
    now = now or timezone.now()
    moments = [job.queued_at, job.started_at, progress_read(job=job).at]
    last = max((m for m in moments if m is not None), default=job.created_at)
    return now - last > timedelta(minutes=settings.IMPORTS_STALL_MINUTES)


# --- Reports ------------------------------------------------------------------


def report_file(*, job: ImportJob, dry_run: bool) -> Path | None:
    path = job.folder / REPORT_NAMES[dry_run]
    return path if path.is_file() else None


def report_rows(*, job: ImportJob, dry_run: bool, limit: int = 50) -> Iterator[list]:
    """The first ``limit`` problems of a run's report: (line, column, reason)."""
    path = report_file(job=job, dry_run=dry_run)
    if path is None:
        return
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for index, row in enumerate(reader):
            if index >= limit:
                return
            yield row
