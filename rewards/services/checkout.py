"""Checkout pricing: one quote for the admin page and the POS API, and its commit.

``checkout_quote`` prices a visit line by line and changes nothing;
``checkout_commit`` records the paid visit with exactly that breakdown. The
pricing itself (benefit sources and their stacking) is ``rewards.services.pricing``;
campaigns and promo codes plug in there as further sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members import selectors as member_selectors
from members import services as member_services
from members.models import Location, Member, Visit
from members.money import money
from members.services import VisitLineInput
from rewards.models import LedgerEntry, Tier
from rewards.services.ledger import wallet_lock
from rewards.services.pricing import (  # noqa: F401  (re-exported)
    BENEFIT_SOURCES,
    Benefit,
    PricingContext,
    Quote,
    QuoteLine,
    price_visit,
)


@transaction.atomic
def checkout_quote(
    *,
    member: Member,
    location: Location,
    lines: list[VisitLineInput],
    voucher_codes: list[str] | None = None,
    points_to_use: int = 0,
) -> Quote:
    """Price a visit for ``member``: every benefit with its source. Writes nothing.

    (It takes the wallet row lock for a consistent read; the transaction holds
    it only for the quote's few queries.)
    """
    # Fresh from the database: the caller's copy may predate a visit, and the
    # first-visit discount depends on it.
    member = Member.objects.get(pk=member.pk)
    state = wallet_lock(member.pk, create=False)
    return price_visit(
        member=member,
        location=location,
        lines=lines,
        voucher_codes=voucher_codes or [],
        points_to_use=points_to_use,
        state=state,
        at=timezone.now(),
    )


@dataclass
class CheckoutResult:
    visit: Visit
    created: bool
    quote: Quote | None
    points_earned: int
    tier_upgraded_to: Tier | None = None


@transaction.atomic
def checkout_commit(
    *,
    member: Member,
    location: Location,
    lines: list[VisitLineInput],
    voucher_codes: list[str] | None = None,
    points_to_use: int = 0,
    external_id: str = "",
    source: str = Visit.Source.ADMIN,
    paid_at: datetime | None = None,
    recorded_by=None,
    note: str = "",
    payment_card_token: str = "",
) -> CheckoutResult:
    """Record the paid visit exactly as quoted, atomically; idempotent by external id.

    A retry with the same external id returns the visit recorded the first time
    (its points and benefits are not applied again).
    """
    # Lock order: member row, then wallet (members.services locks the member too).
    member = Member.objects.select_for_update().get(pk=member.pk)
    if external_id.strip():
        existing = member_selectors.visit_by_external_id(
            source=source, external_id=external_id.strip()
        )
        if existing is not None:
            if not _same_booking(existing, member, location, lines):
                raise ValidationError(
                    {
                        "external_id": ValidationError(
                            _(
                                "Booking “%(id)s” was already recorded with "
                                "different content."
                            )
                            % {"id": existing.external_id},
                            code="external_id_conflict",
                        )
                    }
                )
            earned = sum(
                e.amount
                for e in LedgerEntry.objects.filter(
                    visit=existing, kind=LedgerEntry.Kind.EARN
                )
            )
            return CheckoutResult(existing, False, None, earned)
    state = wallet_lock(member.pk)
    quote = price_visit(
        member=member,
        location=location,
        lines=lines,
        voucher_codes=voucher_codes or [],
        points_to_use=points_to_use,
        state=state,
        at=timezone.now(),
    )
    outcome: dict = {}
    result = member_services.visit_record(
        member=member,
        location=location,
        lines=[
            VisitLineInput(
                service=ln.service, quantity=ln.quantity, price=ln.unit_price
            )
            for ln in quote.lines
        ],
        paid_at=paid_at,
        amount_paid=quote.amount_to_pay,
        source=source,
        external_id=external_id,
        recorded_by=recorded_by,
        note=note,
        payment_card_token=payment_card_token,
        context={
            "quote": quote,
            "wallet": state,
            "settings": quote.settings,
            "outcome": outcome,
        },
    )
    return CheckoutResult(
        result.visit,
        result.created,
        quote,
        outcome.get("earned", 0),
        outcome.get("upgraded_to"),
    )


def _same_booking(visit: Visit, member: Member, location: Location, lines) -> bool:
    """Is a retried checkout the booking already recorded (member, place, lines)?

    Prices and quantities are compared as the visit stored them; a retry that
    omits prices means the base prices, as the first call did.
    """
    if visit.member_id != member.pk or visit.location_id != location.pk:
        return False
    recorded = sorted(
        (ln.service_id, ln.quantity, ln.price) for ln in visit.lines.all()
    )
    try:
        asked = sorted(
            (s.pk, q, money(p)) for s, p, q in member_services.price_lines(lines)
        )
    except ValidationError:
        return False
    return recorded == asked
