"""Partial refunds: some units of some lines of a paid visit."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Round
from django.utils.translation import gettext as _

from core.errors import field_error
from members import visit_flow
from members.models import Member, Visit, VisitLine, VisitRefund
from members.money import money
from members.services.visits import _visit_reverse, visit_webhook_data
from webhooks.services import event_emit
from webhooks.services import money as money_text

REFUND_KEY_MAX = VisitRefund._meta.get_field("key").max_length


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
        raise field_error(
            "key",
            _("A refund needs an idempotency key of 1 to %(max)s characters.")
            % {"max": REFUND_KEY_MAX},
            "invalid_key",
        )
    wanted = _refund_lines_check(visit, lines)

    # Lock order as everywhere: the member row, then the visit (then the
    # reactions lock the wallet). An anonymous visit: the visit row alone.
    if visit.member_id is not None:
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
            raise field_error(
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
    last = _refund_is_last(current, wanted)
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
    if visit.member_id is not None:
        Member.objects.filter(pk=visit.member_id).update(
            total_spent=Round(F("total_spent") - amount, 2)
        )
    visit.refresh_from_db(fields=["amount_refunded"])
    visit_flow.visit_partially_refunded(
        visit_flow.VisitPartiallyRefunded(visit=visit, refund=refund, actor=actor)
    )
    event_emit(
        type="visit.refunded",
        data=lambda: {
            **visit_webhook_data(visit),
            "partial": True,
            "refund_id": refund.pk,
            "refund_amount": money_text(refund.amount),
            "reason": refund.reason,
        },
    )
    if last:
        _visit_reverse(
            visit=visit, to=Visit.Status.REFUNDED, reason=reason, actor=actor
        )
    return refund


def refund_unit_amounts(*, visit: Visit, lines: list[VisitLine]) -> dict[int, Decimal]:
    """{line id: money} refunding one more unit of each line would return now.

    The figure ``visit_refund_partial`` computes for that refund: the unit's
    share of what was paid in money (after discounts and points), never more
    than is left, and all that is left for the very last unit. ``lines`` are
    all the visit's lines; lines with nothing left to refund are left out.
    """
    amounts = {}
    for line in lines:
        if line.refunded_quantity >= line.quantity:
            continue
        wanted = {line.pk: 1}
        last = _refund_is_last(lines, wanted)
        amounts[line.pk], _shares = _refund_amount(visit, lines, wanted, last=last)
    return amounts


def _refund_is_last(lines: list[VisitLine], wanted: dict[int, int]) -> bool:
    """Whether refunding ``wanted`` returns the last units of the visit."""
    return all(
        line.refunded_quantity + wanted.get(line.pk, 0) >= line.quantity
        for line in lines
    )


def _refund_lines_check(visit: Visit, lines) -> dict[int, int]:
    """{line id: quantity} of a refund request, checked for shape (not stock)."""
    if not lines:
        raise field_error("lines", _("Choose at least one line to refund."), "no_lines")
    wanted: dict[int, int] = {}
    for line, qty in lines:
        if line.visit_id != visit.pk:
            raise field_error(
                "lines",
                _("Line #%(line)s is not a line of visit #%(visit)s.")
                % {"line": line.pk, "visit": visit.pk},
                "refund_line_not_in_visit",
            )
        if line.pk in wanted:
            raise field_error(
                "lines",
                _("Line #%(line)s is listed twice.") % {"line": line.pk},
                "refund_line_duplicate",
            )
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise field_error(
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
        raise field_error(
            "key",
            _("Refund “%(key)s” was already made with other lines.")
            % {"key": existing.key},
            "refund_key_conflict",
        )
    return existing
