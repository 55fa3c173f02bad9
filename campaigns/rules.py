"""Promotions as the checkout reads them: loaded once per process, evaluated in
memory.

``active_rules()`` holds every active promotion as a ``Rule`` (its condition
lists as sets of ids), reloaded when the config stamp moves (a trigger on the
campaigns tables bumps it: ``core.stamps``). A checkout evaluates them with no
query per promotion: ``rule.blocker(ctx, facts)`` says what keeps a rule from
applying (or None), ``effect_benefit`` what it gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from campaigns.models import Promotion
from core import stamps
from members.money import money_text

ZERO = Decimal("0.00")
Effect = Promotion.Effect


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    description: str
    group_id: int
    group_order: int
    group_mode: str
    priority: int
    exclusive: bool
    starts_at: datetime | None
    ends_at: datetime | None
    services: frozenset[int]
    categories: frozenset[int]
    excluded_services: frozenset[int]
    excluded_categories: frozenset[int]
    locations: frozenset[int]
    tiers: frozenset[int]
    specialists: frozenset[int]
    weekdays: frozenset[int]
    time_from: time | None
    time_to: time | None
    first_visit: bool
    nth_visit: int | None
    min_bill: Decimal | None
    min_lines: int
    combo_categories: frozenset[int]
    untried_category: int | None
    birthday_days: int | None
    recent_visits: int | None
    recent_days: int | None
    code_required: bool
    effect: str
    percent: Decimal | None
    percent_of: str
    amount: Decimal | None
    bundle_quantity: int | None
    points: int | None
    multiplier: Decimal | None
    points_lifetime_days: int | None
    reward_id: int | None
    reward_cost: int  # the voucher's reward in points (to weigh it), 0 if none
    reward_name: str
    uses_per_member: int | None
    uses_per_member_period: int | None
    period_days: int | None
    max_redemptions: int | None
    budget_money: Decimal | None
    budget_points: int | None
    # For members of any of these segments only (id → the segment's rules,
    # evaluated for the member in one query: ``campaigns.segments``).
    segments: dict[int, dict] = field(default_factory=dict, compare=False)

    def live_at(self, at: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= at) and (
            self.ends_at is None or at < self.ends_at
        )

    @property
    def has_limits(self) -> bool:
        return bool(self.uses_per_member or self.uses_per_member_period)

    @property
    def has_budget(self) -> bool:
        return bool(
            self.max_redemptions is not None
            or self.budget_money is not None
            or self.budget_points is not None
        )

    def line_matches(self, line) -> bool:
        if self.specialists and line.specialist_id not in self.specialists:
            return False
        service = line.service
        if service.pk in self.excluded_services:
            return False
        if service.category_id in self.excluded_categories:
            return False
        if self.services or self.categories:
            return service.pk in self.services or service.category_id in self.categories
        return True


@dataclass
class Facts:
    """What a checkout knows beyond the bill, read once for all the rules
    (each only when some live rule needs it)."""

    codes: dict[int, object] = field(default_factory=dict)  # promotion id → PromoCode
    member_uses: dict[int, tuple[int, int]] = field(
        default_factory=dict
    )  # (all, period)
    usage: dict[int, tuple[int, Decimal, int]] = field(default_factory=dict)
    tried_categories: frozenset[int] = frozenset()
    recent_visits: dict[int, int] = field(default_factory=dict)  # days → visits
    local: datetime | None = None  # the checkout's time, in the program's zone
    segments: frozenset[int] = frozenset()  # the member's, of the rules' segments


def _ids(rows) -> frozenset[int]:
    return frozenset(row.pk for row in rows)


PREFETCH = (
    "services",
    "categories",
    "excluded_services",
    "excluded_categories",
    "locations",
    "tiers",
    "specialists",
    "combo_categories",
    "segments",
)


def rule_of(p: Promotion) -> Rule:
    """The promotion as the checkout reads it (its group and lists loaded)."""
    return Rule(
        id=p.pk,
        name=p.name,
        description=p.description,
        group_id=p.group_id,
        group_order=p.group.order,
        group_mode=p.group.mode,
        priority=p.priority,
        exclusive=p.exclusive,
        starts_at=p.starts_at,
        ends_at=p.ends_at,
        services=_ids(p.services.all()),
        categories=_ids(p.categories.all()),
        excluded_services=_ids(p.excluded_services.all()),
        excluded_categories=_ids(p.excluded_categories.all()),
        locations=_ids(p.locations.all()),
        tiers=_ids(p.tiers.all()),
        specialists=_ids(p.specialists.all()),
        weekdays=frozenset(int(d) for d in p.weekdays if d.isdigit()),
        time_from=p.time_from,
        time_to=p.time_to,
        first_visit=p.first_visit,
        nth_visit=p.nth_visit,
        min_bill=p.min_bill,
        min_lines=max(p.min_lines, 1),
        combo_categories=_ids(p.combo_categories.all()),
        untried_category=p.untried_category_id,
        birthday_days=p.birthday_days,
        recent_visits=p.recent_visits,
        recent_days=p.recent_days,
        code_required=p.code_required,
        effect=p.effect,
        percent=p.percent,
        percent_of=p.percent_of,
        amount=p.amount,
        bundle_quantity=p.bundle_quantity,
        points=p.points,
        multiplier=p.multiplier,
        points_lifetime_days=p.points_lifetime_days,
        reward_id=p.reward_id,
        reward_cost=p.reward.points_cost if p.reward_id else 0,
        reward_name=p.reward.name if p.reward_id else "",
        uses_per_member=p.uses_per_member,
        uses_per_member_period=p.uses_per_member_period,
        period_days=p.period_days,
        max_redemptions=p.max_redemptions,
        budget_money=p.budget_money,
        budget_points=p.budget_points,
        segments={s.pk: s.definition for s in p.segments.all()},
    )


def _load() -> tuple[Rule, ...]:
    promotions = (
        Promotion.objects.filter(status=Promotion.Status.ACTIVE)
        .select_related("group", "reward")
        .prefetch_related(*PREFETCH)
    )
    return _sorted([rule_of(p) for p in promotions])


def _sorted(rules: list[Rule]) -> tuple[Rule, ...]:
    rules.sort(key=lambda r: (r.group_order, r.group_id, r.priority, r.id))
    return tuple(rules)


_rules = stamps.ProcessCache(_load)


# A preview in the admin: one promotion weighed as if active (draft, paused or
# edited), with what kept it from applying written down for the page.
_preview: ContextVar[tuple[Rule, dict] | None] = ContextVar(
    "campaigns_preview", default=None
)


def active_rules() -> tuple[Rule, ...]:
    """Every active promotion (the schedule not checked: ``Rule.live_at``)."""
    rules = _rules.get()
    preview = _preview.get()
    if preview is None:
        return rules
    shown = preview[0]
    return _sorted([r for r in rules if r.id != shown.id] + [shown])


@contextmanager
def previewing(rule: Rule) -> Iterator[dict]:
    """Price with ``rule`` among the active promotions; the dict gets
    ``"reason"``: what kept it from applying (None: nothing did)."""
    notes: dict = {}
    token = _preview.set((rule, notes))
    try:
        yield notes
    finally:
        _preview.reset(token)


def preview_note(blocked: dict) -> None:
    """The promotion source's report of its weighing, for a preview."""
    preview = _preview.get()
    if preview is not None:
        rule, notes = preview
        reason = blocked.get(rule.id)
        notes["reason"] = None if reason is None else str(reason)
        notes["weighed"] = rule.id in blocked


