"""Writes for members and visits. Admin, API, tasks and commands call these.

Every service that touches a member's visits runs in one transaction with the
member row locked (``select_for_update``), so a retried booking, a cancel racing
a refund or two front-desk clicks cannot double-count the cached stats.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest, Least, Round
from django.utils import timezone
from django.utils.translation import gettext as _
from phonenumber_field.phonenumber import PhoneNumber, to_python

from members import selectors, visit_flow
from members.models import (
    Location,
    Member,
    Service,
    Visit,
    VisitLine,
    VisitRefund,
)
from members.money import money

MAX_LINE_QUANTITY = 100
# A visit may be stamped a little in the future: tills and servers disagree.
PAID_AT_CLOCK_SKEW = timedelta(minutes=5)
CONSENT_CHANNELS = ("sms", "email", "push")
REFUND_KEY_MAX = VisitRefund._meta.get_field("key").max_length


def _field_error(field: str, message, code: str) -> ValidationError:
    """A ValidationError on ``field`` that keeps its ``code``.

    ``ValidationError({field: message}, code=...)`` drops the code: Django keeps
    codes only on the errors inside the dict. Callers (and the API) tell refusals
    apart by code, so build the inner error with it.
    """
    return ValidationError({field: ValidationError(message, code=code)})


# --- Members ----------------------------------------------------------------


def phone_normalize(raw: str | PhoneNumber) -> str:
    """Return ``raw`` in E.164 ("+79161234567") or raise ``ValidationError``.

    Numbers without a country code are read in PHONENUMBER_DEFAULT_REGION, so a
    front desk in Moscow may type "8 916 123-45-67".
    """
    if not isinstance(raw, PhoneNumber) and re.search(r"[^\W\d_]", str(raw)):
        # libphonenumber reads letters as keypad digits ("8459XGTCS4" would
        # become a valid number): a phone typed with letters is a typo.
        raise _field_error(
            "phone",
            _("Enter a valid phone number, e.g. +7 916 123-45-67."),
            "invalid_phone",
        )
    number = raw if isinstance(raw, PhoneNumber) else to_python(str(raw).strip())
    if not isinstance(number, PhoneNumber) or not number.is_valid():
        raise _field_error(
            "phone",
            _("Enter a valid phone number, e.g. +7 916 123-45-67."),
            "invalid_phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@transaction.atomic
def member_register(
    *,
    phone: str,
    first_name: str,
    last_name: str = "",
    email: str = "",
    birthday: date | None = None,
    registration_location: Location | None = None,
    preferences: str = "",
    consents: dict[str, bool] | None = None,
    registered_at: datetime | None = None,
) -> Member:
    """Enrol a new member. A phone belongs to one member only."""
    now = timezone.now()
    member = Member(
        phone=phone_normalize(phone),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip().lower(),
        birthday=birthday,
        registration_location=registration_location,
        preferences=preferences,
        registered_at=registered_at or now,
    )
    for channel, granted in (consents or {}).items():
        _consent_set(member, channel, granted, now)
    _member_validate(member)
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise _phone_taken() from exc
    return member


@transaction.atomic
def member_update(*, member: Member, **fields) -> Member:
    """Change a member's profile. ``consents`` ({channel: bool}) stamps changes.

    Visit stats are not editable here: they follow from the visits.
    """
    editable = {
        "phone",
        "first_name",
        "last_name",
        "email",
        "birthday",
        "language",
        "registered_at",
        "registration_location",
        "preferences",
        "status",
    }
    member = Member.objects.select_for_update().get(pk=member.pk)
    now = timezone.now()
    for name, value in fields.items():
        if name == "consents":
            for channel, granted in value.items():
                _consent_set(member, channel, granted, now)
        elif name in editable:
            if name == "phone":
                value = phone_normalize(value)
            elif name == "email":
                value = value.strip().lower()
            setattr(member, name, value)
        else:
            raise ValueError(f"member_update cannot change {name!r}")
    _member_validate(member)
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError as exc:
        raise _phone_taken() from exc
    return member


def _consent_set(member: Member, channel: str, granted: bool, now: datetime) -> None:
    if channel not in CONSENT_CHANNELS:
        raise _field_error(
            "consents",
            _("Unknown consent channel “%(channel)s”.") % {"channel": channel},
            "invalid_consent_channel",
        )
    if getattr(member, f"consent_{channel}") != bool(granted) or member.pk is None:
        setattr(member, f"consent_{channel}", bool(granted))
        setattr(member, f"consent_{channel}_at", now)


def _member_validate(member: Member) -> None:
    # A first name may be blank: signing up in the app asks for the phone only.
    # The front desk's forms (admin, POS) ask for one.
    if Member.objects.filter(phone=member.phone).exclude(pk=member.pk).exists():
        raise _phone_taken()
    member.full_clean(exclude=["phone"], validate_unique=False)


def _phone_taken() -> ValidationError:
    return _field_error(
        "phone", _("A member with this phone number already exists."), "phone_taken"
    )


# --- Visits -----------------------------------------------------------------


@dataclass(frozen=True)
class VisitLineInput:
    """A line as a caller sends it; ``price`` defaults to the service's base price."""

    service: Service | int
    quantity: int = 1
    price: Decimal | str | int | None = None


