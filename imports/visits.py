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

import contextlib
import hashlib
import json
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from imports.bulk import NewMember, members_by_phone, members_create, tables_analyze
from imports.lookups import Locations
from imports.phones import phone_fast
from imports.pipeline import chunks_run, overlap_possible
from imports.reading import (
    ImportFileError,
    ImportSummary,
    Outcome,
    RowError,
    RowResult,
    columns_recognise,
    header_key,
    headers_read,
    mapping_check,
    report_path,
    report_write,
)
from imports.reading import text as _text
from imports.visit_names import Catalogue
from members.bulk import ids_reserve, rows_insert
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
MAX_EXTERNAL_ID = 60
MAX_QUANTITY = 1_000
MAX_AMOUNT = Decimal("9999999999.99")

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

_PAID = {"", "paid", "оплачен", "оплачено", "оплачена", "пришел", "пришёл", "завершен"}
_NOT_PAID = {
    "cancelled", "refunded", "отменен", "отменён", "отменена", "не пришел",
    "не пришёл", "возврат",
}  # fmt: skip
_FORMATS = (
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%y %H:%M",
    "%d.%m.%y",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)
_NOON = time(12, 0)


@dataclass
class _Line:
    line: int
    service: str
    specialist: str
    amount: Decimal
    quantity: int


@dataclass
class _Visit:
    lines: list[_Line]
    phone: str
    paid_at: datetime
    location: Location
    booking: str  # the id in the file, "" for none
    first_name: str = ""
    last_name: str = ""
    payment_method: str = ""
    external_id: str = ""
    fingerprint: str = ""

    def seal(self) -> None:
        content = {
            "phone": self.phone,
            "paid_at": self.paid_at.astimezone(zoneinfo.ZoneInfo("UTC")).isoformat(),
            "lines": sorted(
                [
                    header_key(ln.service),
                    str(ln.amount),
                    ln.quantity,
                    header_key(ln.specialist),
                ]
                for ln in self.lines
            ),  # fmt: skip
        }
        self.fingerprint = hashlib.sha256(
            json.dumps(content, ensure_ascii=False, sort_keys=True).encode()
        ).hexdigest()
        if self.booking:
            self.external_id = f"{self.location.code}:{self.booking}"
        else:
            self.external_id = f"#{self.fingerprint[:40]}"


# --- values ------------------------------------------------------------------


class _Values:
    """Parses a row's cells; remembers the times it has read (a file repeats
    them a lot)."""

    def __init__(self, columns: dict[str, int]):
        self.columns = columns
        self.tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        self._times: dict[Any, datetime] = {}
        self.now = timezone.now()

    def cell(self, cells: list[Any], name: str) -> Any:
        index = self.columns.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    def paid_at(self, cells: list[Any]) -> datetime:
        raw, clock = self.cell(cells, "paid_at"), self.cell(cells, "time")
        key = (raw, clock)
        try:
            moment = self._times[key]
        except (KeyError, TypeError):
            moment = self._paid_at(raw, clock)
            if len(self._times) > 100_000:
                self._times.clear()
            with contextlib.suppress(TypeError):
                self._times[key] = moment
        if moment > self.now:
            raise RowError("paid_at", _("A visit cannot be paid in the future."))
        return moment

    def _paid_at(self, raw: Any, clock: Any) -> datetime:
        moment = _moment_parse(raw)
        if clock not in (None, ""):
            moment = datetime.combine(moment.date(), _clock_parse(clock))
        elif (
            not isinstance(raw, datetime)
            and moment.time() == time(0)
            and (len(_text(raw)) <= 10)
        ):
            moment = datetime.combine(moment.date(), _NOON)  # a date alone
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        return moment


def _moment_parse(raw: Any) -> datetime:
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, date):
        return datetime.combine(raw, time(0))
    text = _text(raw)
    if not text:
        raise RowError("paid_at", _("No date of the visit."))
    for pattern in _FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise RowError(
            "paid_at",
            _("Not a date and time (DD.MM.YYYY HH:MM or ISO 8601): “%(value)s”.")
            % {"value": text},
        ) from None


