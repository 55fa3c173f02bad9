"""Shared reads of the rewards app: settings, tiers, balances, progress, liability."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import (
    Count,
    Q,
    QuerySet,
    Sum,
)
from django.utils import timezone

from core import rows, stamps
from members.models import Member, Visit
from members.money import money
from rewards.models import (
    CategoryEarnRate,
    LedgerEntry,
    PointLot,
    ProgramSettings,
    Tier,
    Voucher,
    Wallet,
)

__all__ = [
    "program_settings",
    "tiers",
    "tier_base",
    "tier_by_id",
    "category_rates",
    "day_start",
    "wallet_of",
    "wallet_balance",
    "PointsSummary",
    "points_summary",
    "points_spendable",
    "wallet_spendable",
    "member_ledger",
    "member_vouchers",
    "TierWindowStats",
    "tier_window_stats",
    "tier_qualifies",
    "tier_for_stats",
    "Liability",
    "points_liability",
]


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


def wallet_balance(*, member_id: int) -> int:
    """The member's points (available + pending) as the wallet row holds them.

    Inside a transaction that posted points, what everything it posted left:
    each posting's ``WalletState`` knows only its own entries. One primary-key
    read, its statement written once per connection (``core.rows``).
    """
    wallet = rows.row_get(Wallet, member_id)
    return wallet.available + wallet.pending if wallet is not None else 0


@dataclass(frozen=True)
class PointsSummary:
    available: int
    pending: int
    debt: int
    expiring_soon: int
    expiring_on: date | None
    money_value: Decimal
    # The wallet's tier (None without a wallet): ``tier_by_id`` gives the row
    # from the process cache, so a summary needs no join.
    tier_id: int | None = None


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
SELECT w.available, w.pending, w.debt, s.points, s.first_on, w.tier_id,
    l.expires_on, l.points
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
    available, pending, debt, soon, first_on, tier_id = result[0][:6]
    available = available or 0
    summary = PointsSummary(
        available=available,
        pending=pending or 0,
        debt=debt or 0,
        # PostgreSQL's SUM of bigints is numeric.
        expiring_soon=int(soon or 0),
        expiring_on=_date_of(first_on),
        money_value=money(available * settings.money_per_point),
        tier_id=tier_id,
    )
    dates = [
        (_date_of(on), int(points)) for *_s, on, points in result if on is not None
    ]
    return summary, dates


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
    wallet = rows.row_get_with(
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