@dataclass(frozen=True)
class VisitRecordResult:
    visit: Visit
    created: bool  # False when an identical booking had already been recorded


@transaction.atomic
def visit_record(
    *,
    member: Member,
    location: Location,
    lines: list[VisitLineInput],
    paid_at: datetime | None = None,
    amount_paid: Decimal | str | int | None = None,
    source: str = Visit.Source.ADMIN,
    external_id: str = "",
    recorded_by=None,
    note: str = "",
    context: dict | None = None,
) -> VisitRecordResult:
    """Record a paid visit and add it to the member's cached stats.

    Idempotent by ``(source, external_id)``: the same booking sent again returns
    the visit recorded the first time; the same id with other content is refused
    (``external_id_conflict``). Bad input raises ``ValidationError`` and writes
    nothing. A new visit is handed to the visit flow (points, tiers…) in this
    transaction; ``context`` goes with it (the checkout passes its quote).
    """
    paid_at = paid_at or timezone.now()
    external_id = (external_id or "").strip()
    if source not in Visit.Source.values:
        raise _field_error("source", _("Unknown visit source."), "invalid_source")
    if paid_at > timezone.now() + PAID_AT_CLOCK_SKEW:
        raise _field_error(
            "paid_at", _("A visit cannot be paid in the future."), "paid_at_in_future"
        )
    if not location.is_active:
        raise _field_error(
            "location", _("This location is closed."), "location_inactive"
        )
    priced = _lines_price(lines)
    total = money(sum((price * qty for _s, price, qty in priced), Decimal("0")))
    paid = total if amount_paid is None else _money_field(amount_paid, "amount_paid")
    if paid > total:
        raise _field_error(
            "amount_paid",
            _("The amount paid cannot exceed the visit total."),
            "amount_paid_exceeds_total",
        )
    fingerprint = _visit_fingerprint(member.pk, location.pk, paid_at, priced, paid)

    # Lock order: the member row first, always, so concurrent writers for one
    # member queue up instead of deadlocking.
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != Member.Status.ACTIVE:
        raise _field_error(
            "member",
            _("Only active members can record visits (status: %(status)s).")
            % {"status": member.get_status_display()},
            "member_not_active",
        )
    if external_id:
        existing = selectors.visit_by_external_id(
            source=source, external_id=external_id
        )
        if existing is not None:
            return VisitRecordResult(
                _visit_same_or_conflict(existing, fingerprint), False
            )

    visit = Visit(
        member=member,
        location=location,
        source=source,
        external_id=external_id,
        fingerprint=fingerprint,
        total=total,
        amount_paid=paid,
        paid_at=paid_at,
        recorded_by=recorded_by,
        note=note,
    )
    try:
        with transaction.atomic():
            visit.save()
    except IntegrityError:
        # Another member's request carried the same external id and won: the
        # member lock does not serialise those, the unique constraint does.
        existing = selectors.visit_by_external_id(
            source=source, external_id=external_id
        )
        if existing is None:
            raise
        return VisitRecordResult(_visit_same_or_conflict(existing, fingerprint), False)
    VisitLine.objects.bulk_create(
        VisitLine(visit=visit, service=service, price=price, quantity=qty)
        for service, price, qty in priced
    )
    Member.objects.filter(pk=member.pk).update(
        visits_count=F("visits_count") + 1,
        # Rounded in SQL: SQLite keeps decimals as binary floats, and unrounded
        # sums drift (0.10 + 0.70 - 0.70 - 0.10 < 0 breaks the CHECK).
        total_spent=Round(F("total_spent") + paid, 2),
        first_visit_at=Least(
            Coalesce(F("first_visit_at"), Value(paid_at)), Value(paid_at)
        ),
        last_visit_at=Greatest(
            Coalesce(F("last_visit_at"), Value(paid_at)), Value(paid_at)
        ),
    )
    visit_flow.visit_recorded(
        visit_flow.VisitRecorded(visit=visit, actor=recorded_by, context=context or {})
    )
    return VisitRecordResult(visit, True)


