"""The campaigns app's reaction to visits: record the promotions a checkout
applied, within their limits; undo them when the visit is cancelled or refunded.

Listed last in ``REGULARS_VISIT_REACTIONS``; runs in the visit's transaction
(the member row locked). Budgets are enforced here, under a row lock on the
usage row of each promotion that has one (taken in id order; a promotion
without a budget or a maximum keeps no usage row, so checkouts applying it
never queue on one): two checkouts racing for the last
redemption or the last of a budget cannot both get it — the second one's
visit is refused (``promotion_used_up``) and the till quotes again. A single-use
code is claimed with one conditional UPDATE. Bonus points are credited as a
lot of their own (``points_bonus``, idempotent by key, with the promotion's
lifetime); a reversal takes them back, gives the budget and the uses back,
and is idempotent too (a redemption is reversed once). A partial refund gives
back its share of the money off and of the bonus points (``campaigns.refunds``);
the reversal after the last unit undoes only what partial refunds left.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.benefits import KIND
from campaigns.codes import code_error
from campaigns.models import PromoCode, Promotion, PromotionUsage, Redemption
from campaigns.refunds import bonus_key as _bonus_key
from campaigns.refunds import redemption_lines, redemptions_refund_partial
from campaigns.rules import PREFETCH, active_rules, rule_of
from members.models import VisitLine
from members.visit_flow import VisitPartiallyRefunded, VisitRecorded, VisitReversed
from rewards.models import Reward, Voucher
from rewards.services.points import points_bonus_reverse, points_bonuses
from rewards.services.vouchers import voucher_cancel, voucher_issue

ZERO = Decimal("0.00")


def _rules_of(ids: list[int]) -> dict:
    """The promotions as the checkout priced them: the process's cached rules
    (no query), read from the database only for one not cached (a preview)."""
    rules = {rule.id: rule for rule in active_rules() if rule.id in ids}
    missing = [pid for pid in ids if pid not in rules]
    if missing:
        for promotion in (
            Promotion.objects.filter(pk__in=missing)
            .select_related("group", "reward")
            .prefetch_related(*PREFETCH)
        ):
            rules[promotion.pk] = rule_of(promotion)
    return rules


def _usage_save(usages) -> None:
    """The locked usage rows' new figures: one statement, sent as a batch
    (``bulk_update`` builds a CASE per field and row, costlier than the
    statement itself at a checkout)."""
    table = PromotionUsage._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET redemptions = %s, money = %s, points = %s "
            "WHERE promotion_id = %s",
            [(u.redemptions, u.money, u.points, u.promotion_id) for u in usages],
        )


class CampaignVisitReaction:
    def visit_recorded(self, event: VisitRecorded) -> tuple[Redemption, ...]:
        quote = event.context.get("quote")
        if quote is None:
            return ()
        applied = [b for b in quote.benefits if b.kind == KIND]
        if not applied:
            return ()
        visit = event.visit
        ids = sorted({b.params["promotion"] for b in applied})
        promotions = _rules_of(ids)
        # Only a promotion with a budget or a maximum of redemptions keeps a
        # usage row, locked here: every checkout applying it waits for the
        # one before. One without is counted from its redemptions instead,
        # so checkouts applying it never queue on one row.
        budgeted = [pid for pid in ids if promotions[pid].has_budget]
        usages = {}
        if budgeted:
            # The rows exist before they are locked (one INSERT … ON CONFLICT
            # DO NOTHING), then are locked in id order.
            PromotionUsage.objects.bulk_create(
                [PromotionUsage(promotion_id=pid) for pid in budgeted],
                ignore_conflicts=True,
            )
            usages = {
                u.promotion_id: u
                for u in PromotionUsage.objects.select_for_update()
                .filter(promotion_id__in=budgeted)
                .order_by("promotion_id")
            }
        typed = [b.params["code"] for b in applied if "code" in b.params]
        codes = (
            {c.code: c for c in PromoCode.objects.filter(code__in=typed)}
            if typed
            else {}
        )
        lines = getattr(visit, "lines_recorded", None) or list(
            VisitLine.objects.filter(visit=visit).order_by("pk")
        )
        redemptions, bonuses = [], []
        for benefit in applied:
            promotion = promotions[benefit.params["promotion"]]
            usage = usages.get(promotion.id) or PromotionUsage(
                promotion_id=promotion.id
            )
            points = self._points(promotion, benefit, quote)
            if (
                promotion.effect == Promotion.Effect.POINTS_MULTIPLIER
                and promotion.budget_points is not None
                and usage.points < promotion.budget_points
            ):
                # A multiplier's points are known only now: the last of the
                # budget, never a visit refused for a quote that could not tell.
                points = min(points, promotion.budget_points - usage.points)
            self._within_limits(promotion, usage, benefit.amount, points)
            code = codes.get(benefit.params.get("code", ""))
            if code is not None:
                self._code_claim(code)
            usage.redemptions += 1
            usage.money += benefit.amount
            usage.points += points
            voucher = None
            if promotion.effect == Promotion.Effect.VOUCHER and promotion.reward_id:
                voucher = voucher_issue(
                    member=visit.member,
                    reward=Reward.objects.get(pk=promotion.reward_id),
                    key=f"{_bonus_key(promotion.id, visit.pk)}:voucher",
                    source=Voucher.Source.PROMOTION,
                )
            redemptions.append(
                Redemption(
                    promotion_id=promotion.id,
                    visit=visit,
                    member_id=visit.member_id,
                    code=code,
                    money=benefit.amount,
                    points=points,
                    lines=redemption_lines(benefit, lines),
                    voucher=voucher,
                    created_at=visit.paid_at,
                )
            )
            if points:
                bonuses.append({
                    "points": points,
                    "key": _bonus_key(promotion.id, visit.pk),
                    "reason": "promotion_bonus",
                    "params": {"promotion": promotion.id, "name": promotion.name,
                               "visit": visit.pk},
                    "lifetime_days": promotion.points_lifetime_days,
                })  # fmt: skip
        # One UPDATE for the usage rows, one INSERT for the redemptions, one
        # wallet posting for all the bonus points.
        if usages:
            _usage_save(usages.values())
        Redemption.objects.bulk_create(redemptions)
        if bonuses:
            points_bonuses(member=visit.member, items=bonuses)
        return tuple(redemptions)

    @staticmethod
    def _points(promotion: Promotion, benefit, quote) -> int:
        if promotion.effect == Promotion.Effect.BONUS_POINTS:
            return int(promotion.points or 0)
        if promotion.effect == Promotion.Effect.POINTS_MULTIPLIER:
            extra = Decimal(quote.earn.points) * ((promotion.multiplier or 1) - 1)
            return max(int(extra), 0)
        return 0

    @staticmethod
    def _within_limits(promotion, usage, amount: Decimal, points: int) -> None:
        over = (
            (promotion.max_redemptions is not None
             and usage.redemptions + 1 > promotion.max_redemptions)
            or (promotion.budget_money is not None
                and usage.money + amount > promotion.budget_money)
            or (promotion.budget_points is not None
                and usage.points + points > promotion.budget_points)
        )  # fmt: skip
        if over:
            raise code_error(
                "promotion_used_up",
                _("The promotion “%(name)s” has just run out: quote the visit again.")
                % {"name": promotion.name},
            )

    @staticmethod
    def _code_claim(code: PromoCode) -> None:
        codes = PromoCode.objects.filter(pk=code.pk)
        if code.max_uses is not None:
            codes = codes.filter(uses__lt=F("max_uses"))
        claimed = codes.update(uses=F("uses") + 1)
        if not claimed:
            raise code_error(
                "promo_code_used_up",
                _("Promo code %(code)s has been used up.") % {"code": code.code},
            )

    def visit_partially_refunded(self, event: VisitPartiallyRefunded) -> None:
        redemptions_refund_partial(
            visit=event.visit, refund=event.refund, actor=event.actor
        )

    def visit_reversed(self, event: VisitReversed) -> None:
        visit = event.visit
        live = list(
            Redemption.objects.select_for_update()
            .filter(visit=visit, reversed_at__isnull=True)
            .order_by("promotion_id")
        )
        if not live:
            return
        now = timezone.now()
        for redemption in live:
            # Partial refunds gave their share back already: only the rest.
            PromotionUsage.objects.filter(promotion_id=redemption.promotion_id).update(
                redemptions=F("redemptions") - 1,
                money=F("money") - (redemption.money - redemption.money_refunded),
                points=F("points") - (redemption.points - redemption.points_refunded),
            )
            if redemption.code_id:
                PromoCode.objects.filter(pk=redemption.code_id, uses__gt=0).update(
                    uses=F("uses") - 1
                )
            if redemption.points > redemption.points_refunded:
                points_bonus_reverse(
                    member=visit.member,
                    bonus_key=_bonus_key(redemption.promotion_id, visit.pk),
                    key=f"{_bonus_key(redemption.promotion_id, visit.pk)}:reverse",
                    reason="promotion_bonus_reversed",
                    params={"promotion": redemption.promotion_id, "visit": visit.pk},
                    actor=event.actor,
                )
            if redemption.voucher_id:
                voucher = Voucher.objects.get(pk=redemption.voucher_id)
                if voucher.status == Voucher.Status.ACTIVE:  # a used one stays used
                    voucher_cancel(voucher=voucher, actor=event.actor,
                                   reason="promotion_reversed")  # fmt: skip
            redemption.reversed_at = now
            redemption.save(update_fields=["reversed_at"])
