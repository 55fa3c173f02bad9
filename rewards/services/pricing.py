"""Pricing a visit: lines, benefit sources and their stacking, points, earn.

``price_visit`` is pure pricing over a wallet's state; ``rewards.services.checkout``
wraps it in the quote and commit services. Benefits come from the *sources*
registered in ``REGULARS_BENEFIT_SOURCES`` (``rewards.benefits``), applied in
order: sources sharing an exclusive ``group`` compete per line and the best one
wins (the tier discount against the first-visit discount; a promotion's
percentage); combinable sources apply on what is left. Points pay last, capped
by the program's max share, and points are earned on the money actually paid.

Its inputs are an open mapping: ``points_to_use`` is pricing's own, every
other key belongs to the source that declares it (``voucher_codes``, a
promotion's ``promo_codes``…). An input no source reads is a programming error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import field_error
from members import services as member_services
from members.models import Location, Member, Service
from members.money import money
from members.services import VisitLineInput
from rewards import selectors
from rewards.benefits import (
    POINTS_KIND,
    Benefit,
    benefit_inputs,
    benefit_sources,
    voucher_error,
)
from rewards.explain import earn_text, number_text
from rewards.models import Tier, Voucher
from rewards.services.ledger import WalletState
from rewards.services.points import EarnCalculation, EarnLine, earn_calculate
from rewards.services.vouchers import voucher_code_normalize

ZERO = Decimal("0.00")
PRICING_INPUTS = frozenset({"points_to_use"})
NEAR_MISSES = 3


@dataclass
class QuoteLine:
    service: Service
    quantity: int
    unit_price: Decimal
    gross: Decimal
    discount: Decimal = ZERO
    points_money: Decimal = ZERO
    # The part of ``discount`` won by the exclusive groups (tier, first visit):
    # a free-unit voucher frees one unit at that discounted price.
    group_discount: Decimal = ZERO
    # Who performs it (None: not said), for sources with conditions on it.
    specialist_id: int | None = None

    @property
    def net(self) -> Decimal:
        """After discounts and vouchers, before points."""
        return self.gross - self.discount

    @property
    def to_pay(self) -> Decimal:
        return self.net - self.points_money


@dataclass
class Quote:
    member: Member
    location: Location
    tier: Tier | None
    lines: list[QuoteLine]
    benefits: list[Benefit]
    points_used: int
    points_available: int
    points_max: int
    earn: EarnCalculation
    vouchers: list[Voucher]
    first_visit: bool
    settings: object = None
    # What almost applied and what is missing, for people: [(name, missing)],
    # at most ``NEAR_MISSES`` (sources with ``near_misses(ctx)``).
    near_misses: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return money(sum((ln.gross for ln in self.lines), ZERO))

    @property
    def discount_total(self) -> Decimal:
        return money(sum((ln.discount for ln in self.lines), ZERO))

    @property
    def points_money(self) -> Decimal:
        return money(sum((ln.points_money for ln in self.lines), ZERO))

    @property
    def amount_to_pay(self) -> Decimal:
        return money(self.total - self.discount_total - self.points_money)

    @property
    def points_to_earn(self) -> int:
        return self.earn.points

    @property
    def earn_explanation(self) -> str:
        return earn_text(self.earn)


@dataclass
class PricingContext:
    member: Member
    wallet: WalletState
    tier: Tier | None
    lines: list[QuoteLine]
    vouchers: list[Voucher]
    first_visit: bool
    settings: object
    at: datetime
    location: Location | None = None
    inputs: Mapping[str, Any] = None  # every input, for the sources that read one
    # A source's own reads for this pricing, kept between its calls (shared by
    # the copies pricing makes to weigh an exclusive offer).
    memo: dict = field(default_factory=dict)


# --- Quote ------------------------------------------------------------------


def _vouchers_for(member: Member, codes: list[str], at: datetime) -> list[Voucher]:
    codes = [voucher_code_normalize(c) for c in codes if voucher_code_normalize(c)]
    if not codes:
        return []
    if len(set(codes)) != len(codes):
        raise voucher_error(
            "voucher_duplicate", _("The same voucher is entered twice.")
        )
    found = {
        v.code: v
        for v in Voucher.objects.select_related("reward", "reward__service").filter(
            code__in=codes
        )
    }
    vouchers = []
    for code in codes:
        voucher = found.get(code)
        if voucher is None or voucher.member_id != member.pk:
            raise voucher_error(
                "voucher_not_found",
                _("No voucher %(code)s for this member.") % {"code": code},
            )
        if voucher.status != Voucher.Status.ACTIVE:
            raise voucher_error(
                "voucher_not_active",
                _("Voucher %(code)s is %(status)s.")
                % {"code": code, "status": voucher.get_status_display()},
            )
        if voucher.valid_until <= at:
            raise voucher_error(
                "voucher_expired", _("Voucher %(code)s has expired.") % {"code": code}
            )
        vouchers.append(voucher)
    return vouchers


def inputs_check(inputs: Mapping[str, Any]) -> None:
    unknown = set(inputs) - PRICING_INPUTS - benefit_inputs()
    if unknown:
        raise TypeError(f"no benefit source reads the input(s) {sorted(unknown)}")


def inputs_normal(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs as their meaning, for comparing two requests: each source
    normalises its own (``normal_input``); ``points_to_use`` 0 when absent."""
    normal = {}
    owners = {name: s for s in benefit_sources() for name in s.inputs}
    for name, value in sorted(inputs.items()):
        if name == "points_to_use":
            value = value or 0
        elif hasattr(owners.get(name), "normal_input"):
            value = owners[name].normal_input(name, value)
        normal[name] = value
    return normal


