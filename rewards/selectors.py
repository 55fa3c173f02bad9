"""Shared reads of the rewards app: settings, tiers, balances, progress, liability."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
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

from core import locks, stamps
from members.cards import card_code_normalize
from members.models import Member, Visit
from members.money import money
from rewards.models import (
    CategoryEarnRate,
    LedgerEntry,
    PointLot,
    ProgramSettings,
    Reward,
    Tier,
    TierChange,
    VisitBenefit,
    Voucher,
    Wallet,
)


@stamps.process_cached()
def _program_settings() -> ProgramSettings:
    obj = ProgramSettings.objects.filter(pk=1).first()
    if obj is None:
        obj, _ = ProgramSettings.objects.get_or_create(pk=1)
    return obj


def program_settings() -> ProgramSettings:
    """The program's settings row, created with the shipped defaults if missing.

    Cached per process until the row changes (``core.stamps``): treat it as
    read-only; change it with ``save()`` (which any process then sees).
    """
    return _program_settings.get()


@stamps.process_cached()
def _tiers() -> tuple[Tier, ...]:
    return tuple(Tier.objects.order_by("rank"))


def tiers() -> list[Tier]:
    """Every tier by rank, cached per process (``core.stamps``)."""
    return list(_tiers.get())


def tier_base() -> Tier | None:
    all_tiers = _tiers.get()
    return all_tiers[0] if all_tiers else None


def tier_by_id(tier_id: int | None) -> Tier | None:
    """A tier from the process cache (a wallet's ``tier_id`` without a join)."""
    if tier_id is None:
        return None
    for tier in _tiers.get():
        if tier.pk == tier_id:
            return tier
    return Tier.objects.filter(pk=tier_id).first()


@stamps.process_cached()
def _category_rates() -> dict[int, object]:
    return dict(CategoryEarnRate.objects.values_list("category_id", "rate"))


def category_rates() -> dict[int, object]:
    """Earn rates by service category id, cached per process (``core.stamps``)."""
    return _category_rates.get()


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


def points_summary(*, member: Member | int, today: date | None = None) -> PointsSummary:
    """Balances for the member's screen: what they can spend and what expires soon.

    One statement (``_points_read``) and the cached program settings.
    """
    today = today or timezone.localdate()
    settings = program_settings()
    horizon = today + timedelta(days=settings.expiry_warning_days)
    summary, _rows = _points_read(member, settings, after=today, until=horizon)
    return summary


# Balances, what expires by the horizon and the next expiry dates in one
# statement: the wallet (if any), the horizon's sum and the first ``LIMIT``
# dates' sums joined on a one-row driver, so it always answers at least one row
# and never more than LIMIT, however many lots a member holds.
_POINTS_SQL = """
SELECT w.available, w.pending, w.debt, s.points, s.first_on, l.expires_on, l.points
FROM (SELECT 1 AS one) AS d
LEFT JOIN {wallet} AS w ON w.member_id = %s
LEFT JOIN (
    SELECT SUM(remaining) AS points, MIN(expires_on) AS first_on
    FROM {lot}
    WHERE member_id = %s AND remaining > 0 AND expires_on > %s AND expires_on <= %s
) AS s ON 1 = 1
LEFT JOIN (
    SELECT expires_on, SUM(remaining) AS points
    FROM {lot}
    WHERE member_id = %s AND remaining > 0 AND expires_on > %s
    GROUP BY expires_on
    ORDER BY expires_on
    LIMIT %s
) AS l ON 1 = 1
ORDER BY l.expires_on
"""


def _date_of(value) -> date | None:
    # SQLite answers a date as text.
    return date.fromisoformat(value) if isinstance(value, str) else value


def _points_read(
    member: Member | int,
    settings: ProgramSettings,
    *,
    after: date,
    until: date,
    dates: int = 0,
) -> tuple[PointsSummary, list[tuple[date, int]]]:
    """The summary and the first ``dates`` (expiry date, open points), soonest first."""
    member_id = member if isinstance(member, int) else member.pk
    sql = _POINTS_SQL.format(wallet=Wallet._meta.db_table, lot=PointLot._meta.db_table)
    after_sql = connection.ops.adapt_datefield_value(after)
    until_sql = connection.ops.adapt_datefield_value(until)
    params = [member_id, member_id, after_sql, until_sql, member_id, after_sql, dates]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result = cursor.fetchall()
    available, pending, debt, soon, first_on = result[0][:5]
    available = available or 0
    summary = PointsSummary(
        available=available,
        pending=pending or 0,
        debt=debt or 0,
        # PostgreSQL's SUM of bigints is numeric.
        expiring_soon=int(soon or 0),
        expiring_on=_date_of(first_on),
        money_value=money(available * settings.money_per_point),
    )
    rows = [(_date_of(on), int(points)) for *_s, on, points in result if on is not None]
    return summary, rows


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


# The lots' sum as an extra column of the wallet's row (``wallet_spendable``).
_SPENDABLE_SQL = (
    "(SELECT COALESCE(SUM(l.remaining), 0) FROM {lot} l WHERE l.member_id = "
    "{wallet}.member_id AND l.remaining > 0 AND l.expires_on > %s AND "
    "l.pending_until IS NULL) AS spendable"
)


def wallet_spendable(*, member_id: int, today: date) -> tuple[Wallet | None, int]:
    """The member's wallet row (no lock) and ``points_spendable``, in one statement.

    A quote's whole read of the member's points: the wallet for the tier and
    balances, the lots for what can be spent now.
    """
    extra = _SPENDABLE_SQL.format(
        lot=PointLot._meta.db_table, wallet=Wallet._meta.db_table
    )
    wallet = locks.row_get_with(
        Wallet, member_id, extra, [connection.ops.adapt_datefield_value(today)]
    )
    if wallet is None:
        return None, 0
    return wallet, int(wallet.spendable)


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
    """Paid visits and money kept (paid less partial refunds) in the window."""
    at = at or timezone.now()
    if window_days is None:
        window_days = program_settings().tier_window_days
    # Written out: every visit that may lift the member a tier runs it.
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            _WINDOW_SQL,
            [
                member_id,
                Visit.Status.PAID,
                adapt(at - timedelta(days=window_days)),
                adapt(at),
            ],
        )
        visits, spend = cursor.fetchone()
    # SQLite sums decimals as floats: through str, then rounded to the kopeck.
    return TierWindowStats(visits=visits or 0, spend=money(Decimal(str(spend or 0))))


_WINDOW_SQL = (
    f"SELECT COUNT(*), SUM(amount_paid - amount_refunded) FROM {Visit._meta.db_table} "
    "WHERE member_id = %s AND status = %s AND paid_at > %s AND paid_at <= %s"
)


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
