"""Pricing a visit: lines, benefit sources and their stacking, points, earn.

``price_visit`` is pure pricing over a locked wallet; ``rewards.services.checkout``
wraps it in the quote and commit services. Benefits come from *sources*
(``BENEFIT_SOURCES``), applied in order: sources sharing an exclusive ``group``
compete per line and the best one wins (the tier discount against the
first-visit discount; a campaign's percentage later); combinable sources apply
on what is left. Points pay last, capped by the program's max share, and points
are earned on the money actually paid.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from members import services as member_services
from members.models import Location, Member, Service
from members.money import money
from members.services import VisitLineInput
from rewards import selectors
from rewards.explain import benefit_text, earn_text
from rewards.models import Tier, Voucher
from rewards.services.ledger import WalletState
from rewards.services.points import EarnCalculation, EarnLine, earn_calculate
from rewards.services.vouchers import voucher_code_normalize

ZERO = Decimal("0.00")


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

    @property
    def net(self) -> Decimal:
        """After discounts and vouchers, before points."""
        return self.gross - self.discount

    @property
    def to_pay(self) -> Decimal:
        return self.net - self.points_money


@dataclass
class Benefit:
    kind: str  # VisitBenefit.Kind
    source: str  # who gives it: "Gold tier", "voucher K7M2…"
    amount: Decimal  # money off
    reason: str
    params: dict
    points: int = 0
    voucher: Voucher | None = None
    per_line: dict[int, Decimal] = field(default_factory=dict)  # line index -> money

    @property
    def explanation(self) -> str:
        return benefit_text(self.reason, self.params)


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


# --- Benefit sources --------------------------------------------------------


class TierDiscountSource:
    """The tier's permanent discount, never on services excluded from discounts."""

    group = "percent"

    def propose(self, ctx: PricingContext) -> Benefit | None:
        tier = ctx.tier
        if tier is None or tier.discount_percent <= 0:
            return None
        return _percent_benefit(
            ctx,
            tier.discount_percent,
            kind="tier_discount",
            source=tier.name,
            reason="tier_discount",
            params={"tier": tier.name, "percent": str(tier.discount_percent)},
        )


class FirstVisitDiscountSource:
    """The base tier's welcome discount on a member's first paid visit."""

    group = "percent"

    def propose(self, ctx: PricingContext) -> Benefit | None:
        if not ctx.first_visit:
            return None
        base = selectors.tier_base()
        percent = base.first_visit_discount_percent if base else ZERO
        if percent <= 0:
            return None
        return _percent_benefit(
            ctx,
            percent,
            kind="first_visit",
            source=_("First visit"),
            reason="first_visit_discount",
            params={"percent": str(percent)},
        )


class VoucherSource:
    """Vouchers the member presents: free service, % or amount off. Combinable."""

    group = None

    def propose_all(self, ctx: PricingContext) -> Iterator[Benefit]:
        # One at a time: the checkout applies each voucher before the next is
        # priced, so a fixed amount spreads over what the others left.
        for voucher in ctx.vouchers:
            yield _voucher_benefit(ctx, voucher)


BENEFIT_SOURCES = [TierDiscountSource(), FirstVisitDiscountSource(), VoucherSource()]


def _percent_benefit(ctx, percent, *, kind, source, reason, params) -> Benefit | None:
    per_line = {}
    for i, line in enumerate(ctx.lines):
        if line.service.excluded_from_discounts:
            continue
        per_line[i] = money(line.net * percent / 100)
    amount = money(sum(per_line.values(), ZERO))
    if amount <= 0:
        return None
    return Benefit(kind, source, amount, reason, params, per_line=per_line)


def _voucher_benefit(ctx: PricingContext, voucher: Voucher) -> Benefit:
    reward = voucher.reward
    kind = reward.kind
    per_line: dict[int, Decimal] = {}
    params = {"reward": reward.name, "code": voucher.code}
    if kind in ("free_service", "add_on", "extended_session"):
        index = next(
            (
                i
                for i, ln in enumerate(ctx.lines)
                if ln.service.pk == reward.service_id and ln.net > 0
            ),
            None,
        )
        if index is None:
            raise _voucher_error(
                "voucher_service_missing",
                _("Voucher %(code)s is for “%(service)s”: add it to the visit.")
                % {"code": voucher.code, "service": reward.service},
            )
        line = ctx.lines[index]
        unit_net = money((line.gross - line.group_discount) / line.quantity)
        per_line[index] = min(unit_net, line.net)
    elif kind == "percent_discount":
        for i, ln in enumerate(ctx.lines):
            if not ln.service.excluded_from_discounts:
                per_line[i] = money(ln.net * reward.discount_percent / 100)
        params["percent"] = str(reward.discount_percent)
    elif kind == "fixed_discount":
        eligible = [
            (i, ln)
            for i, ln in enumerate(ctx.lines)
            if not ln.service.excluded_from_discounts and ln.net > 0
        ]
        base = sum((ln.net for _, ln in eligible), ZERO)
        left = min(reward.discount_amount, base)
        for n, (i, ln) in enumerate(eligible):
            share = (
                left
                if n == len(eligible) - 1
                else money(min(reward.discount_amount, base) * ln.net / base)
            )
            share = min(share, ln.net)
            per_line[i] = share
            left -= share
    else:
        raise _voucher_error(
            "voucher_not_for_checkout",
            _("Voucher %(code)s (%(reward)s) is not a discount: mark it used instead.")
            % {"code": voucher.code, "reward": reward.name},
        )
    amount = money(sum(per_line.values(), ZERO))
    if amount <= 0:
        # Using it would burn the member's voucher for nothing.
        raise _voucher_error(
            "voucher_not_applicable",
            _("Voucher %(code)s gives nothing on this visit.") % {"code": voucher.code},
        )
    return Benefit(
        "voucher",
        _("Voucher %(code)s") % {"code": voucher.code},
        amount,
        f"voucher_{kind}",
        params,
        voucher=voucher,
        per_line=per_line,
    )


