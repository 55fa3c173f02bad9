"""What a member can use now and soon (``GET me/offers``), in plain words.

An offer is a live promotion whose conditions about the member hold (tier,
first or Nth visit, birthday, a category not tried yet, a segment, uses left,
budget left):
*now* when it applies at this hour and day, *soon* when it starts within
``NEAR_DAYS`` or applies at another hour or day. A promotion that needs a code
is offered only with a public code or the member's own personal code (a
campaign's offer, ``PromoCode.member``) — never a code of a batch handed out
one by one: those belong to whoever got them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from campaigns.benefits import NEAR_DAYS, facts_read
from campaigns.models import PromoCode, Promotion
from campaigns.rules import Facts, Rule, active_rules, birthday_near, member_allowed
from members.models import Location, Member, Service, ServiceCategory, Specialist
from members.money import money_text
from rewards.explain import number_text
from rewards.models import Tier
from rewards.selectors.pos import member_wallet_tier

WEEKDAYS = {
    1: gettext_lazy("Mon"), 2: gettext_lazy("Tue"), 3: gettext_lazy("Wed"),
    4: gettext_lazy("Thu"), 5: gettext_lazy("Fri"), 6: gettext_lazy("Sat"),
    7: gettext_lazy("Sun"),
}  # fmt: skip


@dataclass
class Offer:
    rule: Rule
    when: str  # "now" or "soon"
    code: str  # the public code to type, "" when none is needed
    effect: str
    conditions: list[str]
    personal: bool = False  # the code is the member's own (a campaign's offer)
    code_valid_until: datetime | None = None


@dataclass
class _Ctx:
    """Just enough of a pricing context for the facts' reads."""

    member: Member
    at: datetime


def offers_for(*, member: Member, at: datetime | None = None) -> list[Offer]:
    at = at or timezone.now()
    soon = at + timedelta(days=NEAR_DAYS)
    rules = [
        r for r in active_rules()
        if (r.ends_at is None or at < r.ends_at)
        and (r.starts_at is None or r.starts_at <= soon)
    ]  # fmt: skip
    if not rules:
        return []
    facts = facts_read(_Ctx(member, at), rules, [])
    codes = _codes([r.id for r in rules if r.code_required], at, member.pk)
    tier_id = _tier_id(member)
    local = timezone.localtime(at)
    names = _Names(rules)
    offers = []
    for rule in rules:
        if rule.code_required and rule.id not in codes:
            continue
        if not _member_fits(rule, member, tier_id, facts, local.date()):
            continue
        live = rule.live_at(at) and _hour_fits(rule, local)
        code = codes.get(rule.id)
        offers.append(
            Offer(
                rule=rule,
                when="now" if live else "soon",
                code=code.code if code else "",
                effect=effect_text(rule),
                conditions=conditions_text(rule, names),
                personal=bool(code and code.member_id),
                code_valid_until=code.valid_until if code else None,
            )
        )
    offers.sort(key=lambda o: (o.when != "now", o.rule.group_order, o.rule.priority))
    return offers


def _tier_id(member: Member) -> int | None:
    _wallet, tier = member_wallet_tier(member)
    return tier.pk if tier else None


def _codes(ids: list[int], at: datetime, member_id: int) -> dict[int, PromoCode]:
    """The code to show for each promotion: the member's own (a campaign
    gave it), else a public one; never a code of a batch handed out to others."""
    if not ids:
        return {}
    codes: dict[int, PromoCode] = {}
    rows = PromoCode.objects.filter(
        Q(batch="", member__isnull=True) | Q(member_id=member_id),
        promotion_id__in=ids,
    ).order_by(F("member_id").desc(nulls_last=True), "valid_until", "pk")
    for code in rows:
        usable = (
            (code.max_uses is None or code.uses < code.max_uses)
            and (code.valid_from is None or code.valid_from <= at)
            and (code.valid_until is None or at < code.valid_until)
        )
        if usable:
            codes.setdefault(code.promotion_id, code)
    return codes


def _member_fits(rule: Rule, member: Member, tier_id, facts: Facts, today) -> bool:
    return member_allowed(
        rule,
        member=member,
        tier_id=tier_id,
        first_visit=member.visits_count == 0,
        facts=facts,
    ) and (
        rule.birthday_days is None
        or birthday_near(member.birthday, today, rule.birthday_days)
    )


def _hour_fits(rule: Rule, local: datetime) -> bool:
    return not (
        (rule.weekdays and local.isoweekday() not in rule.weekdays)
        or (rule.time_from and local.time() < rule.time_from)
        or (rule.time_to and local.time() >= rule.time_to)
    )


class _Names:
    """The names the rules' conditions mention: one query per kind, only
    for the kinds some rule uses."""

    def __init__(self, rules: list[Rule]):
        def load(model, ids):
            return (
                dict(model.objects.filter(pk__in=ids).values_list("pk", "name"))
                if ids
                else {}
            )

        self.services = load(Service, set().union(*(r.services for r in rules)))
        self.categories = load(
            ServiceCategory,
            set().union(*(r.categories | r.combo_categories for r in rules))
            | {r.untried_category for r in rules if r.untried_category},
        )
        self.locations = load(Location, set().union(*(r.locations for r in rules)))
        self.tiers = load(Tier, set().union(*(r.tiers for r in rules)))
        self.specialists = load(
            Specialist, set().union(*(r.specialists for r in rules))
        )


