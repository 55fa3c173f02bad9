"""A price other than the service's: who may charge it, how far, and why.

A line's price defaults to its service's price. A different one creates value
for the member (a lower bill, or points and a tier from a higher one), so it
comes only from someone allowed to set it, within the program's limit
(``ProgramSettings.price_change_limit_pct``, up or down) unless a manager
approves more, and always with a reason, which the visit line keeps beside the
service's price of that day.

Who may is the caller's ``PriceAuthority``: the admin's checkout derives it
from the user's permissions (``price_authority_of``), a POS system's key has
``LIMITED`` (its till sets prices within the limit), and anything else
``NONE``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from decimal import Decimal

from django.utils.translation import gettext as _

from core.errors import field_error
from members.models import Service
from rewards import selectors
from rewards.explain import number_text

CHANGE_PERMISSION = "members.change_visit_price"
APPROVE_PERMISSION = "members.approve_visit_price"


class PriceAuthority(enum.Enum):
    NONE = "none"  # the service's price only
    LIMITED = "limited"  # within the program's limit
    ANY = "any"  # beyond it too: a manager's approval


def price_authority_of(user) -> PriceAuthority:
    """What a staff user may do to a line's price, by their permissions."""
    if user is None or not user.is_authenticated:
        return PriceAuthority.NONE
    if user.has_perm(APPROVE_PERMISSION):
        return PriceAuthority.ANY
    if user.has_perm(CHANGE_PERMISSION):
        return PriceAuthority.LIMITED
    return PriceAuthority.NONE


def price_change_pct(list_price: Decimal, price: Decimal) -> Decimal | None:
    """How far ``price`` is from ``list_price``, in percent of it (None: from
    a free service, any price is beyond every limit)."""
    if list_price == 0:
        return None
    return abs(price - list_price) * 100 / list_price


def price_changes_check(
    lines: Sequence[tuple[Service, Decimal, str]],
    *,
    authority: PriceAuthority,
) -> None:
    """Refuse a changed price without a reason, without the right, or beyond
    the limit without approval. ``lines``: (service, unit price, reason)."""
    limit = None
    for service, price, reason in lines:
        if price == service.base_price:
            continue
        name = {"service": service.name}
        if authority is PriceAuthority.NONE:
            raise field_error(
                "lines",
                _(
                    "Only staff allowed to change prices may charge other than "
                    "the price of “%(service)s”."
                )
                % name,
                "price_change_not_allowed",
            )
        if not (reason or "").strip():
            raise field_error(
                "lines",
                _("Say why “%(service)s” costs other than its price.") % name,
                "price_reason_required",
            )
        if authority is PriceAuthority.ANY:
            continue
        if limit is None:
            limit = selectors.program_settings().price_change_limit_pct
        pct = price_change_pct(service.base_price, price)
        if pct is None or pct > limit:
            raise field_error(
                "lines",
                _(
                    "The price of “%(service)s” differs from its price by more "
                    "than %(limit)s%%: a manager must approve it."
                )
                % {**name, "limit": number_text(limit)},
                "price_beyond_limit",
            )
