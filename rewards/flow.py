"""The rewards app's reaction to visits: apply the checkout, earn, upgrade; undo.

A partial refund takes back the refunded share of the visit's points.

Listed in ``REGULARS_VISIT_REACTIONS``; runs inside the visit's transaction with
the member row locked (``members.visit_flow``). A visit comes with its checkout
quote; one priced elsewhere (an import, a direct ``visit_record``) gets the
quote of what it recorded (``quote_of_recorded``): one path either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from core.rows import rows_insert
from members.visit_flow import VisitPartiallyRefunded, VisitRecorded, VisitReversed
from rewards import selectors
from rewards.models import LedgerEntry, Tier, VisitBenefit
from rewards.services import points as points_services
from rewards.services.ledger import wallet_lock, wallet_save
from rewards.services.pricing import quote_of_recorded
from rewards.services.tiers import tier_upgrade_check
from rewards.services.vouchers import vouchers_release, vouchers_use


@dataclass(frozen=True)
class RewardsVisitOutcome:
    """What a recorded visit did to the member's points and tier."""

    earn: LedgerEntry | None
    benefits: tuple[VisitBenefit, ...]
    points_used: int
    tier_upgraded_to: Tier | None
    # No balance: later reactions in the same transaction may post too (a
    # referral bonus); ``selectors.wallet_balance`` reads what they all left.

    @property
    def points_earned(self) -> int:
        return self.earn.amount if self.earn else 0


class RewardsVisitReaction:
    def visit_recorded(self, event: VisitRecorded) -> RewardsVisitOutcome:
        visit = event.visit
        state = event.context.get("wallet") or wallet_lock(visit.member_id)
        quote = event.context.get("quote") or quote_of_recorded(visit, state)
        settings = quote.settings or selectors.program_settings()
        now = timezone.now()
        benefits = tuple(
            rows_insert(
                [
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
                ]
            )
            if quote.benefits
            else ()
        )
        if quote.vouchers:
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
        earn = points_services.points_earn_for_visit(
            state,
            visit=visit,
            calc=quote.earn,
            actor=event.actor,
            settings=settings,
            new_visit=True,
        )
        wallet_save(state)
        change = tier_upgrade_check(
            state, visit=visit, actor=event.actor, settings=settings
        )
        return RewardsVisitOutcome(
            earn=earn,
            benefits=benefits,
            points_used=quote.points_used,
            tier_upgraded_to=change.to_tier if change else None,
        )

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
