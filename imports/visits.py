"""Visit history from CSV and XLSX files: ``manage.py import_visits FILE``.

**A row is a visit line**: a phone, a time, a service, an amount (the line's,
price × quantity), optionally a quantity, a specialist, a location and the
booking's id in the old system. Rows with the same booking id (at the same
location) are one visit of several lines; they must be next to each other in
the file, as every booking system exports them. A row without an id is a
visit of its own.

**Idempotent.** An imported visit keeps ``source = import`` and an
``external_id`` of ``<location code>:<booking id>``, or, without an id,
``#`` and a hash of the phone, time, service and amount. The unique key on
``(source, external_id)`` makes a second import of the same file change
nothing (its rows count as unchanged); the same id with other content is
rejected, never merged.

**What it creates.** A phone that is not a member yet becomes one (the name
from the file if it has one, no consents). A service or a specialist the
database does not know — by code or by name, case aside, or through the
mapping file's ``services`` / ``specialists`` — is created inactive, so it
keeps its history without showing at the till; the dry run lists them.

**No points here.** Imported visits are history: they add to the members'
visit stats but earn nothing by themselves. ``manage.py points_backfill``
then replays them into a points history for the members without one.

A bad row never stops the import; a booking with a bad line is rejected whole,
never half-imported. Chunks of rows are written in one transaction each (new
members, visits, lines, stats), in bulk.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from imports.bulk import (
    ANALYZE_AFTER,
    LINE_COLUMNS,
    VISIT_COLUMNS,
    NewMember,
    commit_unhurried,
    copy_escape,
    copy_text,
    imported_visits,
    members_by_phone,
    members_create,
    rows_copy,
    stats_add,
    tables_analyze,
    write_conflict,
)
from imports.keys import keys_aside_wanted, keys_restore_abandoned, keys_set_aside
from imports.lookups import Locations
from imports.pipeline import import_run
from imports.reading import (
    ImportFileError,
    ImportSummary,
    Outcome,
    RowError,
    RowResult,
    columns_recognise,
    headers_read,
    mapping_check,
    report_path,
    report_write,
)
from imports.reading import text as _text
from imports.visit_names import Catalogue
from imports.visit_rows import (
    MAX_EXTERNAL_ID,
    Booking,
    Values,
    booking_chunks,
    line_parse,
    payment_method_parse,
)
from members.bulk import ids_reserve
from members.models import Location, Member, MemberPhone, Visit, VisitLine

FIELDS = (
    "phone",
    "paid_at",
    "time",
    "service",
    "specialist",
    "amount",
    "price",
    "quantity",
    "location",
    "external_id",
    "first_name",
    "last_name",
    "status",
    "payment_method",
)
REQUIRED = ("phone", "paid_at", "service")
CHUNK_ROWS = 5_000
# The keys a large load sets aside (imports.keys): every visit and line has them.
FOREIGN_KEYS = (
    (Visit, "member"),
    (Visit, "location"),
    (VisitLine, "visit"),
    (VisitLine, "service"),
    (VisitLine, "specialist"),
)

HEADER_ALIASES = {
    "телефон": "phone",
    "телефон клиента": "phone",
    "phone": "phone",
    "дата визита": "paid_at",
    "дата": "paid_at",
    "дата и время": "paid_at",
    "paid_at": "paid_at",
    "date": "paid_at",
    "время": "time",
    "time": "time",
    "услуга": "service",
    "название услуги": "service",
    "service": "service",
    "service_name": "service",
    "сотрудник": "specialist",
    "мастер": "specialist",
    "специалист": "specialist",
    "specialist": "specialist",
    "сумма": "amount",
    "стоимость": "amount",
    "amount": "amount",
    "цена": "price",
    "price": "price",
    "количество": "quantity",
    "кол-во": "quantity",
    "quantity": "quantity",
    "филиал": "location",
    "location": "location",
    "id записи": "external_id",
    "номер записи": "external_id",
    "external_id": "external_id",
    "имя": "first_name",
    "first_name": "first_name",
    "клиент": "first_name",
    "фамилия": "last_name",
    "last_name": "last_name",
    "статус": "status",
    "status": "status",
    "способ оплаты": "payment_method",
    "payment_method": "payment_method",
    # The visit export's other columns: facts that follow from the lines.
    **{
        name: ""
        for name in ("visit_id", "list_price", "visit_total", "amount_paid", "source")
    },
}


CENT = Decimal("0.01")
NULL = "\\N"  # in COPY's text format
_CREATED = RowResult(Outcome.CREATED)
_UNCHANGED = RowResult(Outcome.UNCHANGED)


class _Importer:
    def __init__(self, *, columns, column_names, locations, catalogue, summary):
        self.values = Values(columns)
        self.columns = columns
        self.column_names = column_names
        self.locations = locations
        self.catalogue = catalogue
        self.summary = summary

    # -- on the reading thread ------------------------------------------------

    def parse(self, rows: list[tuple[int, list[Any]]]) -> tuple[list[Booking], list]:
        results: list[tuple[int, RowResult]] = []
        visits: dict[tuple, Booking] = {}
        refused: dict[tuple, int] = {}  # booking → the first bad line
        order: list[tuple] = []
        pending: dict[tuple, list[int]] = defaultdict(list)
        for line, raw_cells in rows:
            cells = self.values.pad(raw_cells)
            booking = _text(self.values.cell(cells, "external_id"))
            raw_location = _text(self.values.cell(cells, "location"))
            key = (raw_location, booking) if booking else ("#", line)
            if key in refused:
                results.append((line, self._along(refused[key])))
                continue
            try:
                if len(booking) > MAX_EXTERNAL_ID:
                    raise RowError(
                        "external_id",
                        _("Longer than %(max)d characters.") % {"max": MAX_EXTERNAL_ID},
                    )
                if not booking.isprintable():
                    raise RowError(
                        "external_id", _("A booking id cannot hold control characters.")
                    )
                phone = self.values.phone(cells)
                paid_at = self.values.paid_at(cells)
                location = self.locations.find(raw_location)
                if location is None:
                    raise RowError(
                        "location",
                        _("No location: add a location column or choose a default."),
                    )
                status, visit_line = line_parse(self.values, line, cells)
                visit = visits.get(key)
                if visit is not None and (
                    visit.phone != phone or visit.paid_at != paid_at
                ):
                    raise RowError(
                        "external_id",
                        _(
                            "The booking %(id)s has another client or time on "
                            "line %(line)d."
                        )
                        % {"id": booking, "line": visit.lines[0][0]},
                    )
            except RowError as exc:
                refused[key] = line
                results.append(
                    (line, RowResult(Outcome.REJECTED, exc.field, exc.reason))
                )
                visit = visits.pop(key, None)
                for earlier in pending.pop(key, []):
                    results.append((earlier, self._along(line)))
                continue
            if status != "paid":
                results.append(
                    (
                        line,
                        RowResult(
                            Outcome.SKIPPED,
                            "status",
                            _("Not a paid visit (%(status)s): not imported.")
                            % {"status": status},
                        ),
                    )
                )
                continue
            if visit is None:
                visit = visits[key] = Booking(
                    lines=[],
                    phone=phone,
                    paid_at=paid_at,
                    location=location,
                    booking=booking,
                    first_name=_text(self.values.cell(cells, "first_name"))[:80],
                    last_name=_text(self.values.cell(cells, "last_name"))[:80],
                    payment_method=payment_method_parse(
                        _text(self.values.cell(cells, "payment_method"))
                    ),
                )
                order.append(key)
            visit.lines.append(visit_line)
            pending[key].append(line)
        ready = [visits[key] for key in order if key in visits]
        for visit in ready:
            visit.seal(self.values.utc(visit.paid_at))
        return ready, results

    @staticmethod
    def _along(line: int) -> RowResult:
        return RowResult(
            Outcome.REJECTED,
            "external_id",
            _("Another line of this booking (line %(line)d) was rejected.")
            % {"line": line},
        )

    # -- on the writing thread ------------------------------------------------

    def write(self, visits: list[Booking]) -> list:
        try:
            return self._write(visits)
        except (IntegrityError, OperationalError) as exc:
            if isinstance(exc, OperationalError) and not write_conflict(exc):
                raise
            # Another writer (a chunk beside this one, another import) wrote
            # some of these bookings or members meanwhile: look again.
            return self._write(visits)

    def _write(self, visits: list[Booking]) -> list:
        results: list[tuple[int, RowResult]] = []
        known = imported_visits([v.external_id for v in visits])
        fresh: list[Booking] = []
        for visit in visits:
            fingerprint = known.get(visit.external_id)
            if fingerprint is None:
                known[visit.external_id] = visit.fingerprint
                fresh.append(visit)
                continue
            if fingerprint == visit.fingerprint:
                result = _UNCHANGED
            else:
                result = RowResult(
                    Outcome.REJECTED,
                    "external_id",
                    _(
                        "The booking %(id)s was imported before with other "
                        "content: not changed."
                    )
                    % {"id": visit.booking or visit.external_id},
                )
            results.extend((ln[0], result) for ln in visit.lines)
        if not fresh:
            return results
        services, specialists = self.catalogue.resolve(fresh)
        # One order for every writer (ids, phones), so two never deadlock.
        fresh.sort(key=lambda visit: visit.external_id)
        with transaction.atomic():
            commit_unhurried()
            member_ids, members_created = self._members(fresh)
            self._visits_insert(fresh, member_ids, services, specialists)
        with self.catalogue.lock:
            self.summary.created["members"] += members_created
            self.summary.created["visits"] += len(fresh)
        for visit in fresh:
            results.extend((ln[0], _CREATED) for ln in visit.lines)
        return results

    def _members(self, visits: list[Booking]) -> tuple[dict[str, int], int]:
        found = members_by_phone({v.phone for v in visits}, ("id",))
        ids = {phone: values["id"] for phone, values in found.items()}
        people: dict[str, NewMember] = {}
        for visit in visits:
            if visit.phone not in ids and visit.phone not in people:
                people[visit.phone] = NewMember(
                    phone=visit.phone,
                    first_name=visit.first_name,
                    last_name=visit.last_name,
                    location_id=visit.location.pk,
                )
        new = sorted(people.values(), key=lambda person: person.phone)
        created = members_create(new)
        ids.update(zip((person.phone for person in new), created, strict=True))
        return ids, len(created)

    def _visits_insert(self, visits, member_ids, services, specialists) -> None:
        visit_ids = ids_reserve(Visit, len(visits))
        text = connection.vendor == "postgresql"
        # PostgreSQL: the COPY text written here row by row, the types known
        # (a generic cell formatter cost a third of the writer's time); else
        # tuples for ``rows_insert``.
        visit_rows, line_rows = [], []
        stats: dict[int, list] = {}
        now = timezone.now()
        now_text = now.isoformat()
        times: dict[datetime, str] = {}
        reason = _("Imported history")
        reason_text = copy_escape(reason)
        for visit_id, visit in zip(visit_ids, visits, strict=True):
            member_id = member_ids[visit.phone]
            total = Decimal("0")
            for (
                _ln,
                _s,
                name,
                amount,
                quantity,
                service_key,
                specialist_key,
            ) in visit.lines:
                service = services[service_key]
                price = (amount / quantity).quantize(CENT)
                total += amount
                listed = service.base_price
                specialist = specialists[specialist_key].pk if name else None
                who = NULL if specialist is None else specialist
                if text:
                    line_rows.append(
                        f"{visit_id}\t{service.pk}\t{price}\t{listed}\t"
                        f"{reason_text if price != listed else ''}\t{quantity}\t"
                        f"{who}\n"
                    )
                else:
                    line_rows.append(
                        (visit_id, service.pk, price, listed,
                         reason if price != listed else "", quantity, specialist)
                    )  # fmt: skip
            paid_at = visit.paid_at
            if text:
                paid_text = times.get(paid_at)
                if paid_text is None:
                    paid_text = times[paid_at] = paid_at.isoformat()
                visit_rows.append(
                    f"{visit_id}\t{member_id}\t{visit.location.pk}\tpaid\timport\t"
                    f"{copy_escape(visit.external_id)}\t{visit.fingerprint}\t"
                    f"{total}\t{total}\t{paid_text}\t\t{now_text}\t{NULL}\t\t"
                    f"{visit.payment_method}\n"
                )
            else:
                visit_rows.append(
                    (visit_id, member_id, visit.location.pk, Visit.Status.PAID.value,
                     Visit.Source.IMPORT.value, visit.external_id, visit.fingerprint,
                     total, total, paid_at, "", now, None, "", visit.payment_method)
                )  # fmt: skip
            entry = stats.get(member_id)
            if entry is None:
                stats[member_id] = [1, total, paid_at, paid_at]
            else:
                entry[0] += 1
                entry[1] += total
                entry[2] = min(entry[2], paid_at)
                entry[3] = max(entry[3], paid_at)
        if text:
            copy_text(Visit, VISIT_COLUMNS, "".join(visit_rows))
            copy_text(VisitLine, LINE_COLUMNS, "".join(line_rows))
        else:
            rows_copy(Visit, VISIT_COLUMNS, visit_rows)
            rows_copy(VisitLine, LINE_COLUMNS, line_rows)
        stats_add(stats)


def mapping_split(raw: Any) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """A visits mapping file: ``{"columns": {header: field}, "services": {name
    in the file: code}, "specialists": {…}}``, or the plain ``{header: field}``
    of the members' one."""
    if not isinstance(raw, dict):
        raise ImportFileError(_("The mapping must be a JSON object."))
    if not {"columns", "services", "specialists"} & set(raw):
        return mapping_check(raw, FIELDS), {}
    names = {}
    for section in ("services", "specialists"):
        value = raw.get(section, {})
        if not isinstance(value, dict):
            raise ImportFileError(
                _("“%(section)s” in the mapping must be a JSON object.")
                % {"section": section}
            )
        names[section] = {str(k): str(v) for k, v in value.items()}
    return mapping_check(raw.get("columns", {}), FIELDS), names