def price_visit(
    *,
    member: Member,
    location: Location,
    lines: list[VisitLineInput],
    state: WalletState,
    at: datetime,
    inputs: Mapping[str, Any] | None = None,
    spendable: int | None = None,
    specialists: list | None = None,
) -> Quote:
    """Price a visit for ``member`` (fresh: the first-visit discount reads it).

    ``specialists``: each line's ``Specialist`` (or None), as
    ``specialists_check`` found them, for conditions on who performs a line.

    ``spendable``: the points the member may spend now, when the caller has
    read them (a quote, with the wallet) or needs no exact figure (a commit
    without points passes the wallet's balance); otherwise read from the lots.
    """
    inputs = dict(inputs or {})
    inputs_check(inputs)
    settings = selectors.program_settings()
    priced = member_services.price_lines(lines)
    qlines = [
        QuoteLine(service=s, quantity=q, unit_price=p, gross=money(p * q))
        for s, p, q in priced
    ]
    for qline, specialist in zip(qlines, specialists or (), strict=False):
        qline.specialist_id = specialist.pk if specialist is not None else None
    tier = state.wallet.tier
    ctx = PricingContext(
        member=member,
        wallet=state,
        tier=tier,
        lines=qlines,
        vouchers=_vouchers_for(member, inputs.get("voucher_codes") or [], at),
        first_visit=member.visits_count == 0,
        settings=settings,
        at=at,
        location=location,
        inputs=inputs,
    )
    sources = benefit_sources()
    benefits = _discounts_apply(ctx, sources)
    exclusive = _exclusive_best(ctx, sources, qlines)
    if exclusive is not None:
        # Better for the member than everything else together: it alone.
        qlines, benefit = exclusive
        benefits = [benefit]
        ctx.lines, ctx.vouchers = qlines, []
    near_misses = [
        miss
        for source in sources
        if hasattr(source, "near_misses")
        for miss in source.near_misses(ctx)
    ][:NEAR_MISSES]

    points_to_use = inputs.get("points_to_use") or 0
    if spendable is None:
        spendable = selectors.points_spendable(
            member_id=member.pk, today=timezone.localdate(at)
        )
    spendable = min(state.available, spendable)
    points_max = _points_pay(qlines, benefits, points_to_use, spendable, settings)
    earn = earn_calculate(
        lines=[EarnLine(ln.service, ln.to_pay) for ln in qlines],
        tier=tier,
        settings=settings,
        rates=selectors.category_rates(),
    )
    return Quote(
        member=member,
        location=location,
        tier=tier,
        lines=qlines,
        benefits=benefits,
        points_used=points_to_use,
        points_available=spendable,
        points_max=points_max,
        earn=earn,
        vouchers=ctx.vouchers,
        first_visit=ctx.first_visit,
        settings=settings,
        near_misses=near_misses,
    )


def _exclusive_best(ctx, sources, qlines) -> tuple[list[QuoteLine], Benefit] | None:
    """The best exclusive offer (``exclusive_offers(ctx)`` of a source, priced
    on the list prices alone), if it takes more off than the bill's benefits
    together; then it is the bill's only benefit (points may still pay)."""
    offered = [s for s in sources if hasattr(s, "exclusive_offers")]
    if not offered:
        return None
    fresh = [replace(ln, discount=ZERO, points_money=ZERO, group_discount=ZERO)
             for ln in qlines]  # fmt: skip
    alone = replace(ctx, lines=fresh, vouchers=[])
    offers = [b for s in offered for b in s.exclusive_offers(alone)]
    if not offers:
        return None
    best = max(offers, key=lambda b: b.amount)
    together = sum((ln.discount for ln in qlines), ZERO)
    if best.amount <= together:
        return None
    for i, v in best.per_line.items():
        v = min(v, fresh[i].net)
        best.per_line[i] = v
        fresh[i].discount += v
    best.amount = money(sum(best.per_line.values(), ZERO))
    return fresh, best


