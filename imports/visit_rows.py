"""A visits file's rows read into bookings: values, lines, chunks.

``imports.visits`` reads with these; see its docstring for the rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import zoneinfo
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from imports.phones import phone_fast
from imports.reading import RowError, header_key
from imports.reading import text as _text
from members.models import Location, Visit

MAX_EXTERNAL_ID = 60
MAX_QUANTITY = 1_000
MAX_AMOUNT = Decimal("9999999999.99")
CACHE_SIZE = 200_000  # phones and times remembered, at most
_PAYMENT_METHODS = frozenset(Visit.PaymentMethod.values)

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


# A visit line as read: a plain tuple, which crosses between the processes at
# C speed (a NamedTuple's ``__new__`` and ``__getnewargs__`` run Python code: a
# tenth of the import's time). The keys are ``header_key`` of the names, to
# look them up:
#   (file line, service, specialist, amount, quantity, service key, specialist key)
Line = tuple[int, str, str, Decimal, int, str, str]


@dataclass
class Booking:
    lines: list[Line]
    phone: str
    paid_at: datetime
    location: Location
    booking: str  # the id in the file, "" for none
    first_name: str = ""
    last_name: str = ""
    payment_method: str = ""
    external_id: str = ""
    fingerprint: str = ""

    def seal(self, paid_at_utc: str) -> None:
        """The booking's fingerprint (its content) and its key among imports;
        ``paid_at_utc`` is ``paid_at`` in UTC, ISO 8601 (``Values.utc``)."""
        lines = sorted(
            f"{service_key}\x1e{amount}\x1e{quantity}\x1e{specialist_key}"
            for _l, _s, _p, amount, quantity, service_key, specialist_key in self.lines
        )
        content = "\x1f".join((self.phone, paid_at_utc, *lines))
        self.fingerprint = hashlib.sha256(content.encode()).hexdigest()
        if self.booking:
            self.external_id = f"{self.location.code}:{self.booking}"
        else:
            self.external_id = f"#{self.fingerprint[:40]}"


# --- values ------------------------------------------------------------------


class Values:
    """Parses a row's cells; remembers the times it has read (a file repeats
    them a lot)."""

    def __init__(self, columns: dict[str, int]):
        self.columns = columns
        # Cells are read by index; a field without a column reads the None
        # that ``pad`` puts after the last cell.
        self.width = max(columns.values(), default=-1) + 1
        self._index = defaultdict(lambda: self.width, columns)
        self.tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        self._times: dict[Any, datetime] = {}
        self._utc: dict[datetime, str] = {}
        self._phones: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._money: dict[tuple, tuple[Decimal, int]] = {}
        self.now = timezone.now()

    def pad(self, cells: list[Any]) -> list[Any]:
        """``cells`` with every column there and a None after them."""
        missing = self.width + 1 - len(cells)
        return cells + [None] * missing if missing > 0 else cells + [None]

    def cell(self, cells: list[Any], name: str) -> Any:
        """The field's cell of a ``pad``-ded row."""
        return cells[self._index[name]]

    def money(self, cells: list[Any]) -> tuple[Decimal, int]:
        """The line's amount and quantity (a file repeats a few prices)."""
        raw = (
            self.cell(cells, "amount"),
            self.cell(cells, "price"),
            self.cell(cells, "quantity"),
        )
        try:
            found = self._money.get(raw)
        except TypeError:  # an unhashable cell: never from CSV or XLSX
            found = None
        if found is None:
            found = _money_and_quantity(*raw)
            if len(self._money) > CACHE_SIZE:
                self._money.clear()
            self._money[raw] = found
        return found

    def key(self, name: str) -> str:
        """``header_key(name)``, remembered (a file names few services)."""
        key = self._keys.get(name)
        if key is None:
            key = header_key(name)
            if len(self._keys) > CACHE_SIZE:
                self._keys.clear()
            self._keys[name] = key
        return key

    def phone(self, cells: list[Any]) -> str:
        """The row's phone in E.164 (a client's phone repeats on every visit)."""
        raw = _text(self.cell(cells, "phone"))
        phone = self._phones.get(raw)
        if phone is None:
            phone = phone_parse(raw)
            if len(self._phones) > CACHE_SIZE:
                self._phones.clear()
            self._phones[raw] = phone
        return phone

    def paid_at(self, cells: list[Any]) -> datetime:
        raw, clock = self.cell(cells, "paid_at"), self.cell(cells, "time")
        key = (raw, clock)
        try:
            return self._times[key]
        except (KeyError, TypeError):
            pass
        moment = self._paid_at(raw, clock)
        if moment > self.now:  # never remembered: every such row is refused
            raise RowError("paid_at", _("A visit cannot be paid in the future."))
        if len(self._times) > CACHE_SIZE:
            self._times.clear()
        with contextlib.suppress(TypeError):
            self._times[key] = moment
        return moment

    def utc(self, moment: datetime) -> str:
        """``moment`` in UTC, ISO 8601, remembered."""
        text = self._utc.get(moment)
        if text is None:
            text = moment.astimezone(UTC).isoformat()
            if len(self._utc) > CACHE_SIZE:
                self._utc.clear()
            self._utc[moment] = text
        return text

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


def _money_and_quantity(raw_amount, raw_price, raw_quantity) -> tuple[Decimal, int]:
    quantity = _quantity_parse(raw_quantity)
    amount = _money_parse("amount", raw_amount)
    price = _money_parse("price", raw_price)
    if amount is None and price is None:
        raise RowError("amount", _("No amount."))
    if amount is None:
        return price * quantity, quantity
    if (amount / quantity).quantize(Decimal("0.01")) * quantity != amount:
        raise RowError(
            "amount",
            _("The amount %(amount)s is not a price in kopecks times %(qty)d.")
            % {"amount": amount, "qty": quantity},
        )
    return amount, quantity


# --- rows --------------------------------------------------------------------


def line_parse(values: Values, line: int, cells: list[Any]) -> tuple[str, Line]:
    """The row's line and its status (paid or not)."""
    status = _text(values.cell(cells, "status")).lower()
    if status not in _PAID and status not in _NOT_PAID:
        raise RowError("status", _("Unknown status “%(value)s”.") % {"value": status})
    service = _text(values.cell(cells, "service"))
    if not service:
        raise RowError("service", _("No service."))
    if len(service) > 160:
        raise RowError("service", _("Longer than %(max)d characters.") % {"max": 160})
    amount, quantity = values.money(cells)
    specialist = _text(values.cell(cells, "specialist"))
    if len(specialist) > 120:
        raise RowError(
            "specialist", _("Longer than %(max)d characters.") % {"max": 120}
        )
    return (
        "paid" if status in _PAID else status,
        (
            line, service, specialist, amount, quantity,
            values.key(service), values.key(specialist),
        ),
    )  # fmt: skip


def phone_parse(raw: str) -> str:
    if not raw:
        raise RowError("phone", _("No phone."))
    try:
        return phone_fast(raw)
    except ValidationError:
        raise RowError(
            "phone", _("Not a valid phone: “%(value)s”.") % {"value": raw}
        ) from None


def payment_method_parse(raw: str) -> str:
    value = raw.strip().lower()
    return value if value in _PAYMENT_METHODS else ""


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
