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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.utils.translation import gettext as _

from imports.bulk import (
    ANALYZE_AFTER,
    NewMember,
    commit_unhurried,
    member_values_check,
    members_by_phone,
    members_create,
    tables_analyze,
    write_conflict,
)
from imports.lookups import Locations
from imports.phones import phone_fast
from imports.pipeline import import_run
from imports.reading import (
    ImportSummary,
    Outcome,
    RowError,
    RowResult,
    batched,
    bool_parse,
    columns_recognise,
    date_parse,
    headers_read,
    report_path,
    report_write,
)
from imports.reading import text as _text
from members import member_flow
from members.models import Location, Member, MemberPhone
from members.services import member_register, member_update

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
REQUIRED = ("phone",)
CHUNK_ROWS = 2_000
IGNORED = (
    "id",
    "status",
    "registered_at",
    "visits_count",
    "total_spent",
    "joined_via",
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
        phone = phone_fast(raw_phone)
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


class _Skip(Exception):
    pass


@transaction.atomic
def _row_apply(row: _Row, *, location: Location | None, actor) -> Outcome:
    """One row through the services, in its own transaction: the path of rows
    that change an existing member (or of new ones the bulk write could not
    take)."""
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
            joined_via=Member.JoinedVia.IMPORT,
            actor=actor,
        )
        return Outcome.CREATED
    if member.status != Member.Status.ACTIVE:
        raise _Skip(member.get_status_display())
    changes, consents = _fills(row, member)
    if not changes and not consents:
        return Outcome.UNCHANGED
    member_update(member=member, consents=consents, **changes)
    return Outcome.FILLED


def _fills(row: _Row, member) -> tuple[dict, dict]:
    """What ``row`` adds to ``member`` (a model or a ``values()`` dict): blanks
    only — what the member (or staff) already entered wins — and consents only
    turned on."""
    get = member.get if isinstance(member, dict) else member.__dict__.get
    changes = {
        name: value for name, value in row.profile.items() if value and not get(name)
    }
    consents = {
        channel: True
        for channel, granted in row.consents.items()
        if granted and not get(f"consent_{channel}")
    }
    return changes, consents


def _row_result(row: _Row, location: Location | None, actor) -> RowResult:
    try:
        try:
            return RowResult(_row_apply(row, location=location, actor=actor))
        except ValidationError as exc:
            if "phone_taken" not in _codes(exc):
                raise
            # Registered meanwhile (by the chunk beside this one): it is a
            # known member now.
            return RowResult(_row_apply(row, location=location, actor=actor))
    except _Skip as exc:
        return RowResult(
            Outcome.SKIPPED,
            "phone",
            _("The member is %(status)s: not touched.") % {"status": str(exc).lower()},
        )
    except ValidationError as exc:
        names = list(getattr(exc, "error_dict", {}) or [""])
        return RowResult(Outcome.REJECTED, names[0], " ".join(exc.messages))


def _codes(exc: ValidationError) -> set:
    return (
        {error.code for error in exc.error_list}
        if hasattr(exc, "error_list")
        else {error.code for errors in exc.error_dict.values() for error in errors}
    )


_EXISTING_VALUES = (
    "status", *PROFILE_FIELDS, "consent_sms", "consent_email", "consent_push",
)  # fmt: skip


class _Importer:
    """Imports the rows a chunk at a time: the chunk's phones looked up in one
    query, its new members written in bulk (one transaction for the chunk),
    the rows that change a known member through the services, one by one."""

    def __init__(self, *, columns, column_names, locations, actor, summary):
        self.columns = columns
        self.column_names = column_names
        self.locations = locations
        self.actor = actor
        self.summary = summary

    def parse(self, rows: list[tuple[int, list[Any]]]) -> tuple[list, list]:
        parsed: list[tuple[int, _Row, Location | None]] = []
        rejected = []
        for line, cells in rows:
            try:
                row = _row_parse(cells, self.columns)
                location = self.locations.find(row.location_code)
                row.profile["email"] = member_values_check(
                    first_name=row.profile["first_name"],
                    last_name=row.profile["last_name"],
                    email=row.profile["email"],
                    birthday=row.profile["birthday"],
                )
            except RowError as exc:
                rejected.append(
                    (line, RowResult(Outcome.REJECTED, exc.field, exc.reason))
                )
                continue
            parsed.append((line, row, location))
        return parsed, rejected

    def write(self, parsed: list[tuple[int, _Row, Location | None]]) -> list:
        results = []
        existing = members_by_phone(
            {row.phone for _, row, _ in parsed}, _EXISTING_VALUES
        )
        new: dict[str, tuple[int, _Row, Location | None]] = {}
        one_by_one = []
        for line, row, location in parsed:
            known = existing.get(row.phone)
            if known is None and row.phone not in new:
                new[row.phone] = (line, row, location)
            elif (
                known is not None
                and known["status"] == Member.Status.ACTIVE
                and (not any(_fills(row, known)))
            ):
                results.append((line, RowResult(Outcome.UNCHANGED)))
            else:  # a fill, a blocked member, a phone twice in the chunk
                one_by_one.append((line, row, location))
        if self._create(list(new.values())):
            results.extend(
                (line, RowResult(Outcome.CREATED)) for line, *_ in new.values()
            )
        else:
            # Someone registered one of these phones meanwhile: the slow path
            # sorts each row out on its own.
            one_by_one[:0] = new.values()
        for line, row, location in one_by_one:
            results.append((line, _row_result(row, location, self.actor)))
        return results

    def _create(self, rows) -> bool:
        people = [
            NewMember(
                phone=row.phone,
                first_name=row.profile["first_name"],
                last_name=row.profile["last_name"],
                email=row.profile["email"],
                birthday=row.profile["birthday"],
                preferences=row.profile["preferences"],
                location_id=location.pk if location else None,
                consents=frozenset(c for c, granted in row.consents.items() if granted),
            )
            for _line, row, location in rows
        ]
        # One order for every writer, so two chunks never deadlock.
        people.sort(key=lambda person: person.phone)
        try:
            with transaction.atomic():
                commit_unhurried()
                members_create(people)
        except (IntegrityError, OperationalError) as exc:
            if isinstance(exc, OperationalError) and not write_conflict(exc):
                raise
            return False
        return True


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
    columns = columns_recognise(headers, HEADER_ALIASES, mapping, REQUIRED)
    importer = _Importer(
        columns=columns,
        column_names={name: _text(headers[index]) for name, index in columns.items()},
        locations=Locations(location),
        actor=actor,
        summary=summary,
    )

    import_run(
        batched(rows, CHUNK_ROWS),
        path=path,
        parse=importer.parse,
        write=importer.write,
        summary=summary,
        column_names=importer.column_names,
        progress=progress,
        dry_run=dry_run,
    )
    if not dry_run and summary.counts[Outcome.CREATED] > ANALYZE_AFTER:
        tables_analyze(Member, MemberPhone)
    report_write(report_path(path), summary.problems)
    return summary


run = members_import