# --- conditions ----------------------------------------------------------------


def birthday_near(birthday: date | None, today: date, days: int) -> bool:
    if birthday is None:
        return False
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            day = birthday.replace(year=year)
        except ValueError:  # 29 February in a common year: the 28th
            day = date(year, 2, 28)
        if abs((day - today).days) <= days:
            return True
    return False


class Reason:
    """What keeps a promotion from applying, put in words only when read: a
    checkout weighs every live promotion and shows few of the reasons."""

    __slots__ = ("_words",)

    def __init__(self, words: Callable[[], str]):
        self._words = words

    def __str__(self) -> str:
        return str(self._words())


_ENDED = gettext_lazy("The promotion has ended.")
_NEEDS_CODE = gettext_lazy("Needs a promo code.")
_NOT_HERE = gettext_lazy("Not at this location.")
_NOT_TIER = gettext_lazy("Not for this tier.")
_NOT_SEGMENT = gettext_lazy("For a particular group of clients only.")
_NOT_TODAY = gettext_lazy("Not on this day of the week.")
_FIRST_ONLY = gettext_lazy("First visit only.")
_BIRTHDAY_ONLY = gettext_lazy("Around the member's birthday only.")
_COMBO = gettext_lazy("Needs the whole combo in one visit.")
_TRIED = gettext_lazy("For a category the member has not tried yet.")
_ADD_UNTRIED = gettext_lazy("Add a service of the category the member has not tried.")
_USED = gettext_lazy("Already used as many times as allowed.")
_USED_PERIOD = gettext_lazy("Already used in this period.")
_NO_REDEMPTIONS = gettext_lazy("No redemptions left.")
_BUDGET_SPENT = gettext_lazy("The promotion's budget is spent.")