@transaction.atomic
def visit_cancel(*, visit: Visit, reason: str = "", actor=None) -> Visit:
    """Cancel a paid visit recorded by mistake or not taken place.

    Takes it out of the member's stats. Cancelling a cancelled visit does nothing.
    """
    return _visit_reverse(
        visit=visit, to=Visit.Status.CANCELLED, reason=reason, actor=actor
    )


@transaction.atomic
def visit_refund(*, visit: Visit, reason: str = "", actor=None) -> Visit:
    """Refund a paid visit: the money went back, so the visit no longer counts.

    Refunding a refunded visit does nothing.
    """
    return _visit_reverse(
        visit=visit, to=Visit.Status.REFUNDED, reason=reason, actor=actor
    )


@transaction.atomic
def visit_refund_partial(
    *,
    visit: Visit,
    lines: list[tuple[VisitLine, int]],
    key: str,
    reason: str = "",
    actor=None,
) -> VisitRefund:
    """Refund some units of some lines of a paid visit; the visit stays paid.

    Each line's share of the money is pro rata by gross amount (price ×
    quantity), as the points were earned (``rewards.flow._paid_lines``); the
    refund returns that share per unit refunded, rounded once, never more than
    is left, and the refund that returns the last unit takes exactly what is
    left, so the refunds add up to ``amount_paid`` to the kopeck. The money
    leaves the member's ``total_spent`` (the visit still counts as a visit).
    When no unit is left the visit becomes refunded the way ``visit_refund``
    does it, undoing only what the partial refunds left.

    Idempotent by ``key``: the same refund sent again returns the first one;
    the same key with other lines or quantities is refused
    (``refund_key_conflict``).
    """
    key = (key or "").strip()
    if not key or len(key) > REFUND_KEY_MAX:
        raise _field_error(
            "key",
            _("A refund needs an idempotency key of 1 to %(max)s characters.")
            % {"max": REFUND_KEY_MAX},
            "invalid_key",
        )
    wanted = _refund_lines_check(visit, lines)

    # Lock order as everywhere: the member row, then the visit (then the
    # reactions lock the wallet).
    Member.objects.select_for_update().filter(pk=visit.member_id).get()
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    existing = VisitRefund.objects.filter(key=key).first()
    if existing is not None:
        return _refund_same_or_conflict(existing, visit, wanted)
    if visit.status != Visit.Status.PAID:
        raise ValidationError(
            _("Visit #%(id)s is not paid (status: %(status)s).")
            % {"id": visit.pk, "status": visit.get_status_display()},
            code="visit_not_paid",
        )
    # Fresh under the lock: the caller's copies may predate another refund.
    current = list(
        VisitLine.objects.filter(visit=visit).select_related("service").order_by("pk")
    )
    by_id = {line.pk: line for line in current}
    for line_id, qty in wanted.items():
        line = by_id[line_id]
        left = line.quantity - line.refunded_quantity
        if qty > left:
            raise _field_error(
                "lines",
                _(
                    "Only %(left)s of %(service)s × %(quantity)s can still be "
                    "refunded, not %(wanted)s."
                )
                % {
                    "left": left,
                    "service": line.service.name,
                    "quantity": line.quantity,
                    "wanted": qty,
                },
                "refund_quantity_invalid",
            )

    # The refund that returns the last unit closes the visit (below).
    last = all(
        line.refunded_quantity + wanted.get(line.pk, 0) >= line.quantity
        for line in current
    )
    amount, shares = _refund_amount(visit, current, wanted, last=last)
    try:
        with transaction.atomic():
            refund = VisitRefund.objects.create(
                visit=visit,
                key=key,
                amount=amount,
                lines=[
                    {
                        "line": line.pk,
                        "service": line.service_id,
                        "quantity": wanted[line.pk],
                        "amount": str(shares[line.pk]),
                    }
                    for line in current
                    if line.pk in wanted
                ],
                reason=reason.strip()[:255],
                created_by=actor if getattr(actor, "pk", None) else None,
            )
    except IntegrityError:
        # The same key for another member's visit won a race: the member lock
        # does not serialise those, the unique key does.
        existing = VisitRefund.objects.filter(key=key).first()
        if existing is None:
            raise
        return _refund_same_or_conflict(existing, visit, wanted)
    for line_id, qty in wanted.items():
        VisitLine.objects.filter(pk=line_id).update(
            refunded_quantity=F("refunded_quantity") + qty
        )
    Visit.objects.filter(pk=visit.pk).update(
        amount_refunded=Round(F("amount_refunded") + amount, 2)
    )
    Member.objects.filter(pk=visit.member_id).update(
        total_spent=Round(F("total_spent") - amount, 2)
    )
    visit.refresh_from_db(fields=["amount_refunded"])
    visit_flow.visit_partially_refunded(
        visit_flow.VisitPartiallyRefunded(visit=visit, refund=refund, actor=actor)
    )
    if last:
        _visit_reverse(
            visit=visit, to=Visit.Status.REFUNDED, reason=reason, actor=actor
        )
    return refund


