"""Benefit sources: who may take money off a visit, and how they say so.

A source is any object with the ``BenefitSource`` shape, listed by dotted path
in the setting ``REGULARS_BENEFIT_SOURCES`` (in order), so an app above rewards
(campaigns' promotions, say) plugs in without editing rewards. Each source
brings its own benefit ``kind`` (stored on ``VisitBenefit``), the label of that
kind, the request inputs it reads (``inputs``: a promo code field, say) and the
sentences that explain its benefits (``explain``).

Pricing (``rewards.services.pricing.price_visit``) asks every source for
proposals: sources sharing an exclusive ``group`` compete per line and the best
proposal wins; sources without a group apply one after another on what is
left (each proposal is applied before the next is asked for).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import field_error
from members.money import money
from rewards import selectors
from rewards.explain import number_text, points_money_text
from rewards.models import Voucher
from rewards.services.vouchers import voucher_code_normalize

if TYPE_CHECKING:
    from rewards.services.pricing import PricingContext

ZERO = Decimal("0.00")


@dataclass
class Benefit:
    kind: str  # the source's kind: "tier_discount", "voucher", "promotion"…
    source: str  # who gives it, for people: "Gold tier", "voucher K7M2…"
    amount: Decimal  # money off
    reason: str  # what ``benefit_text`` explains
    params: dict
    points: int = 0
    voucher: Voucher | None = None
    per_line: dict[int, Decimal] = field(default_factory=dict)  # line index -> money

    @property
    def explanation(self) -> str:
        return benefit_text(self.reason, self.params)


class BenefitSource(Protocol):
    kind: str
    label: str  # the kind's name for people (lazy translation)
    group: str | None  # an exclusive group, or None: combinable
    inputs: tuple[str, ...]  # request inputs this source reads, e.g. ("promo_codes",)

    def propose(self, ctx: PricingContext) -> Iterable[Benefit]: ...

    def explain(self, reason: str, params: dict) -> str | None: ...

    # Optional: ``normal_input(name, value)``, the value as its meaning (so a
    # retried booking that spells a code differently is the same booking).


def benefit_sources() -> tuple[BenefitSource, ...]:
    return _load(tuple(getattr(settings, "REGULARS_BENEFIT_SOURCES", ())))


@cache
def _load(paths: tuple[str, ...]) -> tuple[BenefitSource, ...]:
    return tuple(import_string(path)() for path in paths)


def benefit_inputs() -> frozenset[str]:
    """Every request input some source reads (``price_visit`` refuses others)."""
    return frozenset(name for s in benefit_sources() for name in s.inputs)


# Benefits pricing itself gives (not a source): points paying part of the bill.
POINTS_KIND = "points"


def benefit_kind_label(kind: str) -> str:
    if kind == POINTS_KIND:
        return str(_("Paid with points"))
    for source in benefit_sources():
        if source.kind == kind:
            return str(source.label)
    return kind


def benefit_kind_choices() -> list[tuple[str, str]]:
    """(kind, label) of every registered kind, for admin filters."""
    kinds = {s.kind: s.label for s in benefit_sources()}
    kinds[POINTS_KIND] = gettext_lazy("Paid with points")
    return list(kinds.items())


def benefit_text(reason: str, params: dict) -> str:
    """The sentence for a stored benefit, in the reader's language."""
    p = dict(params or {})
    if "percent" in p:
        p["percent"] = number_text(p["percent"])
    if reason == "points_payment":
        return points_money_text(p["points"], p["money"])
    for source in benefit_sources():
        text = source.explain(reason, p)
        if text is not None:
            return text
    return reason


# --- The rewards app's own sources -----------------------------------------------


def percent_benefit(
    ctx: PricingContext, percent, *, kind, source, reason, params
) -> Benefit | None:
    """``percent`` off every line not excluded from discounts (what is left of it)."""
    per_line = {}
    for i, line in enumerate(ctx.lines):
        if line.service.excluded_from_discounts:
            continue
        per_line[i] = money(line.net * percent / 100)
    amount = money(sum(per_line.values(), ZERO))
    if amount <= 0:
        return None
    return Benefit(kind, source, amount, reason, params, per_line=per_line)