def blocker(rule: Rule, ctx, facts: Facts) -> Reason | Promise | None:
    """What keeps ``rule`` from applying to this bill (``str()`` of it for
    people); None if it applies. Cheap checks first; each names what is
    missing."""
    local = facts.local or timezone.localtime(ctx.at)
    if not rule.live_at(ctx.at):
        if rule.starts_at and ctx.at < rule.starts_at:
            start = timezone.localtime(rule.starts_at)
            return Reason(
                lambda: _("Starts on %(date)s.") % {"date": start.strftime("%d.%m.%Y")}
            )
        return _ENDED
    if rule.code_required and rule.id not in facts.codes:
        return _NEEDS_CODE
    if rule.locations and (
        ctx.location is None or ctx.location.pk not in rule.locations
    ):
        return _NOT_HERE
    if rule.tiers and (ctx.tier is None or ctx.tier.pk not in rule.tiers):
        return _NOT_TIER
    if rule.segments and not facts.segments & rule.segments.keys():
        return _NOT_SEGMENT
    if rule.weekdays and local.isoweekday() not in rule.weekdays:
        return _NOT_TODAY
    if rule.time_from and local.time() < rule.time_from:
        return Reason(
            lambda: _("From %(time)s.") % {"time": rule.time_from.strftime("%H:%M")}
        )
    if rule.time_to and local.time() >= rule.time_to:
        return Reason(
            lambda: _("Until %(time)s.") % {"time": rule.time_to.strftime("%H:%M")}
        )
    if rule.first_visit and not ctx.first_visit:
        return _FIRST_ONLY
    if rule.nth_visit and ctx.member.visits_count + 1 != rule.nth_visit:
        return Reason(lambda: _("Only on visit number %(n)d.") % {"n": rule.nth_visit})
    if rule.birthday_days is not None and not birthday_near(
        ctx.member.birthday, local.date(), rule.birthday_days
    ):
        return _BIRTHDAY_ONLY
    if rule.recent_visits and (
        facts.recent_visits.get(rule.recent_days or 0, 0) < rule.recent_visits
    ):
        return Reason(
            lambda: (
                ngettext(
                    "For clients with %(n)d visit in the last %(days)d days.",
                    "For clients with %(n)d visits in the last %(days)d days.",
                    rule.recent_visits,
                )
                % {"n": rule.recent_visits, "days": rule.recent_days or 0}
            )
        )
    matching = [i for i, ln in enumerate(ctx.lines) if rule.line_matches(ln)]
    units = sum(ctx.lines[i].quantity for i in matching)
    needed = rule.bundle_quantity if rule.effect == Effect.BUNDLE_PRICE else None
    needed = max(needed or 0, rule.min_lines)
    if units < needed:
        missing = needed - units
        return Reason(
            lambda: (
                ngettext(
                    "%(n)d more matching service needed.",
                    "%(n)d more matching services needed.",
                    missing,
                )
                % {"n": missing}
            )
        )
    if rule.combo_categories:
        present = {ln.service.category_id for ln in ctx.lines}
        if not rule.combo_categories <= present:
            return _COMBO
    if rule.untried_category is not None:
        if rule.untried_category in facts.tried_categories:
            return _TRIED
        if not any(
            ctx.lines[i].service.category_id == rule.untried_category for i in matching
        ):
            return _ADD_UNTRIED
    if rule.min_bill is not None:
        bill = sum((ln.gross for ln in ctx.lines), ZERO)
        if bill < rule.min_bill:
            return Reason(
                lambda: (
                    _("From a bill of %(amount)s.")
                    % {"amount": money_text(rule.min_bill)}
                )
            )
    used_all, used_period = facts.member_uses.get(rule.id, (0, 0))
    if rule.uses_per_member and used_all >= rule.uses_per_member:
        return _USED
    if rule.uses_per_member_period and used_period >= rule.uses_per_member_period:
        return _USED_PERIOD
    count, spent, points = facts.usage.get(rule.id, (0, ZERO, 0))
    if rule.max_redemptions is not None and count >= rule.max_redemptions:
        return _NO_REDEMPTIONS
    if rule.budget_money is not None and spent >= rule.budget_money:
        return _BUDGET_SPENT
    if rule.budget_points is not None and (
        points >= rule.budget_points
        # Bonus points are given whole: a budget that no longer covers them
        # would only refuse the visit at commit (``promotion_used_up``).
        or (
            rule.effect == Effect.BONUS_POINTS
            and points + (rule.points or 0) > rule.budget_points
        )
    ):
        return _BUDGET_SPENT
    return None


def member_allowed(
    rule: Rule, *, member, tier_id: int | None, first_visit: bool, facts: Facts
) -> bool:
    """The conditions about who the member is and what they may still use
    (tier, first or n-th visit, recent visits, a category not tried, uses,
    the budget) hold. The offers and the near misses start from this."""
    used_all, used_period = facts.member_uses.get(rule.id, (0, 0))
    count, spent, points = facts.usage.get(rule.id, (0, ZERO, 0))
    return not (
        (rule.tiers and tier_id not in rule.tiers)
        or (rule.segments and not facts.segments & rule.segments.keys())
        or (rule.first_visit and not first_visit)
        or (rule.nth_visit and member.visits_count + 1 != rule.nth_visit)
        or (rule.recent_visits
            and facts.recent_visits.get(rule.recent_days or 0, 0) < rule.recent_visits)
        or (rule.untried_category is not None
            and rule.untried_category in facts.tried_categories)
        or (rule.uses_per_member and used_all >= rule.uses_per_member)
        or (rule.uses_per_member_period and used_period >= rule.uses_per_member_period)
        or (rule.max_redemptions is not None and count >= rule.max_redemptions)
        or (rule.budget_money is not None and spent >= rule.budget_money)
        or (rule.budget_points is not None and points >= rule.budget_points)
    )  # fmt: skip


def period_start(rule: Rule, at: datetime) -> datetime:
    return at - timedelta(days=rule.period_days or 30)
