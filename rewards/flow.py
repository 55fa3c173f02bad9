"""The rewards app's reaction to visits: apply the checkout, earn, upgrade; undo.

A partial refund takes back the refunded share of the visit's points.

Listed in ``REGULARS_VISIT_REACTIONS``; runs inside the visit's transaction with
the member row locked (``members.visit_flow``).
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from members.money import money
from members.visit_flow import VisitPartiallyRefunded, VisitRecorded, VisitReversed
from rewards import selectors
from rewards.models import VisitBenefit
from rewards.services import points as points_services
from rewards.services.ledger import wallet_lock, wallet_save
from rewards.services.points import EarnLine, earn_calculate
from rewards.services.tiers import tier_upgrade_check
from rewards.services.vouchers import vouchers_release, vouchers_use


class RewardsVisitReaction:
    def visit_recorded(self, event: VisitRecorded) -> None:
        visit = event.visit
        quote = event.context.get("quote")
        state = event.context.get("wallet") or wallet_lock(visit.member_id)
        settings = event.context.get("settings") or selectors.program_settings()
        now = timezone.now()
        if quote is not None:
            VisitBenefit.objects.bulk_create(
                VisitBenefit(
                    visit=visit,
                    kind=b.kind,
                    source=str(b.source)[:120],
                    amount=b.amount,
                    points=b.points,
                    voucher=b.voucher,
                    reason=b.reason,
                    params=b.params,
                )
                for b in quote.benefits
            )
            vouchers_use(vouchers=quote.vouchers, visit=visit, now=now)
            if quote.points_used:
                points_services.points_spend(
                    state,
                    points=quote.points_used,
                    key=f"spend:visit:{visit.pk}",
                    reason="spend_visit",
                    params={
                        "visit": visit.pk,
                        "date": timezone.localdate(visit.paid_at).isoformat(),
                        "money": str(quote.points_money),
                    },
                    visit=visit,
                    actor=event.actor,
                    now=now,
                )
            calc = quote.earn
        else:
            calc = earn_calculate(
                lines=_paid_lines(visit), tier=state.wallet.tier, settings=settings
            )
        earn = points_services.points_earn_for_visit(
            state, visit=visit, calc=calc, actor=event.actor, settings=settings
        )
        wallet_save(state)
        change = tier_upgrade_check(
            state, visit=visit, actor=event.actor, settings=settings
        )
        # The caller (checkout) passes a dict to hear what the visit earned.
        outcome = event.context.get("outcome")
        if outcome is not None:
            outcome["earned"] = earn.amount if earn else 0
            outcome["upgraded_to"] = change.to_tier if change else None

    def visit_partially_refunded(self, event: VisitPartiallyRefunded) -> None:
        # Vouchers used on the visit stay used and the tier stays: only the
        # points follow the money back. The tier job counts what is left paid.
        state = wallet_lock(event.visit.member_id)
        points_services.points_reverse_partial(
            state, visit=event.visit, refund=event.refund, actor=event.actor
        )
        wallet_save(state)

    def visit_reversed(self, event: VisitReversed) -> None:
        state = wallet_lock(event.visit.member_id)
        points_services.points_reverse_visit(
            state, visit=event.visit, actor=event.actor
        )
        vouchers_release(visit=event.visit)
        wallet_save(state)


def _paid_lines(visit) -> list[EarnLine]:
    """A visit recorded without a quote: its money spread over lines pro rata."""
    lines = list(visit.lines.select_related("service"))
    total = sum((ln.price * ln.quantity for ln in lines), Decimal("0"))
    if not total:
        return []
    return [
        EarnLine(ln.service, money(visit.amount_paid * ln.price * ln.quantity / total))
        for ln in lines
    ]