def effect_text(rule: Rule) -> str:
    e = Promotion.Effect
    if rule.effect in (e.PERCENT_LINES, e.PERCENT_BILL) and rule.percent is not None:
        return _("%(percent)s%% off") % {"percent": number_text(rule.percent)}
    if rule.effect == e.FIXED_BILL and rule.amount is not None:
        return _("%(amount)s off the bill") % {"amount": money_text(rule.amount)}
    if rule.effect == e.BUNDLE_PRICE and rule.amount is not None:
        return _("%(n)s services for %(amount)s") % {
            "n": rule.bundle_quantity,
            "amount": money_text(rule.amount),
        }
    if rule.effect == e.CHEAPEST_FREE:
        return _("the cheapest service is a gift")
    if rule.effect == e.BONUS_POINTS:
        return _("+%(points)s bonus points") % {"points": rule.points or 0}
    if rule.effect == e.POINTS_MULTIPLIER:
        return _("points ×%(m)s") % {"m": number_text(rule.multiplier or 1)}
    if rule.effect == e.VOUCHER:
        return _("a voucher “%(reward)s” for the next visit") % {
            "reward": rule.reward_name
        }
    return ""


def conditions_text(rule: Rule, names: _Names) -> list[str]:
    """The promotion's conditions as short sentences, in the reader's language."""
    out = []
    if rule.services or rule.categories:
        listed = sorted(
            [names.services.get(i, "") for i in rule.services]
            + [names.categories.get(i, "") for i in rule.categories]
        )
        out.append(_("On: %(what)s") % {"what": ", ".join(n for n in listed if n)})
    if rule.weekdays:
        days = ", ".join(str(WEEKDAYS[d]) for d in sorted(rule.weekdays))
        out.append(_("Days: %(days)s") % {"days": days})
    if rule.time_from or rule.time_to:
        start = rule.time_from.strftime("%H:%M") if rule.time_from else "00:00"
        end = rule.time_to.strftime("%H:%M") if rule.time_to else "24:00"
        out.append(_("Hours: %(start)s–%(end)s") % {"start": start, "end": end})
    if rule.locations:
        where = ", ".join(sorted(names.locations.get(i, "") for i in rule.locations))
        out.append(_("At: %(where)s") % {"where": where})
    if rule.specialists:
        who = ", ".join(sorted(names.specialists.get(i, "") for i in rule.specialists))
        out.append(_("With: %(who)s") % {"who": who})
    if rule.recent_visits:
        out.append(
            ngettext(
                "For clients with %(n)d visit in the last %(days)d days",
                "For clients with %(n)d visits in the last %(days)d days",
                rule.recent_visits,
            )
            % {"n": rule.recent_visits, "days": rule.recent_days or 0}
        )
    if rule.tiers:
        tiers = ", ".join(sorted(names.tiers.get(i, "") for i in rule.tiers))
        out.append(_("For tiers: %(tiers)s") % {"tiers": tiers})
    if rule.first_visit:
        out.append(_("On the first visit"))
    if rule.nth_visit:
        out.append(_("On visit number %(n)s") % {"n": rule.nth_visit})
    if rule.min_lines > 1:
        out.append(
            ngettext(
                "At least %(n)d service in one visit",
                "At least %(n)d services in one visit",
                rule.min_lines,
            )
            % {"n": rule.min_lines}
        )
    if rule.combo_categories:
        combo = " + ".join(
            sorted(names.categories.get(i, "") for i in rule.combo_categories)
        )
        out.append(_("Together in one visit: %(combo)s") % {"combo": combo})
    if rule.untried_category:
        out.append(
            _("A first try of: %(category)s")
            % {"category": names.categories.get(rule.untried_category, "")}
        )
    if rule.min_bill:
        out.append(
            _("From a bill of %(amount)s") % {"amount": money_text(rule.min_bill)}
        )
    if rule.birthday_days is not None:
        out.append(
            ngettext(
                "Within %(n)d day of your birthday",
                "Within %(n)d days of your birthday",
                rule.birthday_days,
            )
            % {"n": rule.birthday_days}
        )
    if rule.starts_at:
        out.append(
            _("From %(date)s")
            % {"date": timezone.localtime(rule.starts_at).strftime("%d.%m.%Y")}
        )
    if rule.ends_at:
        out.append(
            _("Until %(date)s")
            % {"date": timezone.localtime(rule.ends_at).strftime("%d.%m.%Y %H:%M")}
        )
    if rule.uses_per_member:
        out.append(
            ngettext(
                "%(n)d use per client", "%(n)d uses per client", rule.uses_per_member
            )
            % {"n": rule.uses_per_member}
        )
    return out
