"""What a promotion gives on a bill: the money each effect takes off which
line (``money_off``), cut to a cap or to what is left of a budget
(``capped``). Pure functions of the lines as pricing has them so far."""

from __future__ import annotations

from decimal import Decimal

from campaigns.models import Promotion
from campaigns.rules import Effect, Facts, Rule
from members.money import money

ZERO = Decimal("0.00")


def matching_lines(rule: Rule, ctx, facts: Facts) -> list[int]:
    return [
        i
        for i, ln in enumerate(ctx.lines)
        if rule.line_matches(ln) and not ln.service.excluded_from_discounts
    ]


# --- effects -----------------------------------------------------------------


def _base(rule: Rule, line) -> Decimal:
    """What a percentage applies to: the list price or what is left of it."""
    if rule.percent_of == Promotion.PercentOf.LIST:
        # The list price; what comes off is capped to what is left of the
        # line by ``money_off``.
        return line.gross
    return line.net


def money_off(rule: Rule, ctx, facts: Facts) -> dict[int, Decimal]:
    """{line index: money off} of a discount effect on the current lines."""
    per_line: dict[int, Decimal] = {}
    effect = rule.effect
    if effect == Effect.PERCENT_LINES:
        for i in matching_lines(rule, ctx, facts):
            per_line[i] = money(_base(rule, ctx.lines[i]) * rule.percent / 100)
    elif effect == Effect.PERCENT_BILL:
        for i, ln in enumerate(ctx.lines):
            if not ln.service.excluded_from_discounts:
                per_line[i] = money(_base(rule, ln) * rule.percent / 100)
    elif effect == Effect.FIXED_BILL:
        eligible = [
            i for i, ln in enumerate(ctx.lines)
            if not ln.service.excluded_from_discounts and ln.net > 0
        ]  # fmt: skip
        per_line = _spread(ctx, eligible, rule.amount or ZERO)
    elif effect == Effect.BUNDLE_PRICE:
        per_line = _bundle(rule, ctx, facts)
    elif effect == Effect.CHEAPEST_FREE:
        lines = [i for i in matching_lines(rule, ctx, facts) if ctx.lines[i].net > 0]
        if lines:
            cheapest = min(
                lines,
                key=lambda i: (ctx.lines[i].net / ctx.lines[i].quantity, i),
            )
            line = ctx.lines[cheapest]
            per_line[cheapest] = money(line.net / line.quantity)
    per_line = {i: min(v, ctx.lines[i].net) for i, v in per_line.items() if v > 0}
    if rule.budget_money is not None:
        # The last of a money budget: what is left of it, not a discount the
        # commit would refuse (``promotion_used_up``) however often it is quoted.
        _count, spent, _points = facts.usage.get(rule.id, (0, ZERO, 0))
        per_line = capped(per_line, rule.budget_money - spent)
    return per_line


def capped(per_line: dict[int, Decimal], room: Decimal) -> dict[int, Decimal]:
    """``per_line`` cut down to ``room`` (a cap, what is left of a budget),
    line by line in order."""
    room = max(room, ZERO)
    kept = {}
    for i in sorted(per_line):
        value = min(per_line[i], room)
        if value > 0:
            kept[i] = value
            room -= value
    return kept


def _spread(ctx, lines: list[int], amount: Decimal) -> dict[int, Decimal]:
    """``amount`` over ``lines`` pro rata to what is left of each; the last
    takes the rounding; never more than a line has left."""
    base = sum((ctx.lines[i].net for i in lines), ZERO)
    amount = min(amount, base)
    if amount <= 0:
        return {}
    per_line, left = {}, amount
    for n, i in enumerate(lines):
        net = ctx.lines[i].net
        share = left if n == len(lines) - 1 else money(amount * net / base)
        share = min(share, net, left)
        per_line[i] = share
        left -= share
    return per_line


def _bundle(rule: Rule, ctx, facts: Facts) -> dict[int, Decimal]:
    """N matching units for a fixed price: the dearest units make the bundle
    (the member saves most), their price brought down to the bundle's."""
    size, price = rule.bundle_quantity or 0, rule.amount
    if size <= 0 or price is None:
        return {}
    units = []
    for i in matching_lines(rule, ctx, facts):
        line = ctx.lines[i]
        unit = line.net / line.quantity
        units.extend([(unit, i)] * line.quantity)
    if len(units) < size:
        return {}
    units.sort(key=lambda u: (-u[0], u[1]))
    chosen = units[:size]
    worth = sum((u for u, _i in chosen), ZERO)
    saving = worth - price
    if saving <= 0:
        return {}
    share: dict[int, Decimal] = {}
    for unit, i in chosen:
        share[i] = share.get(i, ZERO) + unit
    lines = sorted(share)
    per_line, left = {}, money(saving)
    for n, i in enumerate(lines):
        part = left if n == len(lines) - 1 else money(saving * share[i] / worth)
        per_line[i] = min(part, left)
        left -= per_line[i]
    return per_line