def visits_import(
    path: str | Path,
    *,
    dry_run: bool = False,
    location: Location | None = None,
    mapping: dict[str, str] | None = None,
    names: dict[str, dict[str, str]] | None = None,
    actor=None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import the visit lines in ``path`` and write ``<path>.report.csv`` with
    the rejected and skipped rows. ``names`` maps the file's service and
    specialist names to codes (``{"services": {…}, "specialists": {…}}``).
    ``dry_run`` rolls every change back and still counts and reports."""
    summary = ImportSummary()
    headers, rows = headers_read(path)
    columns = columns_recognise(headers, HEADER_ALIASES, mapping, REQUIRED)
    if "amount" not in columns and "price" not in columns:
        raise ImportFileError(
            _("The file has no “%(field)s” column.") % {"field": "amount"}
        )
    catalogue = Catalogue(names or {}, summary)
    importer = _Importer(
        columns=columns,
        column_names={name: _text(headers[index]) for name, index in columns.items()},
        locations=Locations(location),
        catalogue=catalogue,
        summary=summary,
    )

    if not dry_run:
        keys_restore_abandoned()
    with keys_set_aside(
        FOREIGN_KEYS,
        enabled=keys_aside_wanted(os.stat(path).st_size, dry_run=dry_run),
    ):
        import_run(
            booking_chunks(rows, CHUNK_ROWS, columns),
            path=path,
            parse=importer.parse,
            write=importer.write,
            summary=summary,
            column_names=importer.column_names,
            progress=progress,
            dry_run=dry_run,
        )
    if not dry_run and summary.created["visits"] > ANALYZE_AFTER:
        tables_analyze(Member, MemberPhone, Visit, VisitLine)
    summary.unknown = catalogue.unknown()
    report_write(report_path(path), summary.problems)
    return summary


run = visits_import

__all__ = ["FIELDS", "HEADER_ALIASES", "REQUIRED", "run", "visits_import"]
