"""Reads of the member's app: points overview, rewards catalogue, tier overview."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from members.models import Member, Visit
from members.money import money
from rewards.models import (
    ProgramSettings,
    Reward,
    Tier,
    VisitBenefit,
    Voucher,
    Wallet,
)
from rewards.selectors.program import (
    PointsSummary,
    TierWindowStats,
    _points_read,
    program_settings,
    tier_window_stats,
    tiers,
    wallet_of,
)

__all__ = [
    "TierProgress",
    "tier_progress",
    "PointsExpiry",
    "PointsOverview",
    "points_overview",
    "rewards_available",
    "rewards_catalogue_for",
    "RedeemerState",
    "redeemer_state",
    "reward_refusal",
    "TierOverview",
    "tier_overview",
    "visit_first_visit_discount",
]

# --- Tier progress -------------------------------------------------------------


@dataclass(frozen=True)
class TierProgress:
    tier: Tier | None
    next_tier: Tier | None
    stats: TierWindowStats
    visits_needed: int | None
    spend_needed: Decimal | None


def tier_progress(*, member: Member, at: datetime | None = None) -> TierProgress:
    """Where the member stands: "3 visits or 4 200 ₽ to Gold"."""
    return tier_overview(member=member, at=at).progress


def _tier_progress(
    current: Tier | None, all_tiers: list[Tier], stats: TierWindowStats
) -> TierProgress:
    rank = current.rank if current else -1
    nxt = next((t for t in all_tiers if t.rank > rank), None)
    visits_needed = spend_needed = None
    if nxt is not None:
        if nxt.min_visits is not None:
            visits_needed = max(nxt.min_visits - stats.visits, 0)
        if nxt.min_spend is not None:
            spend_needed = max(money(nxt.min_spend - stats.spend), Decimal("0.00"))
    return TierProgress(current, nxt, stats, visits_needed, spend_needed)


# --- The member's app (GET me/points, GET rewards) ----------------------------


@dataclass(frozen=True)
class PointsExpiry:
    expires_on: date
    points: int


@dataclass(frozen=True)
class PointsOverview:
    """``PointsSummary`` plus the next expiry dates, in one statement."""

    summary: PointsSummary
    settings: ProgramSettings
    next_expiries: list[PointsExpiry]


def points_overview(
    *, member: Member | int, today: date | None = None, expiries: int = 5
) -> PointsOverview:
    """The member's balances, what expires soon and the next ``expiries`` dates.

    Same figures as ``points_summary``, from the same single statement (at most
    ``expiries`` rows, however many lots the member holds): with the settings
    cached, the app's hottest screen costs one query whatever the member's
    history. Takes a member id, so the view needs no member row.
    """
    today = today or timezone.localdate()
    settings = program_settings()
    horizon = today + timedelta(days=settings.expiry_warning_days)
    summary, rows = _points_read(
        member, settings, after=today, until=horizon, dates=expiries
    )
    return PointsOverview(
        summary=summary,
        settings=settings,
        next_expiries=[PointsExpiry(on, points) for on, points in rows],
    )


def rewards_available(*, now: datetime | None = None) -> QuerySet[Reward]:
    """The catalogue members see: active rewards inside their dates."""
    now = now or timezone.now()
    return (
        Reward.objects.filter(is_active=True)
        .filter(Q(active_from__isnull=True) | Q(active_from__lte=now))
        .filter(Q(active_until__isnull=True) | Q(active_until__gt=now))
    )


def rewards_catalogue_for(
    *, member: Member, now: datetime | None = None
) -> QuerySet[Reward]:
    """The catalogue with ``used``: how many of each the member holds or used.

    Counted as ``reward_redeem`` counts against ``per_member_limit`` (every
    voucher but cancelled ones), in the same query as the rewards.
    """
    held = (
        Voucher.objects.filter(member=member, reward=OuterRef("pk"))
        .exclude(status=Voucher.Status.CANCELLED)
        .order_by()
        .values("reward")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        rewards_available(now=now)
        .select_related("min_tier")
        .annotate(used=Coalesce(Subquery(held, output_field=IntegerField()), 0))
        .order_by("sort_order", "points_cost", "name", "pk")
    )


@dataclass(frozen=True)
class RedeemerState:
    """What decides whether a member can redeem: their points and tier rank."""

    available: int
    tier_rank: int | None


def redeemer_state(*, member: Member) -> RedeemerState:
    """One query. A member without a wallet yet starts at the base tier (rank 0)."""
    wallet = wallet_of(member)
    if wallet is None:
        return RedeemerState(available=0, tier_rank=0)
    return RedeemerState(
        available=wallet.available,
        tier_rank=wallet.tier.rank if wallet.tier else None,
    )


def reward_refusal(
    reward: Reward, *, state: RedeemerState, now: datetime | None = None
) -> str | None:
    """The code ``reward_redeem`` would refuse with now, or None if it would not.

    Checked in the service's order, so the catalogue's reason is the error a
    redemption would get. ``reward.used`` comes from ``rewards_catalogue_for``.
    """
    now = now or timezone.now()
    if (
        not reward.is_active
        or (reward.active_from and reward.active_from > now)
        or (reward.active_until and reward.active_until <= now)
    ):
        return "reward_not_available"
    if reward.min_tier_id is not None and (
        state.tier_rank is None or state.tier_rank < reward.min_tier.rank
    ):
        return "tier_too_low"
    if reward.per_member_limit is not None and reward.used >= reward.per_member_limit:
        return "limit_reached"
    if reward.points_cost > state.available:
        return "points_insufficient"
    if reward.stock is not None and reward.stock <= 0:
        return "out_of_stock"
    return None


@dataclass(frozen=True)
class TierOverview:
    """The member's tier screen: wallet, every tier, progress. Four queries."""

    wallet: Wallet | None
    tiers: list[Tier]
    progress: TierProgress
    settings: ProgramSettings

    @property
    def tier_below(self) -> Tier | None:
        """Where an at-risk member drops to: one step down."""
        current = self.progress.tier
        if current is None:
            return None
        lower = [t for t in self.tiers if t.rank < current.rank]
        return lower[-1] if lower else None


def tier_overview(*, member: Member, at: datetime | None = None) -> TierOverview:
    settings = program_settings()
    all_tiers = tiers()
    wallet = wallet_of(member)
    current = (
        wallet.tier if wallet and wallet.tier else (all_tiers[0] if all_tiers else None)
    )
    stats = tier_window_stats(
        member_id=member.pk, at=at, window_days=settings.tier_window_days
    )
    return TierOverview(
        wallet=wallet,
        tiers=all_tiers,
        progress=_tier_progress(current, all_tiers, stats),
        settings=settings,
    )


def visit_first_visit_discount(*, visit: Visit) -> Decimal:
    """Money the first-visit discount took off ``visit`` (0.00 without one)."""
    total = VisitBenefit.objects.filter(visit=visit, kind="first_visit").aggregate(
        total=Sum("amount")
    )["total"]
    return total or Decimal("0.00")
