"""Shared reads of the rewards app: settings, tiers, balances, progress, liability."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Min, Q, QuerySet, Sum
from django.utils import timezone

from members.models import Member, Visit
from members.money import money
from rewards.models import (
    LedgerEntry,
    PointLot,
    ProgramSettings,
    Tier,
    Voucher,
    Wallet,
)


def program_settings() -> ProgramSettings:
    """The program's settings row, created with the shipped defaults if missing."""
    obj = ProgramSettings.objects.filter(pk=1).first()
    if obj is None:
        obj, _ = ProgramSettings.objects.get_or_create(pk=1)
    return obj


def tiers() -> list[Tier]:
    return list(Tier.objects.order_by("rank"))


def tier_base() -> Tier | None:
    return Tier.objects.order_by("rank").first()


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the business time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def wallet_of(member: Member | int) -> Wallet | None:
    member_id = member if isinstance(member, int) else member.pk
    return Wallet.objects.select_related("tier").filter(pk=member_id).first()


@dataclass(frozen=True)
class PointsSummary:
    available: int
    pending: int
    debt: int
    expiring_soon: int
    expiring_on: date | None
    money_value: Decimal


def points_summary(*, member: Member, today: date | None = None) -> PointsSummary:
    """Balances for the member's screen: what they can spend and what expires soon."""
    today = today or timezone.localdate()
    settings = program_settings()
    wallet = wallet_of(member)
    horizon = today + timedelta(days=settings.expiry_warning_days)
    soon = PointLot.objects.filter(
        member=member, remaining__gt=0, expires_on__gt=today, expires_on__lte=horizon
    ).aggregate(points=Sum("remaining"), first=Min("expires_on"))
    first = soon["first"]
    available = wallet.available if wallet else 0
    return PointsSummary(
        available=available,
        pending=wallet.pending if wallet else 0,
        debt=wallet.debt if wallet else 0,
        expiring_soon=soon["points"] or 0,
        expiring_on=first,
        money_value=money(available * settings.money_per_point),
    )


def points_spendable(*, member_id: int, today: date) -> int:
    """Points the member can spend now, from their lots.

    The wallet's ``available`` still counts a lot past its date until the
    nightly expiry posts it (a few minutes after midnight, or later if the job
    was down); the lots never do, so checkout offers only what it can take.
    """
    total = PointLot.objects.filter(
        member_id=member_id,
        remaining__gt=0,
        expires_on__gt=today,
        pending_until__isnull=True,
    ).aggregate(s=Sum("remaining"))["s"]
    return total or 0


def member_ledger(*, member: Member) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(member=member).select_related("visit", "voucher")


def member_vouchers(*, member: Member) -> QuerySet[Voucher]:
    return Voucher.objects.filter(member=member).select_related("reward")


@dataclass(frozen=True)
class TierWindowStats:
    visits: int
    spend: Decimal


def tier_window_stats(
    *, member_id: int, at: datetime | None = None, window_days: int | None = None
) -> TierWindowStats:
    """Paid visits and money paid in the qualification window ending at ``at``."""
    at = at or timezone.now()
    if window_days is None:
        window_days = program_settings().tier_window_days
    row = Visit.objects.filter(
        member_id=member_id,
        status=Visit.Status.PAID,
        paid_at__gt=at - timedelta(days=window_days),
        paid_at__lte=at,
    ).aggregate(n=Count("id"), s=Sum("amount_paid"))
    return TierWindowStats(visits=row["n"] or 0, spend=money(row["s"] or 0))


def tier_qualifies(tier: Tier, stats: TierWindowStats) -> bool:
    if tier.rank == 0:
        return True
    by_visits = tier.min_visits is not None and stats.visits >= tier.min_visits
    by_spend = tier.min_spend is not None and stats.spend >= tier.min_spend
    return by_visits or by_spend


def tier_for_stats(all_tiers: list[Tier], stats: TierWindowStats) -> Tier | None:
    best = None
    for tier in all_tiers:
        if tier_qualifies(tier, stats):
            best = tier
    return best


@dataclass(frozen=True)
class TierProgress:
    tier: Tier | None
    next_tier: Tier | None
    stats: TierWindowStats
    visits_needed: int | None
    spend_needed: Decimal | None


def tier_progress(*, member: Member, at: datetime | None = None) -> TierProgress:
    """Where the member stands: "3 visits or 4 200 ₽ to Gold"."""
    settings = program_settings()
    all_tiers = tiers()
    wallet = wallet_of(member)
    current = (
        wallet.tier if wallet and wallet.tier else (all_tiers[0] if all_tiers else None)
    )
    stats = tier_window_stats(
        member_id=member.pk, at=at, window_days=settings.tier_window_days
    )
    rank = current.rank if current else -1
    nxt = next((t for t in all_tiers if t.rank > rank), None)
    visits_needed = spend_needed = None
    if nxt is not None:
        if nxt.min_visits is not None:
            visits_needed = max(nxt.min_visits - stats.visits, 0)
        if nxt.min_spend is not None:
            spend_needed = max(money(nxt.min_spend - stats.spend), Decimal("0.00"))
    return TierProgress(current, nxt, stats, visits_needed, spend_needed)


@dataclass(frozen=True)
class Liability:
    points: int
    pending: int
    money: Decimal
    members: int


def points_liability() -> Liability:
    """Outstanding points valued in money (what the program owes its members)."""
    settings = program_settings()
    row = Wallet.objects.aggregate(
        a=Sum("available"), p=Sum("pending"), n=Count("pk", filter=Q(available__gt=0))
    )
    points = row["a"] or 0
    pending = row["p"] or 0
    return Liability(
        points=points,
        pending=pending,
        money=money((points + pending) * settings.money_per_point),
        members=row["n"] or 0,
    )
