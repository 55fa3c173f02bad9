"""Anonymous visits: a sale at the till to a client who is no member.

Recorded for revenue and for the average check of members against everyone
else; it earns nothing. Its price is the lines' prices (the services' own, or
the till's within the program's price change limit, with a reason): no tier
or first-visit discount, no promotion, no voucher, no points — those are a
member's. A checkout sending any of them without a member is refused with the
code ``member_only`` on the field, never silently dropped.

``checkout_quote`` and ``checkout_commit`` (``rewards.services.checkout``) take
``member=None`` for one and hand over here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from members import services as member_services
from members.models import Location
from members.money import money
from members.services import VisitLineInput
from rewards.services.price_changes import PriceAuthority, price_changes_check
from rewards.services.pricing import QuoteLine

ZERO = Decimal("0.00")
MEMBER_ONLY = "member_only"


def anonymous_inputs_check(inputs: Mapping[str, Any]) -> None:
    """Refuse what only a member can use: vouchers, promo codes, points.

    Every checkout input beyond the lines is a member's benefit, so any one
    given (not empty, not zero) is refused, each on its own field.
    """
    refused = {
        name: ValidationError(
            _("An anonymous visit cannot use vouchers, promo codes or points."),
            code=MEMBER_ONLY,
        )
        for name, value in inputs.items()
        if value
    }
    if refused:
        raise ValidationError(refused)


@dataclass
class AnonymousQuote:
    """A quote with no member: the lines at their prices, nothing off, nothing
    earned. Reads like ``rewards.services.pricing.Quote``."""

    location: Location
    lines: list[QuoteLine]
    member: None = None
    tier: None = None
    benefits: list = field(default_factory=list)
    vouchers: list = field(default_factory=list)
    near_misses: list = field(default_factory=list)
    points_used: int = 0
    points_available: int = 0
    points_max: int = 0
    points_to_earn: int = 0
    discount_total: Decimal = ZERO
    points_money: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return money(sum((ln.gross for ln in self.lines), ZERO))

    @property
    def amount_to_pay(self) -> Decimal:
        return self.total

    @property
    def earn_explanation(self) -> str:
        return _("An anonymous visit earns no points.")


def lines_priced(
    lines: list[VisitLineInput],
    *,
    location: Location,
    price_authority: PriceAuthority,
):
    """The lines priced, their specialists checked and their own prices within
    the caller's authority: ``(priced, specialists)`` as ``visit_insert`` takes
    them. Every checkout's first step, a member's or not."""
    priced = member_services.price_lines(lines)
    specialists = member_services.specialists_check(lines, location=location)
    price_changes_check(
        [(s, p, ln.price_reason) for (s, p, _q), ln in zip(priced, lines, strict=True)],
        authority=price_authority,
    )
    return priced, specialists


def anonymous_quote(
    *,
    location: Location,
    lines: list[VisitLineInput],
    price_authority: PriceAuthority = PriceAuthority.NONE,
    inputs: Mapping[str, Any],
) -> AnonymousQuote:
    """Price an anonymous basket: each line at its price. Writes nothing."""
    anonymous_inputs_check(inputs)
    priced, specialists = lines_priced(
        lines, location=location, price_authority=price_authority
    )
    return AnonymousQuote(
        location=location,
        lines=[
            QuoteLine(
                service=service,
                quantity=qty,
                unit_price=price,
                gross=money(price * qty),
                specialist_id=specialist.pk if specialist else None,
            )
            for (service, price, qty), specialist in zip(
                priced, specialists, strict=True
            )
        ],
    )
