"""Writes for visits: record, cancel and refund a whole visit; the cached stats.

Lock order: the member row first, always (then the visit; then the visit
reactions lock the wallet). An anonymous visit (no member) has no member row
to lock: its own row is the lock, and it touches no member's stats.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import zip_longest
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce, Greatest, Least, Round
from django.utils import timezone
from django.utils.translation import gettext as _

from core import locks
from core.errors import field_error
from core.rows import rows_insert
from members import selectors, visit_flow
from members.hashing import card_token_hash
from members.models import Location, Member, Service, Specialist, Visit, VisitLine
from members.money import money
from webhooks.services import event_emit, iso
from webhooks.services import money as money_text

T = TypeVar("T")

MAX_LINE_QUANTITY = 100
# A visit may be stamped a little in the future: tills and servers disagree.
PAID_AT_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class VisitLineInput:
    """A line as a caller sends it; ``price`` defaults to the service's base price."""

    service: Service | int
    quantity: int = 1
    price: Decimal | str | int | None = None
    # Why ``price`` differs from the service's (the checkout requires one).
    price_reason: str = ""
    # Who performed it: the specialist, their id or their code (None: not said).
    specialist: Specialist | int | str | None = None


@dataclass(frozen=True)
class VisitRecordResult:
    visit: Visit
    created: bool  # False when an identical booking had already been recorded
    # What each visit reaction returned, in order (``visit_flow``): an app
    # finds its own typed result with ``reaction(ItsResultType)``.
    reactions: tuple = ()

    def reaction(self, kind: type[T]) -> T | None:
        return next((r for r in self.reactions if isinstance(r, kind)), None)


def member_lock(member_id: int, *, defer: tuple[str, ...] = ()) -> Member:
    """Lock the member's row: the first lock of every write about their visits.

    ``defer``: fields the caller does not read (loaded on first access).
    """
    member = locks.row_lock(Member, member_id, defer=defer)
    if member is None:
        raise Member.DoesNotExist(f"member {member_id}")
    return member


def member_active_check(member: Member) -> None:
    if member.status != Member.Status.ACTIVE:
        raise field_error(
            "member",
            _("Only active members can record visits (status: %(status)s).")
            % {"status": member.get_status_display()},
            "member_not_active",
        )


def visit_checks(
    *, source: str, paid_at: datetime, location: Location, payment_method: str = ""
) -> None:
    """What any recorded visit must satisfy besides its lines.

    ``payment_method`` is one of ``Visit.PaymentMethod`` or empty (not stated).
    """
    if source not in Visit.Source.values:
        raise field_error("source", _("Unknown visit source."), "invalid_source")
    if payment_method and payment_method not in Visit.PaymentMethod.values:
        raise field_error(
            "payment_method",
            _("Unknown payment method."),
            "invalid_payment_method",
        )
    if paid_at > timezone.now() + PAID_AT_CLOCK_SKEW:
        raise field_error(
            "paid_at", _("A visit cannot be paid in the future."), "paid_at_in_future"
        )
    if not location.is_active:
        raise field_error(
            "location", _("This location is closed."), "location_inactive"
        )