def _voucher_error(code: str, message: str) -> ValidationError:
    return ValidationError({"voucher_codes": ValidationError(message, code=code)})


# --- Quote ------------------------------------------------------------------


def _vouchers_for(member: Member, codes: list[str], at: datetime) -> list[Voucher]:
    codes = [voucher_code_normalize(c) for c in codes if voucher_code_normalize(c)]
    if not codes:
        return []
    if len(set(codes)) != len(codes):
        raise _voucher_error(
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
            raise _voucher_error(
                "voucher_not_found",
                _("No voucher %(code)s for this member.") % {"code": code},
            )
        if voucher.status != Voucher.Status.ACTIVE:
            raise _voucher_error(
                "voucher_not_active",
                _("Voucher %(code)s is %(status)s.")
                % {"code": code, "status": voucher.get_status_display()},
            )
        if voucher.valid_until <= at:
            raise _voucher_error(
                "voucher_expired", _("Voucher %(code)s has expired.") % {"code": code}
            )
        vouchers.append(voucher)
    return vouchers


def price_visit(
    *,
    member: Member,
    location: Location,
    lines: list[VisitLineInput],
    voucher_codes: list[str],
    points_to_use: int,
    state: WalletState,
    at: datetime,
) -> Quote:
    settings = selectors.program_settings()
    priced = member_services.price_lines(lines)
    qlines = [
        QuoteLine(service=s, quantity=q, unit_price=p, gross=money(p * q))
        for s, p, q in priced
    ]
    tier = state.wallet.tier
    ctx = PricingContext(
        member=member,
        wallet=state,
        tier=tier,
        lines=qlines,
        vouchers=_vouchers_for(member, voucher_codes or [], at),
        first_visit=member.visits_count == 0,
        settings=settings,
        at=at,
    )
    benefits: list[Benefit] = []
    # Exclusive groups: per line the best proposal of the group wins.
    groups: dict[str, list[Benefit]] = {}
    for source in BENEFIT_SOURCES:
        if source.group is None:
            continue
        proposal = source.propose(ctx)
        if proposal is not None:
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
    # Combinable sources apply one after another on what is left.
    for source in BENEFIT_SOURCES:
        if source.group is not None:
            continue
        for benefit in source.propose_all(ctx):
            for i, v in benefit.per_line.items():
                v = min(v, qlines[i].net)
                benefit.per_line[i] = v
                qlines[i].discount += v
            benefit.amount = money(sum(benefit.per_line.values(), ZERO))
            benefits.append(benefit)

    # Points pay last, capped by the max share of what is left to pay.
    net_total = money(sum((ln.net for ln in qlines), ZERO))
    per_point = settings.money_per_point
    cap_money = net_total * settings.max_points_share / 100
    spendable = min(
        state.available,
        selectors.points_spendable(member_id=member.pk, today=timezone.localdate(at)),
    )
    points_max = int(min(cap_money / per_point, Decimal(spendable)))
    points_max = max(points_max, 0)
    if points_to_use:
        if not isinstance(points_to_use, int) or points_to_use < 0:
            raise ValidationError(
                {
                    "points": ValidationError(
                        _("Enter a whole number of points."), code="invalid_points"
                    )
                }
            )
        if points_to_use > spendable:
            raise ValidationError(
                {
                    "points": ValidationError(
                        _("The member has %(n)s points available.") % {"n": spendable},
                        code="points_insufficient",
                    )
                }
            )
        if points_to_use > points_max:
            raise ValidationError(
                {
                    "points": ValidationError(
                        _("At most %(n)s points can pay this bill (%(share)s%%).")
                        % {
                            "n": points_max,
                            "share": f"{settings.max_points_share.normalize():f}",
                        },
                        code="points_over_limit",
                    )
                }
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
                "points",
                _("Points"),
                pay,
                "points_payment",
                {"points": points_to_use, "money": str(pay)},
                points=points_to_use,
            )
        )
    rates = selectors.category_rates()
    earn = earn_calculate(
        lines=[EarnLine(ln.service, ln.to_pay) for ln in qlines],
        tier=tier,
        settings=settings,
        rates=rates,
    )
    return Quote(
        member=member,
        location=location,
        tier=tier,
        lines=qlines,
        benefits=benefits,
        points_used=points_to_use or 0,
        points_available=spendable,
        points_max=points_max,
        earn=earn,
        vouchers=ctx.vouchers,
        first_visit=ctx.first_visit,
        settings=settings,
    )