class TierDiscountSource:
    """The tier's permanent discount, never on services excluded from discounts."""

    kind = "tier_discount"
    label = gettext_lazy("Tier discount")
    group = "percent"
    inputs = ()

    def propose(self, ctx: PricingContext) -> Iterator[Benefit]:
        tier = ctx.tier
        if tier is None or tier.discount_percent <= 0:
            return
        benefit = percent_benefit(
            ctx,
            tier.discount_percent,
            kind=self.kind,
            source=tier.name,
            reason="tier_discount",
            params={"tier": tier.name, "percent": str(tier.discount_percent)},
        )
        if benefit is not None:
            yield benefit

    def explain(self, reason: str, p: dict) -> str | None:
        if reason == "tier_discount":
            return _("%(tier)s tier discount %(percent)s%%") % p
        return None


class FirstVisitDiscountSource:
    """The base tier's welcome discount on a member's first paid visit."""

    kind = "first_visit"
    label = gettext_lazy("First-visit discount")
    group = "percent"
    inputs = ()

    def propose(self, ctx: PricingContext) -> Iterator[Benefit]:
        if not ctx.first_visit:
            return
        base = selectors.tier_base()
        percent = base.first_visit_discount_percent if base else ZERO
        if percent <= 0:
            return
        benefit = percent_benefit(
            ctx,
            percent,
            kind=self.kind,
            source=_("First visit"),
            reason="first_visit_discount",
            params={"percent": str(percent)},
        )
        if benefit is not None:
            yield benefit

    def explain(self, reason: str, p: dict) -> str | None:
        if reason == "first_visit_discount":
            return _("Welcome discount %(percent)s%% on the first visit") % p
        return None


class VoucherSource:
    """Vouchers the member presents: free service, % or amount off. Combinable."""

    kind = "voucher"
    label = gettext_lazy("Voucher")
    group = None
    inputs = ("voucher_codes",)

    def propose(self, ctx: PricingContext) -> Iterator[Benefit]:
        # One at a time: pricing applies each voucher before the next is priced,
        # so a fixed amount spreads over what the others left.
        for voucher in ctx.vouchers:
            yield self._benefit(ctx, voucher)

    def normal_input(self, name: str, value) -> list[str]:
        return sorted(c for c in map(voucher_code_normalize, value or []) if c)

    def explain(self, reason: str, p: dict) -> str | None:
        if reason in (
            "voucher_free_service",
            "voucher_add_on",
            "voucher_extended_session",
            "voucher_fixed_discount",
        ):
            return _("Voucher %(code)s: %(reward)s") % p
        if reason == "voucher_percent_discount":
            return _("Voucher %(code)s: %(percent)s%% off") % p
        return None

    def _benefit(self, ctx: PricingContext, voucher: Voucher) -> Benefit:
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
                raise voucher_error(
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
            raise voucher_error(
                "voucher_not_for_checkout",
                _(
                    "Voucher %(code)s (%(reward)s) is not a discount: "
                    "mark it used instead."
                )
                % {"code": voucher.code, "reward": reward.name},
            )
        amount = money(sum(per_line.values(), ZERO))
        if amount <= 0:
            # Using it would burn the member's voucher for nothing.
            raise voucher_error(
                "voucher_not_applicable",
                _("Voucher %(code)s gives nothing on this visit.")
                % {"code": voucher.code},
            )
        return Benefit(
            self.kind,
            _("Voucher %(code)s") % {"code": voucher.code},
            amount,
            f"voucher_{kind}",
            params,
            voucher=voucher,
            per_line=per_line,
        )


def voucher_error(code: str, message: str) -> ValidationError:
    return field_error("voucher_codes", message, code)