def _discounts_apply(ctx: PricingContext, sources) -> list[Benefit]:
    """Every source's benefits on ``ctx.lines``, in the documented order."""
    qlines = ctx.lines
    benefits: list[Benefit] = []
    # Exclusive groups: per line the best proposal of the group wins.
    groups: dict[str, list[Benefit]] = {}
    for source in sources:
        if source.group is None:
            continue
        for proposal in source.propose(ctx):
            groups.setdefault(source.group, []).append(proposal)
    for proposals in groups.values():
        winners: dict[int, Benefit] = {}
        for i in range(len(qlines)):
            best = max(
                (b for b in proposals if b.per_line.get(i, ZERO) > 0),
                key=lambda b: b.per_line[i],
                default=None,
            )
            if best is not None:
                winners[i] = best
        for benefit in proposals:
            kept = {
                i: v for i, v in benefit.per_line.items() if winners.get(i) is benefit
            }
            if kept:
                benefit.per_line = kept
                benefit.amount = money(sum(kept.values(), ZERO))
                benefits.append(benefit)
                for i, v in kept.items():
                    qlines[i].discount += v
                    qlines[i].group_discount += v
    # Combinable sources apply one after another on what is left: each
    # proposal is applied before the source is asked for the next.
    for source in sources:
        if source.group is not None:
            continue
        for benefit in source.propose(ctx):
            for i, v in benefit.per_line.items():
                v = min(v, qlines[i].net)
                benefit.per_line[i] = v
                qlines[i].discount += v
            benefit.amount = money(sum(benefit.per_line.values(), ZERO))
            benefits.append(benefit)
    return benefits


def _points_pay(qlines, benefits, points_to_use, spendable: int, settings) -> int:
    """Points pay last, capped by the max share of what is left to pay.

    Spreads ``points_to_use`` over the lines and adds its benefit; returns the
    most points this bill could take.
    """
    net_total = money(sum((ln.net for ln in qlines), ZERO))
    per_point = settings.money_per_point
    cap_money = net_total * settings.max_points_share / 100
    points_max = max(int(min(cap_money / per_point, Decimal(spendable))), 0)
    if not points_to_use:
        return points_max
    if not isinstance(points_to_use, int) or points_to_use < 0:
        raise field_error(
            "points", _("Enter a whole number of points."), "invalid_points"
        )
    if points_to_use > spendable:
        raise field_error(
            "points",
            _("The member has %(n)s points available.") % {"n": spendable},
            "points_insufficient",
        )
    if points_to_use > points_max:
        raise field_error(
            "points",
            _("At most %(n)s points can pay this bill (%(share)s%%).")
            % {
                "n": points_max,
                "share": number_text(settings.max_points_share),
            },
            "points_over_limit",
        )
    pay = money(points_to_use * per_point)
    left = pay
    payable = [ln for ln in qlines if ln.net > 0]
    for n, ln in enumerate(payable):
        share = left if n == len(payable) - 1 else money(pay * ln.net / net_total)
        share = min(share, ln.net)
        ln.points_money = share
        left -= share
    benefits.append(
        Benefit(
            POINTS_KIND,
            _("Points"),
            pay,
            "points_payment",
            {"points": points_to_use, "money": str(pay)},
            points=points_to_use,
        )
    )
    return points_max


def quote_of_recorded(visit, state: WalletState) -> Quote:
    """The quote of a visit priced elsewhere (an import, a direct record).

    No benefits, no points paid: what was paid is spread over the lines pro
    rata to their amounts, and earns at the member's tier.
    """
    recorded = list(visit.lines.all())
    by_id = member_services.services_by_id({ln.service_id for ln in recorded})
    qlines = [
        QuoteLine(
            service=by_id[ln.service_id],
            quantity=ln.quantity,
            unit_price=ln.price,
            gross=money(ln.price * ln.quantity),
        )
        for ln in recorded
    ]
    total = sum((ln.gross for ln in qlines), ZERO)
    left = money(visit.amount_paid)
    for n, ln in enumerate(qlines):
        paid = (
            left
            if n == len(qlines) - 1
            else money(visit.amount_paid * ln.gross / total)
        )
        ln.discount = max(ln.gross - paid, ZERO)
        left -= paid
    settings = selectors.program_settings()
    earn = earn_calculate(
        lines=[EarnLine(ln.service, ln.to_pay) for ln in qlines] if total else [],
        tier=state.wallet.tier,
        settings=settings,
        rates=selectors.category_rates(),
    )
    return Quote(
        member=visit.member,
        location=visit.location,
        tier=state.wallet.tier,
        lines=qlines,
        benefits=[],
        points_used=0,
        points_available=state.available,
        points_max=0,
        earn=earn,
        vouchers=[],
        first_visit=False,
        settings=settings,
    )