def _refund_lines_check(visit: Visit, lines) -> dict[int, int]:
    """{line id: quantity} of a refund request, checked for shape (not stock)."""
    if not lines:
        raise _field_error(
            "lines", _("Choose at least one line to refund."), "no_lines"
        )
    wanted: dict[int, int] = {}
    for line, qty in lines:
        if line.visit_id != visit.pk:
            raise _field_error(
                "lines",
                _("Line #%(line)s is not a line of visit #%(visit)s.")
                % {"line": line.pk, "visit": visit.pk},
                "refund_line_not_in_visit",
            )
        if line.pk in wanted:
            raise _field_error(
                "lines",
                _("Line #%(line)s is listed twice.") % {"line": line.pk},
                "refund_line_duplicate",
            )
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise _field_error(
                "lines",
                _("Refund a whole number of at least 1 of each line."),
                "refund_quantity_invalid",
            )
        wanted[line.pk] = qty
    return wanted


def _refund_amount(
    visit: Visit, lines: list[VisitLine], wanted: dict[int, int], *, last: bool
) -> tuple[Decimal, dict[int, Decimal]]:
    """Money a refund returns, and how it splits over its lines (adds up exactly).

    A unit's share: ``amount_paid × price / Σ price × quantity``. The refund of
    the last units left takes exactly the rest of ``amount_paid``.
    """
    gross = sum((ln.price * ln.quantity for ln in lines), Decimal("0"))
    left = visit.amount_paid - visit.amount_refunded
    raw = {
        ln.pk: (visit.amount_paid * ln.price * wanted[ln.pk] / gross)
        if gross
        else Decimal("0")
        for ln in lines
        if ln.pk in wanted
    }
    total_raw = sum(raw.values(), Decimal("0"))
    amount = left if last else min(money(total_raw), left)
    # Split by cumulative rounding: each line's share is the step between two
    # rounded running totals, so the shares are never negative and add up.
    shares: dict[int, Decimal] = {}
    running = Decimal("0")
    before = Decimal("0")
    for line_id, part in raw.items():
        running += part
        upto = money(amount * running / total_raw if total_raw else 0)
        shares[line_id] = upto - before
        before = upto
    if shares and before != amount:  # nothing to spread (a free visit's lines)
        shares[next(reversed(shares))] += amount - before
    return amount, shares


def _refund_same_or_conflict(
    existing: VisitRefund, visit: Visit, wanted: dict[int, int]
) -> VisitRefund:
    sent = {item["line"]: item["quantity"] for item in existing.lines}
    if existing.visit_id != visit.pk or sent != wanted:
        raise _field_error(
            "key",
            _("Refund “%(key)s” was already made with other lines.")
            % {"key": existing.key},
            "refund_key_conflict",
        )
    return existing