@transaction.atomic
def visit_record(
    *,
    member: Member | None,
    location: Location,
    lines: list[VisitLineInput],
    paid_at: datetime | None = None,
    amount_paid: Decimal | str | int | None = None,
    source: str = Visit.Source.ADMIN,
    external_id: str = "",
    recorded_by=None,
    note: str = "",
    context: dict | None = None,
    payment_card_token: str = "",
    payment_method: str = "",
) -> VisitRecordResult:
    """Record a visit priced elsewhere (an import, a test) and add it to the stats.

    The front desk and the POS record visits through the checkout
    (``rewards.services.checkout_commit``), which prices them and calls
    ``visit_insert`` itself. Idempotent by ``(source, external_id)``: the same
    booking sent again returns the visit recorded the first time; the same id
    with other content is refused (``external_id_conflict``). Bad input raises
    ``ValidationError`` and writes nothing. A new visit is handed to the visit
    flow (points, tiers…) in this transaction; ``context`` goes with it.
    A ``payment_card_token`` from the POS is kept only as a salted hash.
    ``member=None`` records an anonymous visit (no stats, no reactions).
    """
    paid_at = paid_at or timezone.now()
    external_id = (external_id or "").strip()
    visit_checks(
        source=source,
        paid_at=paid_at,
        location=location,
        payment_method=payment_method,
    )
    priced = _lines_price(lines)
    specialists = specialists_check(lines, location=location)
    total = money(sum((price * qty for _s, price, qty in priced), Decimal("0")))
    paid = total if amount_paid is None else _money_field(amount_paid, "amount_paid")
    if paid > total:
        raise field_error(
            "amount_paid",
            _("The amount paid cannot exceed the visit total."),
            "amount_paid_exceeds_total",
        )
    fingerprint = booking_fingerprint(
        {
            "member": member.pk if member is not None else None,
            "location": location.pk,
            "paid_at": paid_at.astimezone(UTC).isoformat(timespec="seconds"),
            "amount_paid": str(paid),
            "lines": fingerprint_lines(priced, specialists),
            # Only when stated: bookings recorded before it was asked keep
            # their fingerprints.
            **({"payment_method": payment_method} if payment_method else {}),
        }
    )
    # Lock order: the member row first, always, so concurrent writers for one
    # member queue up instead of deadlocking.
    if member is not None:
        member = member_lock(member.pk)
        member_active_check(member)
    if external_id:
        existing = selectors.visit_by_external_id(
            source=source, external_id=external_id
        )
        if existing is not None:
            return VisitRecordResult(
                visit_same_or_conflict(existing, fingerprint), False
            )
    try:
        # A savepoint: another member's request may carry the same external id
        # and win; the member lock does not serialise those, the unique key does.
        with transaction.atomic():
            return visit_insert(
                member=member,
                location=location,
                priced=priced,
                amount_paid=paid,
                paid_at=paid_at,
                source=source,
                external_id=external_id,
                fingerprint=fingerprint,
                recorded_by=recorded_by,
                note=note,
                payment_card_token=payment_card_token,
                payment_method=payment_method,
                context=context,
                specialists=specialists,
            )
    except IntegrityError:
        existing = selectors.visit_by_external_id(
            source=source, external_id=external_id
        )
        if existing is None:
            raise
        return VisitRecordResult(visit_same_or_conflict(existing, fingerprint), False)


def visit_insert(
    *,
    member: Member | None,
    location: Location,
    priced: list[tuple[Service, Decimal, int]],
    amount_paid: Decimal,
    paid_at: datetime,
    source: str,
    external_id: str,
    fingerprint: str,
    recorded_by=None,
    note: str = "",
    payment_card_token: str = "",
    payment_method: str = "",
    context: dict | None = None,
    price_reasons: Sequence[str] = (),
    specialists: Sequence[Specialist | None] = (),
) -> VisitRecordResult:
    """Write a new visit, its lines and the member's stats; run the visit flow.

    The caller holds the member's lock, has run ``visit_checks`` and the lines'
    pricing, and has found no visit under this booking id. A duplicate
    ``(source, external_id)`` from a race raises ``IntegrityError``.
    Each line keeps its service's price of the day; ``price_reasons`` (in the
    order of ``priced``) say why a line's own price differs from it;
    ``specialists`` (same order, from ``specialists_check``) who performed it.
    ``payment_method`` was checked by ``visit_checks`` (empty: not stated).
    ``member`` None records an anonymous visit: its lines and money only, no
    member's stats, no visit reactions (``visit_flow``).
    """
    total = money(sum((price * qty for _s, price, qty in priced), Decimal("0")))
    visit = Visit(
        member=member,
        location=location,
        source=source,
        external_id=external_id,
        fingerprint=fingerprint,
        total=total,
        amount_paid=amount_paid,
        paid_at=paid_at,
        recorded_by=recorded_by,
        note=note,
        payment_card_hash=card_token_hash(payment_card_token),
        payment_method=payment_method,
    )
    rows_insert([visit])
    visit.lines_recorded = rows_insert(
        [
            VisitLine(
                visit=visit,
                service=service,
                price=price,
                list_price=service.base_price,
                price_reason=(
                    reason.strip()[:255]
                    if price != service.base_price and reason
                    else ""
                ),
                quantity=qty,
                specialist=specialist or None,
            )
            for (service, price, qty), reason, specialist in zip_longest(
                priced,
                price_reasons[: len(priced)],
                specialists[: len(priced)],
                fillvalue="",
            )
        ]
    )
    if member is not None:
        _member_stats_add(member.pk, amount_paid, paid_at)
    reactions = visit_flow.visit_recorded(
        visit_flow.VisitRecorded(visit=visit, actor=recorded_by, context=context or {})
    )
    event_emit(type="visit.recorded", data=lambda: visit_webhook_data(visit))
    return VisitRecordResult(visit, True, reactions)