def _clock_parse(raw: Any) -> time:
    if isinstance(raw, time):
        return raw
    if isinstance(raw, datetime):
        return raw.time()
    text = _text(raw)
    for pattern in ("%H:%M", "%H:%M:%S"):
        try:
            return datetime.strptime(text, pattern).time()
        except ValueError:
            continue
    raise RowError("time", _("Not a time (HH:MM): “%(value)s”.") % {"value": text})


def _money_parse(name: str, raw: Any) -> Decimal | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, Decimal | int):
        value = Decimal(raw)
    elif isinstance(raw, float):
        value = Decimal(repr(raw))
    else:
        text = "".join(_text(raw).split()).replace(",", ".").replace("\u00a0", "")
        text = text.removesuffix("₽").removesuffix("руб.").removesuffix("р.")
        if not text:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise RowError(
                name, _("Not an amount of money: “%(value)s”.") % {"value": _text(raw)}
            ) from None
    if not value.is_finite() or value < 0 or value > MAX_AMOUNT:
        raise RowError(
            name, _("Not an amount of money: “%(value)s”.") % {"value": _text(raw)}
        )
    if value != value.quantize(Decimal("0.01")):
        raise RowError(
            name, _("More than two decimal places: “%(value)s”.") % {"value": value}
        )
    return value.quantize(Decimal("0.01"))


def _quantity_parse(raw: Any) -> int:
    if raw is None or _text(raw) == "":
        return 1
    try:
        value = Decimal(_text(raw).replace(",", "."))
    except InvalidOperation:
        value = Decimal(0)
    if value != value.to_integral_value() or not 1 <= value <= MAX_QUANTITY:
        raise RowError(
            "quantity",
            _("Not a quantity (a whole number from 1 to %(max)d): “%(value)s”.")
            % {"max": MAX_QUANTITY, "value": _text(raw)},
        )
    return int(value)


# --- rows --------------------------------------------------------------------


def _line_parse(values: _Values, line: int, cells: list[Any]) -> tuple[str, _Line]:
    """The row's line and its status (paid or not)."""
    status = _text(values.cell(cells, "status")).lower()
    if status not in _PAID and status not in _NOT_PAID:
        raise RowError("status", _("Unknown status “%(value)s”.") % {"value": status})
    service = _text(values.cell(cells, "service"))
    if not service:
        raise RowError("service", _("No service."))
    if len(service) > 160:
        raise RowError("service", _("Longer than %(max)d characters.") % {"max": 160})
    quantity = _quantity_parse(values.cell(cells, "quantity"))
    amount = _money_parse("amount", values.cell(cells, "amount"))
    price = _money_parse("price", values.cell(cells, "price"))
    if amount is None and price is None:
        raise RowError("amount", _("No amount."))
    if amount is None:
        amount = price * quantity
    elif (amount / quantity).quantize(Decimal("0.01")) * quantity != amount:
        raise RowError(
            "amount",
            _("The amount %(amount)s is not a price in kopecks times %(qty)d.")
            % {"amount": amount, "qty": quantity},
        )
    specialist = _text(values.cell(cells, "specialist"))
    if len(specialist) > 120:
        raise RowError(
            "specialist", _("Longer than %(max)d characters.") % {"max": 120}
        )
    return (
        "paid" if status in _PAID else status,
        _Line(line, service, specialist, amount, quantity),
    )


def _phone_parse(raw: str) -> str:
    if not raw:
        raise RowError("phone", _("No phone."))
    try:
        return phone_fast(raw)
    except ValidationError:
        raise RowError(
            "phone", _("Not a valid phone: “%(value)s”.") % {"value": raw}
        ) from None


def _payment_method(raw: str) -> str:
    value = raw.strip().lower()
    return value if value in Visit.PaymentMethod.values else ""


def booking_chunks(
    rows: Iterator[tuple[int, list[Any]]], size: int, columns: dict[str, int]
) -> Iterator[list[tuple[int, list[Any]]]]:
    """Chunks of about ``size`` rows that never split the rows of one booking
    (same id and location, next to each other)."""
    id_at, location_at = columns.get("external_id"), columns.get("location")

    def key(cells: list[Any]) -> tuple:
        if id_at is None:
            return ()
        booking = _text(cells[id_at]) if id_at < len(cells) else ""
        if not booking:
            return ()
        where = (
            _text(cells[location_at])
            if location_at is not None and (location_at < len(cells))
            else ""
        )
        return (where, booking)

    chunk: list[tuple[int, list[Any]]] = []
    last: tuple = ()
    for line, cells in rows:
        current = key(cells)
        if len(chunk) >= size and (not current or current != last):
            yield chunk
            chunk = []
        chunk.append((line, cells))
        last = current
    if chunk:
        yield chunk