def _visit_reverse(*, visit: Visit, to: str, reason: str, actor) -> Visit:
    Member.objects.select_for_update().filter(pk=visit.member_id).get()
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    if visit.status == to:
        return visit
    if visit.status != Visit.Status.PAID:
        raise ValidationError(
            _("Visit #%(id)s is not paid (status: %(status)s).")
            % {"id": visit.pk, "status": visit.get_status_display()},
            code="visit_not_paid",
        )
    visit.status = to
    visit.status_reason = reason.strip()[:255]
    visit.status_changed_at = timezone.now()
    visit.status_changed_by = actor
    visit.save(
        update_fields=[
            "status",
            "status_reason",
            "status_changed_at",
            "status_changed_by",
        ]
    )
    first, last = selectors.member_paid_visit_bounds(member_id=visit.member_id)
    Member.objects.filter(pk=visit.member_id).update(
        visits_count=F("visits_count") - 1,
        # Partial refunds already took their money out of the total.
        total_spent=Round(
            F("total_spent") - (visit.amount_paid - visit.amount_refunded), 2
        ),
        first_visit_at=first,
        last_visit_at=last,
    )
    visit_flow.visit_reversed(visit_flow.VisitReversed(visit=visit, actor=actor))
    return visit


def member_stats_reconcile() -> int:
    """Repair the cached visit stats of every member whose cache drifted.

    One UPDATE over the members that differ from their paid visits; a second
    run finds nothing to do. Returns how many members were repaired.
    """
    return selectors.members_with_stale_stats().update(
        **selectors.member_stats_expressions()
    )


def price_lines(lines: list[VisitLineInput]) -> list[tuple[Service, Decimal, int]]:
    """Validate lines and price them: (service, unit price, quantity) each."""
    return _lines_price(lines)


def _lines_price(lines: list[VisitLineInput]) -> list[tuple[Service, Decimal, int]]:
    if not lines:
        raise _field_error(
            "lines", _("A visit needs at least one service."), "no_lines"
        )
    ids = {ln.service if isinstance(ln.service, int) else ln.service.pk for ln in lines}
    services = Service.objects.in_bulk(ids)
    priced = []
    for line in lines:
        service_id = line.service if isinstance(line.service, int) else line.service.pk
        service = services.get(service_id)
        if service is None:
            raise _field_error(
                "lines",
                _("Unknown service #%(id)s.") % {"id": service_id},
                "unknown_service",
            )
        if (
            not isinstance(line.quantity, int)
            or not 1 <= line.quantity <= MAX_LINE_QUANTITY
        ):
            raise _field_error(
                "lines",
                _("Quantity must be a whole number from 1 to %(max)s.")
                % {"max": MAX_LINE_QUANTITY},
                "invalid_quantity",
            )
        price = (
            service.base_price
            if line.price is None
            else _money_field(line.price, "lines")
        )
        priced.append((service, price, line.quantity))
    return priced


def _money_field(value, field: str) -> Decimal:
    try:
        amount = money(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise _field_error(
            field,
            _("“%(value)s” is not an amount of money.") % {"value": value},
            "invalid_amount",
        ) from exc
    if not amount.is_finite() or amount < 0:
        raise _field_error(field, _("An amount cannot be negative."), "negative_amount")
    if amount >= Decimal("1e10"):
        raise _field_error(field, _("The amount is too large."), "amount_too_large")
    return amount


def _visit_fingerprint(member_id, location_id, paid_at, priced, paid) -> str:
    payload = {
        "member": member_id,
        "location": location_id,
        "paid_at": paid_at.astimezone(UTC).isoformat(timespec="seconds"),
        "amount_paid": str(paid),
        "lines": sorted([s.pk, str(p), q] for s, p, q in priced),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _visit_same_or_conflict(existing: Visit, fingerprint: str) -> Visit:
    if existing.fingerprint != fingerprint:
        raise _field_error(
            "external_id",
            _("Booking “%(id)s” was already recorded with different content.")
            % {"id": existing.external_id},
            "external_id_conflict",
        )
    return existing
