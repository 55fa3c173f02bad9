"""Members from CSV and XLSX files: ``manage.py import_members FILE``.

**Reading** is ``imports.reading``'s: streamed CSV or XLSX.

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

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from imports.reading import (
    ImportSummary,
    Outcome,
    RowError,
    RowResult,
    bool_parse,
    columns_recognise,
    date_parse,
    headers_read,
    report_path,
    report_write,
)
from imports.reading import text as _text
from members import member_flow
from members.models import Location, Member
from members.services import member_register, member_update, phone_normalize

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
        raise RowError("phone", _("No phone."))
    try:
        phone = phone_normalize(raw_phone)
    except ValidationError:
        raise RowError(
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
        raise RowError("location", _("Unknown location “%(code)s”.") % {"code": code})
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
    except RowError as exc:
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
    headers, rows = headers_read(path)
    columns = columns_recognise(headers, HEADER_ALIASES, mapping)
    column_names = {name: _text(headers[index]) for name, index in columns.items()}
    cache: dict = {}
    # A real run commits row by row; a dry run nests the rows' transactions
    # (as savepoints) in one that is rolled back at the end.
    try:
        with transaction.atomic() if dry_run else contextlib.nullcontext():
            for line, cells in rows:
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
