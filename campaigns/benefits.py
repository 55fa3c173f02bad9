"""Promotions as a benefit source of the one checkout pipeline.

Listed in ``REGULARS_BENEFIT_SOURCES`` after the tier and first-visit
discounts and before vouchers, so the documented order of a bill is:

1. the tier discount or the first-visit discount, the better per line;
2. promotions, group by group (``PromotionGroup.order``): a group's mode
   stacks all that apply, takes the first by priority, or the best for the
   member; each applies on what the earlier ones left — a percentage of
   ``the price after earlier discounts`` or of ``the list price`` (never more
   than is left);
3. vouchers the member presents; 4. points, last, capped by the program.

``CAMPAIGNS_MAX_DISCOUNT_PERCENT`` caps what promotions bring the bill's
discount to. Points effects (bonus points, a multiplier) take no money off:
they ride on the quote as benefits of zero and are credited after the visit
(``campaigns.flow``). Reads: the active promotions from the process cache;
one query for the codes typed, and one each for limits, budgets and tried
categories only when a live promotion has them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns import codes as promo_codes
from campaigns import selectors
from campaigns.effects import capped, money_off
from campaigns.guards import guarded
from campaigns.rules import (
    Facts,
    Rule,
    active_rules,
    blocker,
    member_allowed,
    period_start,
    preview_note,
)
from campaigns.segments import member_segments
from members.money import money, money_text
from rewards.benefits import Benefit
from rewards.explain import number_text
from rewards.selectors import category_rates
from rewards.services.points import EarnLine, earn_calculate
from rewards.services.pricing import NEAR_MISSES

ZERO = Decimal("0.00")
KIND = "promotion"
NEAR_DAYS = 7  # a promotion starting within this many days is "soon"
# Effects that take no money off: listed on the quote at 0, given after the visit.
POINTS_EFFECTS = ("bonus_points", "points_multiplier", "voucher")


def facts_read(ctx, rules: list[Rule], codes) -> Facts:
    facts = Facts(
        codes={code.promotion_id: code for code in codes},
        local=timezone.localtime(ctx.at),
    )
    limited = [r for r in rules if r.has_limits]
    if limited:
        facts.member_uses = selectors.member_uses(
            member_id=ctx.member.pk,
            since={r.id: period_start(r, ctx.at) for r in limited},
        )
    budgeted = [r.id for r in rules if r.has_budget]
    if budgeted:
        facts.usage = selectors.usage(budgeted)
    recent = {r.recent_days or 0 for r in rules if r.recent_visits}
    if recent:
        facts.recent_visits = selectors.visits_recent(
            member_id=ctx.member.pk, days=recent, at=ctx.at
        )
    segments = {sid: d for r in rules for sid, d in r.segments.items()}
    if segments:
        facts.segments = member_segments(
            ctx.member.pk, segments, timezone.localdate(ctx.at)
        )
    untried = {r.untried_category for r in rules if r.untried_category is not None}
    if untried:
        facts.tried_categories = selectors.categories_tried(
            member_id=ctx.member.pk, categories=untried
        )
    return facts


class PromotionSource:
    kind = KIND
    label = gettext_lazy("Promotion")
    group = None
    inputs = ("promo_codes",)

    def normal_input(self, name: str, value) -> list[str]:
        return sorted(c for c in map(promo_codes.code_normalize, value or []) if c)

    def explain(self, reason: str, p: dict) -> str | None:
        if reason == "promotion":
            what = _effect_text(p)
            text = (
                _("Promotion “%(name)s”: %(what)s") % {"name": p["name"], "what": what}
                if what
                else _("Promotion “%(name)s”") % p
            )
        elif reason == "promotion_bonus_points":
            text = _("Promotion “%(name)s”: +%(points)s bonus points") % p
        elif reason == "promotion_points_multiplier":
            text = _("Promotion “%(name)s”: points ×%(multiplier)s") % p
        elif reason == "promotion_voucher":
            text = (
                _("Promotion “%(name)s”: a voucher “%(reward)s” for the next visit") % p
            )
        else:
            return None
        if p.get("code"):
            text += " " + _("(code %(code)s)") % p
        return text

    def _evaluated(self, ctx) -> tuple[list[Rule], Facts, dict[int, str | None]]:
        """The live rules, the facts and each rule's blocker: read once per
        pricing (kept in ``ctx.memo``); a typed code that cannot be used
        raises here."""
        memo = ctx.memo.get(KIND)
        if memo is not None:
            return memo
        typed = (ctx.inputs or {}).get("promo_codes") or []
        codes = (
            guarded(
                ctx.member.pk,
                lambda: promo_codes.codes_read(
                    typed, at=ctx.at, member_id=ctx.member.pk
                ),
            )
            if typed
            else []
        )
        rules = [r for r in active_rules() if r.live_at(ctx.at)]
        facts = facts_read(ctx, rules, codes) if rules else Facts()
        blocked = {r.id: blocker(r, ctx, facts) for r in rules}
        for code in codes:
            if code.promotion_id in blocked:
                reason = blocked[code.promotion_id]
            else:  # not live: not started yet, ended, or not active at all
                rule = next(
                    (r for r in active_rules() if r.id == code.promotion_id), None
                )
                reason = (
                    blocker(rule, ctx, facts)
                    if rule is not None
                    else _("The promotion is not running.")
                )
            if reason is not None:
                raise promo_codes.code_error(
                    "promo_code_not_applicable",
                    _("Promo code %(code)s does not apply: %(reason)s")
                    % {"code": code.code, "reason": reason},
                )
        preview_note(blocked)
        memo = ctx.memo[KIND] = (rules, facts, blocked)
        return memo

    def propose(self, ctx) -> Iterator[Benefit]:
        rules, facts, blocked = self._evaluated(ctx)
        applicable = [r for r in rules if blocked[r.id] is None and not r.exclusive]
        cap = self._cap(ctx)
        groups: dict[int, list[Rule]] = {}
        for rule in applicable:
            groups.setdefault(rule.group_id, []).append(rule)
        for members in groups.values():
            for rule, per_line in self._group(members, ctx, facts):
                room = cap - sum((ln.discount for ln in ctx.lines), ZERO)
                benefit = self._benefit(rule, ctx, per_line, room, facts)
                if benefit.amount > 0 or rule.effect in POINTS_EFFECTS:
                    yield benefit

    def exclusive_offers(self, ctx) -> list[Benefit]:
        """Exclusive promotions that apply, each priced alone on the list
        prices (pricing keeps the best one if it beats everything else)."""
        rules, facts, blocked = self._evaluated(ctx)
        cap = self._cap(ctx)
        offers = []
        for rule in rules:
            if rule.exclusive and blocked[rule.id] is None:
                benefit = self._benefit(rule, ctx, None, cap, facts)
                if benefit.amount > 0:
                    offers.append(benefit)
        return offers

    def near_misses(self, ctx) -> list[tuple[str, str]]:
        """Promotions this member could have on this bill with a little more
        (a service, a bigger bill, another hour or day, a few days' wait),
        and what is missing. Never one that needs a code not typed, nor one
        whose limits or budget are spent."""
        rules, facts, blocked = self._evaluated(ctx)
        soon = ctx.at + timedelta(days=NEAR_DAYS)
        misses = []
        candidates = list(rules) + [
            r for r in active_rules()
            if r.starts_at is not None and ctx.at < r.starts_at <= soon
        ]  # fmt: skip
        for rule in candidates:
            if not _member_fits(rule, ctx, facts):
                continue
            reason = (
                blocked[rule.id] if rule.id in blocked else blocker(rule, ctx, facts)
            )
            if reason is None:  # it applies: not a miss
                continue
            misses.append((rule.description or rule.name, str(reason)))
            if len(misses) == NEAR_MISSES:  # the rest would not be shown
                break
        return misses

    def _group(self, rules: list[Rule], ctx, facts) -> Iterator[tuple[Rule, dict]]:
        mode = rules[0].group_mode
        if mode == "stack":
            for rule in rules:
                yield rule, None  # priced when its turn comes (after the others)
            return
        typed = [rule for rule in rules if rule.id in facts.codes]
        if typed:
            # A code the member gave is what they asked for: it wins its group.
            rules = typed
        offers = [(rule, money_off(rule, ctx, facts)) for rule in rules]
        offers = [(r, off) for r, off in offers if off or r.effect in POINTS_EFFECTS]
        if not offers:
            return
        if mode == "first":
            yield offers[0]
            return
        best = max(
            offers,
            key=lambda o: (self._worth(o[0], o[1], ctx), -o[0].priority, -o[0].id),
        )
        yield best

    @staticmethod
    def _worth(rule: Rule, per_line: dict, ctx) -> Decimal:
        """A benefit's value to the member, in money (points at the program's
        rate), to pick the best of a group."""
        off = sum(per_line.values(), ZERO)
        rate = ctx.settings.money_per_point
        if rule.effect == "bonus_points":
            return off + Decimal(rule.points or 0) * rate
        if rule.effect == "voucher":
            return off + Decimal(rule.reward_cost) * rate
        if rule.effect == "points_multiplier":
            earn = earn_calculate(
                lines=[EarnLine(ln.service, ln.net) for ln in ctx.lines],
                tier=ctx.tier,
                settings=ctx.settings,
                rates=category_rates(),
            )
            extra = Decimal(earn.points) * ((rule.multiplier or 1) - 1)
            return off + extra * rate
        return off

    @staticmethod
    def _cap(ctx) -> Decimal:
        percent = Decimal(str(settings.CAMPAIGNS_MAX_DISCOUNT_PERCENT))
        gross = sum((ln.gross for ln in ctx.lines), ZERO)
        return money(gross * percent / 100)

    def _benefit(self, rule: Rule, ctx, per_line, room: Decimal, facts) -> Benefit:
        if per_line is None:
            per_line = money_off(rule, ctx, facts)
        per_line = capped(per_line, room)
        code = facts.codes.get(rule.id)
        params = {"promotion": rule.id, "name": rule.name, "effect": rule.effect}
        if rule.percent is not None:
            params["percent"] = str(rule.percent)
        if rule.amount is not None:
            params["amount"] = str(rule.amount)
        if rule.bundle_quantity:
            params["bundle"] = rule.bundle_quantity
        if code is not None:
            params["code"] = code.code
        reason = "promotion"
        if rule.effect == "bonus_points":
            reason = "promotion_bonus_points"
            params["points"] = rule.points or 0
        elif rule.effect == "points_multiplier":
            reason = "promotion_points_multiplier"
            params["multiplier"] = str(rule.multiplier or 1)
        elif rule.effect == "voucher":
            reason = "promotion_voucher"
            params["reward"] = rule.reward_name
        if rule.points_lifetime_days:
            params["lifetime_days"] = rule.points_lifetime_days
        return Benefit(
            KIND,
            _("Promotion “%(name)s”") % {"name": rule.name},
            money(sum(per_line.values(), ZERO)),
            reason,
            params,
            per_line=per_line,
        )


def _member_fits(rule: Rule, ctx, facts: Facts) -> bool:
    """Who the member is fits, the code is typed if one is needed, and the
    location is right: what is missing is about the bill, the time or the day.
    A birthday promotion is never a near miss (the member cannot change it)."""
    return (
        member_allowed(
            rule,
            member=ctx.member,
            tier_id=ctx.tier.pk if ctx.tier else None,
            first_visit=ctx.first_visit,
            facts=facts,
        )
        and not (rule.code_required and rule.id not in facts.codes)
        and not (
            rule.locations
            and (ctx.location is None or ctx.location.pk not in rule.locations)
        )
        and rule.birthday_days is None
    )


def _effect_text(p: dict) -> str:
    """What a discount promotion gives, in the reader's language."""
    effect = p.get("effect")
    if effect in ("percent_lines", "percent_bill") and "percent" in p:
        return _("%(percent)s%% off") % {"percent": number_text(p["percent"])}
    if effect == "fixed_bill" and "amount" in p:
        return _("%(amount)s off") % {"amount": money_text(Decimal(p["amount"]))}
    if effect == "bundle_price" and "amount" in p:
        return _("%(n)s for %(amount)s") % {
            "n": p.get("bundle", ""),
            "amount": money_text(Decimal(p["amount"])),
        }
    if effect == "cheapest_free":
        return _("the cheapest service is a gift")
    return ""