class _Importer:
    def __init__(self, *, columns, column_names, locations, catalogue, summary):
        self.values = _Values(columns)
        self.columns = columns
        self.column_names = column_names
        self.locations = locations
        self.catalogue = catalogue
        self.summary = summary

    # -- on the reading thread ------------------------------------------------

    def parse(self, rows: list[tuple[int, list[Any]]]) -> tuple[list[_Visit], list]:
        results: list[tuple[int, RowResult]] = []
        visits: dict[tuple, _Visit] = {}
        refused: dict[tuple, int] = {}  # booking → the first bad line
        order: list[tuple] = []
        pending: dict[tuple, list[int]] = defaultdict(list)
        for line, cells in rows:
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
                phone = _phone_parse(_text(self.values.cell(cells, "phone")))
                paid_at = self.values.paid_at(cells)
                location = self.locations.find(raw_location)
                if location is None:
                    raise RowError(
                        "location",
                        _("No location: add a location column or choose a default."),
                    )
                status, visit_line = _line_parse(self.values, line, cells)
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
                        % {"id": booking, "line": visit.lines[0].line},
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
                visit = visits[key] = _Visit(
                    lines=[],
                    phone=phone,
                    paid_at=paid_at,
                    location=location,
                    booking=booking,
                    first_name=_text(self.values.cell(cells, "first_name"))[:80],
                    last_name=_text(self.values.cell(cells, "last_name"))[:80],
                    payment_method=_payment_method(
                        _text(self.values.cell(cells, "payment_method"))
                    ),
                )
                order.append(key)
            visit.lines.append(visit_line)
            pending[key].append(line)
        ready = [visits[key] for key in order if key in visits]
        for visit in ready:
            visit.seal()
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

    def write(self, visits: list[_Visit]) -> list:
        try:
            return self._write(visits)
        except IntegrityError:
            # Another import wrote some of these bookings meanwhile: look again.
            return self._write(visits)

    def _write(self, visits: list[_Visit]) -> list:
        results: list[tuple[int, RowResult]] = []
        known = dict(
            Visit.objects.filter(
                source=Visit.Source.IMPORT,
                external_id__in=[v.external_id for v in visits],
            ).values_list("external_id", "fingerprint")
        )
        fresh: list[_Visit] = []
        for visit in visits:
            fingerprint = known.get(visit.external_id)
            if fingerprint is None:
                known[visit.external_id] = visit.fingerprint
                fresh.append(visit)
                continue
            if fingerprint == visit.fingerprint:
                result = RowResult(Outcome.UNCHANGED)
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
            results.extend((ln.line, result) for ln in visit.lines)
        if not fresh:
            return results
        services, specialists = self.catalogue.resolve(fresh)
        with transaction.atomic():
            member_ids, members_created = self._members(fresh)
            self._visits_insert(fresh, member_ids, services, specialists)
        self.summary.created["members"] += members_created
        for visit in fresh:
            results.extend((ln.line, RowResult(Outcome.CREATED)) for ln in visit.lines)
        self.summary.created["visits"] += len(fresh)
        return results

    def _members(self, visits: list[_Visit]) -> tuple[dict[str, int], int]:
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
        created = members_create(list(people.values()))
        ids.update(zip(people, created, strict=True))
        return ids, len(created)

    def _visits_insert(self, visits, member_ids, services, specialists) -> None:
        visit_ids = ids_reserve(Visit, len(visits))
        now = timezone.now()
        visit_rows, line_rows = [], []
        stats: dict[int, list] = {}
        reason = _("Imported history")
        for visit_id, visit in zip(visit_ids, visits, strict=True):
            member_id = member_ids[visit.phone]
            total = Decimal("0")
            for ln in visit.lines:
                service = services[header_key(ln.service)]
                price = ln.amount / ln.quantity
                total += ln.amount
                line_rows.append(
                    (
                        visit_id,
                        service.pk,
                        price,
                        service.base_price,
                        reason if price != service.base_price else "",
                        ln.quantity,
                        specialists[header_key(ln.specialist)].pk
                        if ln.specialist
                        else None,
                    )  # fmt: skip
                )
            visit_rows.append(
                (
                    visit_id,
                    member_id,
                    visit.location.pk,
                    Visit.Status.PAID.value,
                    Visit.Source.IMPORT.value,
                    visit.external_id,
                    visit.fingerprint,
                    total,
                    total,
                    visit.paid_at,
                    "",
                    now,
                    None,
                    "",
                    visit.payment_method,
                )  # fmt: skip
            )
            entry = stats.setdefault(member_id, [0, Decimal("0"), None, None])
            entry[0] += 1
            entry[1] += total
            entry[2] = min(entry[2] or visit.paid_at, visit.paid_at)
            entry[3] = max(entry[3] or visit.paid_at, visit.paid_at)
        rows_insert(Visit, VISIT_COLUMNS, visit_rows)
        rows_insert(VisitLine, LINE_COLUMNS, line_rows)
        stats_add(stats)


