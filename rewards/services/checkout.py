"""Checkout: one quote for the admin page and the POS API, and its commit.

``checkout_quote`` prices a visit line by line and changes nothing (it takes no
lock: a quote never waits behind a commit). ``checkout_commit`` records the
paid visit with exactly that breakdown, in one transaction:

1. lock the member row, once (``members.services.member_lock``);
2. the one "same booking?" check: a booking id recorded before answers the
   visit recorded the first time (or ``external_id_conflict``), before any
   pricing — a replay never re-prices vouchers already used;
3. lock the wallet (``rewards.services.ledger.wallet_lock``), price the visit
   (``pricing.price_visit``: the benefit sources of ``REGULARS_BENEFIT_SOURCES``);
4. insert the visit (``members.services.visit_insert``): the visit flow runs the
   rewards reaction (benefits, vouchers, points paid and earned, tier) with the
   quote and the locked wallet handed down, and returns typed results;
5. ``receipt`` (the POS API's stored answer) is written in the same transaction.

``member=None`` is an anonymous visit (``rewards.services.anonymous``): the
lines at their prices, no lock but the booking's unique key, nothing earned.

Two requests of different members racing on one booking id: the loser's
INSERT fails on the unique key, its whole transaction rolls back (no
savepoint on the hot path) and it runs again, meeting the winner's visit at
the booking check (a conflict, or a replay if the content is the same).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core import rows, stamps
from members import selectors as member_selectors
from members import services as member_services
from members.models import Location, Member, Visit
from members.money import money
from members.services import VisitLineInput
from rewards import selectors as reward_selectors
from rewards.flow import RewardsVisitOutcome
from rewards.models import LedgerEntry, Tier
from rewards.services.anonymous import (
    AnonymousQuote,
    anonymous_inputs_check,
    anonymous_quote,
    lines_priced,
)
from rewards.services.ledger import wallet_lock, wallet_read
from rewards.services.price_changes import PriceAuthority, price_changes_check
from rewards.services.pricing import Quote, inputs_check, inputs_normal, price_visit

# Member fields a checkout does not read: left out of its reads of the row.
MEMBER_DEFER = ("phone",)


@stamps.scope()
def checkout_quote(
    *,
    member: Member | None,
    location: Location,
    lines: list[VisitLineInput],
    price_authority: PriceAuthority = PriceAuthority.NONE,
    **inputs: Any,
) -> Quote | AnonymousQuote:
    """Price a visit for ``member``: every benefit with its source. Writes nothing.

    ``member=None``: an anonymous basket (``anonymous_quote``).

    An unknown or erased member raises ``Member.DoesNotExist``; a blocked one
    ``member_not_active``. A line priced other than its service needs a reason
    and the ``price_authority`` for it (``rewards.services.price_changes``).

    ``inputs`` are pricing's (``points_to_use``) and the benefit sources'
    (``voucher_codes``, …).
    """
    if member is None:
        inputs_check(inputs)
        return anonymous_quote(
            location=location,
            lines=lines,
            price_authority=price_authority,
            inputs=inputs,
        )
    # Fresh from the database: the caller's copy may predate a visit, and the
    # first-visit discount depends on it. Two statements written once per
    # process (the member; the wallet with the spendable lots' sum), no lock.
    member_id = member.pk
    member = rows.row_get(Member, member_id, defer=MEMBER_DEFER)
    if member is None:
        raise Member.DoesNotExist(f"member {member_id}")
    _member_usable(member)
    specialists = member_services.specialists_check(lines, location=location)
    at = timezone.now()
    wallet, spendable = reward_selectors.wallet_spendable(
        member_id=member_id, today=timezone.localdate(at)
    )
    quote = price_visit(
        member=member,
        location=location,
        lines=lines,
        state=wallet_read(member_id, wallet),
        at=at,
        inputs=inputs,
        spendable=spendable,
        specialists=specialists,
    )
    price_changes_check(
        [
            (ql.service, ql.unit_price, ln.price_reason)
            for ql, ln in zip(quote.lines, lines, strict=True)
        ],
        authority=price_authority,
    )
    return quote


def _member_usable(member: Member) -> None:
    """An erased member is nobody (``DoesNotExist``); a blocked one gets no checkout."""
    if member.status == Member.Status.ERASED:
        raise Member.DoesNotExist(f"member {member.pk} was erased")
    member_services.member_active_check(member)


@dataclass
class CheckoutResult:
    visit: Visit
    created: bool
    quote: Quote | None
    points_earned: int
    tier_upgraded_to: Tier | None = None
    outcome: RewardsVisitOutcome | None = None  # None on a replay
    receipt: Any = None  # what ``receipt`` returned (a replay: the stored one)


def checkout_commit(
    *,
    member: Member | None,
    location: Location,
    lines: list[VisitLineInput],
    external_id: str = "",
    source: str = Visit.Source.ADMIN,
    paid_at: datetime | None = None,
    recorded_by=None,
    note: str = "",
    payment_card_token: str = "",
    receipt: Callable[[CheckoutResult], Any] | None = None,
    receipt_relation: str | None = None,
    price_authority: PriceAuthority = PriceAuthority.NONE,
    payment_method: str = "",
    **inputs: Any,
) -> CheckoutResult:
    """Record the paid visit exactly as quoted, atomically; idempotent by external id.

    A retry with the same external id and content returns the visit recorded
    the first time (its points and benefits are not applied again); other
    content under that id is refused (``external_id_conflict``). The
    ``payment_method`` (``Visit.PaymentMethod``, empty: not stated) is content:
    the same booking retried as paid another way is a conflict, never a
    silent replay of the first.
    ``receipt(result)`` runs inside the transaction of a new visit; on a
    replay, the visit's ``receipt_relation`` (the POS's stored answer) comes
    back as ``result.receipt``.

    ``member=None`` records an anonymous visit: the lines at their prices, no
    member's stats, nothing earned (``outcome`` None); vouchers, promo codes
    or points sent with it are refused (``member_only``).
    """
    external_id = (external_id or "").strip()
    inputs_check(inputs)
    if member is None:
        anonymous_inputs_check(inputs)
    with stamps.scope():
        args = dict(
            member_id=member.pk if member is not None else None,
            location=location,
            lines=lines,
            external_id=external_id,
            source=source,
            paid_at=paid_at,
            recorded_by=recorded_by,
            note=note,
            payment_card_token=payment_card_token,
            receipt=receipt,
            receipt_relation=receipt_relation,
            price_authority=price_authority,
            payment_method=payment_method,
            inputs=inputs,
        )
        try:
            with transaction.atomic():
                return _commit(**args)
        except IntegrityError:
            # Lost a race on the booking id to another member's request: the
            # transaction is gone; the winner's visit answers (or conflicts).
            if not external_id or (
                member_selectors.visit_id_by_external_id(
                    source=source, external_id=external_id
                )
                is None
            ):
                raise
            with transaction.atomic():
                return _commit(**args)


def _commit(
    *,
    member_id: int | None,
    location: Location,
    lines: list[VisitLineInput],
    external_id: str,
    source: str,
    paid_at: datetime | None,
    recorded_by,
    note: str,
    payment_card_token: str,
    receipt,
    receipt_relation: str | None,
    price_authority: PriceAuthority,
    payment_method: str,
    inputs: Mapping[str, Any],
) -> CheckoutResult:
    at = timezone.now()
    given_paid_at = paid_at
    paid_at = paid_at or at
    member_services.visit_checks(
        source=source,
        paid_at=paid_at,
        location=location,
        payment_method=payment_method,
    )
    priced, specialists = lines_priced(
        lines, location=location, price_authority=price_authority
    )
    reasons = [ln.price_reason for ln in lines]
    fingerprint = _checkout_fingerprint(
        member_id, location, priced, inputs, payment_method, specialists
    )
    member = None
    if member_id is not None:
        # Lock order: the member row, then the wallet; each once.
        # The phone is not read by a checkout: parsing it costs more than the row.
        member = member_services.member_lock(member_id, defer=MEMBER_DEFER)
        if member.status == Member.Status.ERASED:
            raise Member.DoesNotExist(f"member {member_id} was erased")
    if external_id:
        existing_id = member_selectors.visit_id_by_external_id(
            source=source, external_id=external_id
        )
        if existing_id is not None:
            visits = Visit.objects.all()
            if receipt_relation:
                visits = visits.select_related(receipt_relation)
            existing = visits.get(pk=existing_id)
            visit = member_services.visit_same_or_conflict(
                existing, fingerprint, given_paid_at
            )
            return _replay(visit, receipt_relation)
    if member is None:
        return _commit_anonymous(
            location=location,
            priced=priced,
            paid_at=paid_at,
            source=source,
            external_id=external_id,
            fingerprint=fingerprint,
            recorded_by=recorded_by,
            note=note,
            payment_card_token=payment_card_token,
            payment_method=payment_method,
            price_reasons=reasons,
            specialists=specialists,
            receipt=receipt,
        )
    member_services.member_active_check(member)
    state = wallet_lock(member.pk, now=at)
    quote = price_visit(
        member=member,
        location=location,
        lines=[VisitLineInput(service=s, quantity=q, price=p) for s, p, q in priced],
        state=state,
        at=at,
        inputs=inputs,
        # Without points to pay with, no need to read the lots (under the lock).
        spendable=None if inputs.get("points_to_use") else state.available,
        specialists=specialists,
    )
    recorded = member_services.visit_insert(
        member=member,
        location=location,
        priced=[(ln.service, ln.unit_price, ln.quantity) for ln in quote.lines],
        amount_paid=quote.amount_to_pay,
        paid_at=paid_at,
        source=source,
        external_id=external_id,
        fingerprint=fingerprint,
        recorded_by=recorded_by,
        note=note,
        payment_card_token=payment_card_token,
        payment_method=payment_method,
        context={"quote": quote, "wallet": state},
        price_reasons=reasons,
        specialists=specialists,
    )
    outcome = recorded.reaction(RewardsVisitOutcome)
    result = CheckoutResult(
        recorded.visit,
        True,
        quote,
        outcome.points_earned if outcome else 0,
        outcome.tier_upgraded_to if outcome else None,
        outcome,
    )
    if receipt is not None:
        result.receipt = receipt(result)
    return result


def _commit_anonymous(*, receipt, priced, **fields) -> CheckoutResult:
    """Insert an anonymous visit (the booking check passed): paid in full at
    its lines' prices; no member's stats, no visit reactions."""
    total = money(sum((price * qty for _s, price, qty in priced), Decimal("0")))
    recorded = member_services.visit_insert(
        member=None, priced=priced, amount_paid=total, **fields
    )
    result = CheckoutResult(recorded.visit, True, None, 0)
    if receipt is not None:
        result.receipt = receipt(result)
    return result


def _replay(visit: Visit, receipt_relation: str | None) -> CheckoutResult:
    stored = getattr(visit, receipt_relation, None) if receipt_relation else None
    earned = 0
    if stored is None:
        earned = sum(
            LedgerEntry.objects.filter(
                visit=visit, kind=LedgerEntry.Kind.EARN
            ).values_list("amount", flat=True)
        )
    return CheckoutResult(visit, False, None, earned, receipt=stored)


def _checkout_fingerprint(
    member_id, location, priced, inputs, payment_method: str = "", specialists=()
) -> str:
    """A booking's content: who, where, which lines at which prices, the inputs
    (vouchers, points, promo codes…) and how it was paid — not the time,
    checked apart.

    The payment method enters only when stated, so a booking recorded before
    it was asked (or sent without it) keeps its fingerprint and its retries
    still replay; so do the lines' specialists.
    """
    payload = {
        "checkout": 2,
        "member": member_id,
        "location": location.pk,
        "lines": member_services.fingerprint_lines(priced, specialists),
        "inputs": inputs_normal(inputs),
    }
    if payment_method:
        payload["payment_method"] = payment_method
    return member_services.booking_fingerprint(payload)