def visit_webhook_data(visit: Visit) -> dict:
    """A visit in webhook events (visit.recorded, visit.cancelled, visit.refunded)."""
    return {
        "visit_id": visit.pk,
        "member_id": visit.member_id,
        "location_id": visit.location_id,
        "location": visit.location.code,
        "paid_at": iso(visit.paid_at),
        "total": money_text(visit.total),
        "amount_paid": money_text(visit.amount_paid),
        "amount_refunded": money_text(visit.amount_refunded),
        "status": visit.status,
        "source": visit.source,
        "external_id": visit.external_id,
    }


_STATS_ADD_SQL = """
UPDATE members_member SET
    visits_count = visits_count + 1,
    total_spent = ROUND(total_spent + %s, 2),
    first_visit_at = LEAST(COALESCE(first_visit_at, %s), %s),
    last_visit_at = GREATEST(COALESCE(last_visit_at, %s), %s)
WHERE id = %s
"""


def _member_stats_add(member_id: int, amount_paid: Decimal, paid_at: datetime) -> None:
    """Add a visit to the member's cached stats, in SQL (concurrent-safe deltas).

    On PostgreSQL one statement written out (the checkout's hot path: half the
    CPU of the ORM compiling it every time); elsewhere the same through the ORM.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _STATS_ADD_SQL,
                [amount_paid, paid_at, paid_at, paid_at, paid_at, member_id],
            )
        return
    Member.objects.filter(pk=member_id).update(
        visits_count=F("visits_count") + 1,
        # Rounded in SQL: SQLite keeps decimals as binary floats, and unrounded
        # sums drift (0.10 + 0.70 - 0.70 - 0.10 < 0 breaks the CHECK).
        total_spent=Round(F("total_spent") + amount_paid, 2),
        first_visit_at=Least(
            Coalesce(F("first_visit_at"), Value(paid_at)), Value(paid_at)
        ),
        last_visit_at=Greatest(
            Coalesce(F("last_visit_at"), Value(paid_at)), Value(paid_at)
        ),
    )


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


def _visit_reverse(*, visit: Visit, to: str, reason: str, actor) -> Visit:
    if visit.member_id is not None:
        member_lock(visit.member_id)
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
    if visit.member_id is not None:
        _member_stats_remove(visit)
    visit_flow.visit_reversed(visit_flow.VisitReversed(visit=visit, actor=actor))
    event_emit(
        type=("visit.cancelled" if to == Visit.Status.CANCELLED else "visit.refunded"),
        data=lambda: {
            **visit_webhook_data(visit),
            "partial": False,
            "reason": visit.status_reason,
        },
    )
    return visit


def _member_stats_remove(visit: Visit) -> None:
    """Take a visit no longer paid out of its member's cached stats."""
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


def member_stats_reconcile() -> int:
    """Repair the cached visit stats of every member whose cache drifted.

    One UPDATE over the members that differ from their paid visits; a second
    run finds nothing to do. Returns how many members were repaired.
    """
    return selectors.members_with_stale_stats().update(
        **selectors.member_stats_expressions()
    )


def services_by_id(ids) -> dict[int, Service]:
    """These services, from the process cache (the database for one it lacks)."""
    cached = selectors.services_by_id()
    found = {i: cached[i] for i in ids if i in cached}
    missing = set(ids) - set(found)
    if missing:
        found.update(Service.objects.in_bulk(missing))
    return found


def price_lines(lines: list[VisitLineInput]) -> list[tuple[Service, Decimal, int]]:
    """Validate lines and price them: (service, unit price, quantity) each."""
    return _lines_price(lines)


