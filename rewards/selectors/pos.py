"""Reads of the POS integration: finding a member at the till, a visit's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    QuerySet,
)
from django.utils import timezone

from members.cards import card_code_normalize
from members.models import Member, Visit
from rewards.models import (
    LedgerEntry,
    Tier,
    TierChange,
    VisitBenefit,
    Voucher,
    Wallet,
)
from rewards.selectors.program import (
    tier_base,
)

__all__ = [
    "pos_member_find",
    "member_wallet_tier",
    "member_active_vouchers",
    "VisitOutcome",
    "visit_outcome",
]

# --- The POS integration (pos/members/lookup, pos/visits) ---------------------


def pos_member_find(
    *, member_id: int | None = None, phone: str = "", card: str = ""
) -> Member | None:
    """The member a till means, by id, E.164 phone or card code; one query.

    Erased members are never found. Members belong to the chain, not to a
    location: any location's key finds any member. The wallet and its tier come
    with the member (``member.wallet`` may be missing for a brand-new member).
    """
    members = Member.objects.exclude(status=Member.Status.ERASED).select_related(
        "wallet__tier"
    )
    if member_id is not None:
        return members.filter(pk=member_id).first()
    if phone:
        return members.filter(phone=phone).first()
    code = card_code_normalize(card)
    if code:
        return members.filter(card_code=code).first()
    return None


def member_wallet_tier(member: Member) -> tuple[Wallet | None, Tier | None]:
    """The member's wallet (None before their first points) and tier.

    A member without a wallet is at the base tier: one more query then.
    """
    try:
        wallet = member.wallet
    except Wallet.DoesNotExist:
        return None, tier_base()
    return wallet, wallet.tier


def member_active_vouchers(
    *, member: Member, now: datetime | None = None
) -> QuerySet[Voucher]:
    """Vouchers the member can present at checkout now, soonest to lapse first."""
    now = now or timezone.now()
    return (
        Voucher.objects.filter(
            member=member, status=Voucher.Status.ACTIVE, valid_until__gt=now
        )
        .select_related("reward")
        .order_by("valid_until", "pk")
    )


@dataclass(frozen=True)
class VisitOutcome:
    """What a recorded visit did to the program, read back from the database.

    Read from the rows (lines, benefits, ledger entries, tier change), never
    from the checkout's in-memory quote, so the first answer to a booking and
    every retry of it are the same.
    """

    visit: Visit
    lines: list
    benefits: list[VisitBenefit]
    points_earned: int
    points_used: int
    points_reversed: int  # earned points taken back, debt included (cancel, refund)
    points_returned: int  # spent points given back (cancel, refund)
    balance_after: int  # the member's balance right after the visit was recorded
    tier_upgraded_to: Tier | None


def visit_outcome(*, visit: Visit) -> VisitOutcome:
    """Four queries (five for a visit that moved no points)."""
    # The visit row comes with its lines (a visit has at least one): the answer
    # shows the row as stored, at no extra query.
    lines = list(visit.lines.select_related("service", "visit").order_by("pk"))
    visit = lines[0].visit if lines else visit
    benefits = list(
        VisitBenefit.objects.filter(visit=visit)
        .select_related("voucher")
        .order_by("pk")
    )
    entries = list(
        LedgerEntry.objects.filter(visit=visit)
        .order_by("seq")
        .only("kind", "amount", "debt_change", "balance_after", "seq", "member_id")
    )
    change = (
        TierChange.objects.filter(visit=visit, reason=TierChange.Reason.UPGRADE)
        .select_related("to_tier")
        .order_by("pk")
        .first()
    )
    Kind = LedgerEntry.Kind
    at_record = [e for e in entries if e.kind in (Kind.EARN, Kind.SPEND)]
    if at_record:
        balance_after = at_record[-1].balance_after
    elif visit.member_id is None:  # anonymous: no member, no points
        balance_after = 0
    else:
        before = (
            LedgerEntry.objects.filter(
                member_id=visit.member_id, created_at__lte=visit.created_at
            )
            .order_by("-seq")
            .values_list("balance_after", flat=True)
            .first()
        )
        balance_after = before or 0
    reversals = [e for e in entries if e.kind == Kind.REVERSE]
    return VisitOutcome(
        visit=visit,
        lines=lines,
        benefits=benefits,
        points_earned=sum(e.amount for e in entries if e.kind == Kind.EARN),
        points_used=-sum(e.amount for e in entries if e.kind == Kind.SPEND),
        # An earn taken back is partly a debt when the points were spent.
        points_reversed=sum(
            e.debt_change - e.amount for e in reversals if e.amount <= 0
        ),
        points_returned=sum(e.amount for e in reversals if e.amount > 0),
        balance_after=balance_after,
        tier_upgraded_to=change.to_tier if change else None,
    )
