"""A partial refund gives back the refunded share of the visit's promotions.

Called by ``campaigns.flow.CampaignVisitReaction.visit_partially_refunded``
inside the refund's transaction (member row locked). Every figure is a
running total of what the refunds so far give back, rounded once, minus what
the redemption records as given back already: the shares never drift, the
same refund processed twice gives nothing the second time, and the reversal
that follows the last unit (``visit_reversed``) undoes exactly what is left.

* money off: a line's discount (``Redemption.lines``, as the checkout spread
  it) comes back per unit refunded of that line; a redemption without them
  (from before they were kept) pro rata by the refunded gross (list price ×
  quantity);
* bonus points: pro rata by the visit's money refunded, as the earned points
  (``rewards.services.points.points_reverse_partial``); by list price when the
  visit paid nothing in money;
* the budget (``PromotionUsage`` money and points) gets both back; the uses,
  the promo code's use and a voucher issued stay: the visit still happened.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from campaigns.models import PromotionUsage, Redemption
from members.models import Visit, VisitLine, VisitRefund
from members.money import money
from rewards.services.points import points_bonus_reverse

ZERO = Decimal("0.00")


def bonus_key(promotion_id: int, visit_id: int) -> str:
    return f"promo:{promotion_id}:visit:{visit_id}"


def redemption_lines(benefit, lines: list[VisitLine]) -> dict[str, str]:
    """{visit line id: money off} of a benefit (``per_line`` is by line index)."""
    return {
        str(lines[i].pk): str(amount)
        for i, amount in sorted(benefit.per_line.items())
        if amount > 0 and i < len(lines)
    }


def money_given_back(redemption: Redemption, lines: list[VisitLine]) -> Decimal:
    """Money off the refunds of ``lines`` (refunded quantities) give back in all."""
    if redemption.money <= 0:
        return ZERO
    if all(ln.refunded_quantity >= ln.quantity for ln in lines):
        return redemption.money
    by_id = {ln.pk: ln for ln in lines}
    if redemption.lines:
        raw = sum(
            (
                Decimal(amount)
                * by_id[int(pk)].refunded_quantity
                / by_id[int(pk)].quantity
                for pk, amount in redemption.lines.items()
                if int(pk) in by_id
            ),
            Decimal("0"),
        )
    else:
        gross = sum((ln.price * ln.quantity for ln in lines), Decimal("0"))
        refunded = sum((ln.price * ln.refunded_quantity for ln in lines), Decimal("0"))
        raw = redemption.money * refunded / gross if gross else Decimal("0")
    return min(money(raw), redemption.money)


def points_given_back(
    redemption: Redemption, visit: Visit, lines: list[VisitLine]
) -> int:
    """Bonus points the refunds so far take back in all (rounded down)."""
    if redemption.points <= 0:
        return 0
    if visit.amount_paid:
        part, whole = visit.amount_refunded, visit.amount_paid
    else:
        whole = sum((ln.price * ln.quantity for ln in lines), Decimal("0"))
        part = sum((ln.price * ln.refunded_quantity for ln in lines), Decimal("0"))
    if not whole:
        return 0
    share = redemption.points * int(part * 100) // int(whole * 100)
    return min(int(share), redemption.points)


def redemptions_refund_partial(
    *, visit: Visit, refund: VisitRefund, actor=None
) -> list[Redemption]:
    """Give back the refunded share of each live redemption of ``visit``.

    ``visit`` carries the new ``amount_refunded``; its lines are read fresh
    (the refund has updated their refunded quantities). Returns the
    redemptions that gave something back.
    """
    live = list(
        Redemption.objects.select_for_update()
        .filter(visit=visit, reversed_at__isnull=True)
        .order_by("promotion_id")
    )
    if not live:
        return []
    lines = list(VisitLine.objects.filter(visit=visit).order_by("pk"))
    changed = []
    for redemption in live:
        money_back = max(
            money_given_back(redemption, lines) - redemption.money_refunded, ZERO
        )
        points_back = max(
            points_given_back(redemption, visit, lines) - redemption.points_refunded,
            0,
        )
        if not money_back and not points_back:
            continue  # nothing more: this refund (or its replay) is done
        PromotionUsage.objects.filter(promotion_id=redemption.promotion_id).update(
            money=F("money") - money_back, points=F("points") - points_back
        )
        if points_back:
            key = bonus_key(redemption.promotion_id, visit.pk)
            points_bonus_reverse(
                member=visit.member,
                bonus_key=key,
                key=f"{key}:refund:{refund.pk}",
                reason="reverse_partial",
                params={
                    "promotion": redemption.promotion_id,
                    "visit": visit.pk,
                    "refund": refund.pk,
                    "date": timezone.localdate(visit.paid_at).isoformat(),
                },
                points=points_back,
                actor=actor,
            )
        redemption.money_refunded += money_back
        redemption.points_refunded += points_back
        redemption.save(update_fields=["money_refunded", "points_refunded"])
        changed.append(redemption)
    return changed