def _lines_price(lines: list[VisitLineInput]) -> list[tuple[Service, Decimal, int]]:
    if not lines:
        raise field_error("lines", _("A visit needs at least one service."), "no_lines")
    ids = {ln.service if isinstance(ln.service, int) else ln.service.pk for ln in lines}
    services = services_by_id(ids)
    priced = []
    for line in lines:
        service_id = line.service if isinstance(line.service, int) else line.service.pk
        service = services.get(service_id)
        if service is None:
            raise field_error(
                "lines",
                _("Unknown service #%(id)s.") % {"id": service_id},
                "unknown_service",
            )
        if (
            not isinstance(line.quantity, int)
            or not 1 <= line.quantity <= MAX_LINE_QUANTITY
        ):
            raise field_error(
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


def specialists_check(
    lines: Sequence[VisitLineInput], *, location: Location
) -> list[Specialist | None]:
    """Each line's specialist (None where not said), checked for ``location``.

    A specialist is named by instance, id or code; they must exist, be active
    and work at the visit's location. Lines without one cost no query; all the
    named ones are read in one (with the locations they work at).
    """
    refs = [ln.specialist for ln in lines]
    wanted = [r for r in refs if r is not None and r != ""]
    if not wanted:
        return [None] * len(refs)
    ids = {
        r.pk if isinstance(r, Specialist) else r
        for r in wanted
        if not isinstance(r, str)
    }
    codes = {r for r in wanted if isinstance(r, str)}
    query = Q(pk__in=ids) | Q(code__in=codes)
    found = list(
        Specialist.objects.filter(query).annotate(
            at_location=Exists(
                Specialist.locations.through.objects.filter(
                    specialist_id=OuterRef("pk"), location_id=location.pk
                )
            )
        )
    )
    by_id = {sp.pk: sp for sp in found}
    by_code = {sp.code: sp for sp in found}
    out: list[Specialist | None] = []
    for ref in refs:
        if ref is None or ref == "":
            out.append(None)
            continue
        if isinstance(ref, str):
            specialist = by_code.get(ref)
        else:
            specialist = by_id.get(ref.pk if isinstance(ref, Specialist) else ref)
        if specialist is None:
            raise field_error(
                "lines",
                _("Unknown specialist “%(ref)s”.")
                % {"ref": ref.pk if isinstance(ref, Specialist) else ref},
                "unknown_specialist",
            )
        if not specialist.is_active:
            raise field_error(
                "lines",
                _("%(name)s no longer works here (inactive specialist).")
                % {"name": specialist.name},
                "specialist_not_active",
            )
        if not specialist.at_location:
            raise field_error(
                "lines",
                _("%(name)s does not work at %(location)s.")
                % {"name": specialist.name, "location": location.name},
                "specialist_not_at_location",
            )
        out.append(specialist)
    return out


def fingerprint_lines(
    priced: Sequence[tuple[Service, Decimal, int]],
    specialists: Sequence[Specialist | None] = (),
) -> list[list]:
    """The lines as a booking's fingerprint holds them, sorted.

    A line's specialist enters only when set, so bookings recorded without
    one keep their fingerprints and their retries still replay.
    """
    return sorted(
        [s.pk, str(p), q, *([sp.pk] if sp else [])]
        for (s, p, q), sp in zip_longest(priced, specialists[: len(priced)])
    )


def _money_field(value, field: str) -> Decimal:
    try:
        amount = money(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise field_error(
            field,
            _("“%(value)s” is not an amount of money.") % {"value": value},
            "invalid_amount",
        ) from exc
    if not amount.is_finite() or amount < 0:
        raise field_error(field, _("An amount cannot be negative."), "negative_amount")
    if amount >= Decimal("1e10"):
        raise field_error(field, _("The amount is too large."), "amount_too_large")
    return amount


def booking_fingerprint(payload: dict) -> str:
    """What makes a booking the same booking: a hash of its content."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def visit_same_or_conflict(
    existing: Visit, fingerprint: str, paid_at: datetime | None = None
) -> Visit:
    """The one "same booking?" check: a retry must carry the same content.

    ``paid_at`` (when the retry names one) must be the time recorded.
    """
    if existing.fingerprint != fingerprint or (
        paid_at is not None and paid_at != existing.paid_at
    ):
        raise field_error(
            "external_id",
            _("Booking “%(id)s” was already recorded with different content.")
            % {"id": existing.external_id},
            "external_id_conflict",
        )
    return existing