VISIT_COLUMNS = [
    "id", "member_id", "location_id", "status", "source", "external_id",
    "fingerprint", "total", "amount_paid", "paid_at", "note", "created_at",
    "status_changed_at", "status_reason", "payment_method",
]  # fmt: skip
LINE_COLUMNS = [
    "visit_id", "service_id", "price", "list_price", "price_reason", "quantity",
    "specialist_id",
]  # fmt: skip

_STATS_SQL = {
    "postgresql": """
        UPDATE members_member SET
            visits_count = visits_count + %s,
            total_spent = ROUND(total_spent + %s, 2),
            first_visit_at = LEAST(COALESCE(first_visit_at, %s), %s),
            last_visit_at = GREATEST(COALESCE(last_visit_at, %s), %s)
        WHERE id = %s
    """,
    "sqlite": """
        UPDATE members_member SET
            visits_count = visits_count + %s,
            total_spent = ROUND(total_spent + %s, 2),
            first_visit_at = MIN(COALESCE(first_visit_at, %s), %s),
            last_visit_at = MAX(COALESCE(last_visit_at, %s), %s)
        WHERE id = %s
    """,
}


def stats_add(stats: dict[int, list]) -> None:
    """Add imported visits to the members' cached stats: ``{member id: [count,
    amount, first paid_at, last paid_at]}``, one statement for all."""
    if not stats:
        return
    ops = connection.ops
    params = []
    for member_id, (count, amount, first, last) in sorted(stats.items()):
        first_value = ops.adapt_datetimefield_value(first)
        last_value = ops.adapt_datetimefield_value(last)
        if connection.vendor == "postgresql":
            first_value, last_value = first, last
        params.append(
            (count, amount, first_value, first_value, last_value, last_value, member_id)
        )
    with connection.cursor() as cursor:
        cursor.executemany(_STATS_SQL[connection.vendor], params)


class _DryRun(Exception):
    pass


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

    def done(results: list, count: int) -> None:
        for line, result in results:
            summary.counts[result.outcome] += 1
            if result.outcome in (Outcome.REJECTED, Outcome.SKIPPED):
                column = importer.column_names.get(result.column, result.column)
                summary.problems.append((line, column, result.reason))
        if progress:
            progress(count)

    try:
        with transaction.atomic() if dry_run else contextlib.nullcontext():
            chunks_run(
                booking_chunks(rows, CHUNK_ROWS, columns),
                parse=importer.parse,
                write=importer.write,
                done=done,
                overlap=overlap_possible(dry_run=dry_run),
            )
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    if not dry_run and summary.created["visits"] > 10_000:
        tables_analyze(Member, MemberPhone, Visit, VisitLine)
    summary.unknown = catalogue.unknown()
    summary.problems.sort()
    report_write(report_path(path), summary.problems)
    return summary


run = visits_import

__all__ = ["FIELDS", "HEADER_ALIASES", "REQUIRED", "run", "visits_import"]
