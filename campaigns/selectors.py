"""Reads the promotions' checkout and admin share."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, F, Q, Sum, Value
from django.db.models.functions import Coalesce

from campaigns.models import PromotionUsage, Redemption
from members.models import Visit, VisitLine


def member_uses(
    *, member_id: int, since: dict[int, datetime]
) -> dict[int, tuple[int, int]]:
    """{promotion id: (the member's redemptions, those since its period's start)}
    for the promotions in ``since``; reversed ones do not count. One query."""
    if not since:
        return {}
    rows = Redemption.objects.filter(
        member_id=member_id, promotion_id__in=list(since), reversed_at__isnull=True
    ).values_list("promotion_id", "created_at")
    uses: dict[int, list[int]] = {pid: [0, 0] for pid in since}
    for promotion_id, created_at in rows:
        uses[promotion_id][0] += 1
        if created_at >= since[promotion_id]:
            uses[promotion_id][1] += 1
    return {pid: (a, b) for pid, (a, b) in uses.items()}


def usage(ids: list[int]) -> dict[int, tuple[int, Decimal, int]]:
    """{promotion id: (redemptions, money given, points given)}. One query."""
    return {
        u.promotion_id: (u.redemptions, u.money, u.points)
        for u in PromotionUsage.objects.filter(promotion_id__in=ids)
    }


def categories_tried(*, member_id: int, categories: set[int]) -> frozenset[int]:
    """Which of ``categories`` the member has had in a paid visit. One query."""
    return frozenset(
        VisitLine.objects.filter(
            visit__member_id=member_id,
            visit__status=Visit.Status.PAID,
            service__category_id__in=categories,
        )
        .values_list("service__category_id", flat=True)
        .distinct()
    )


def redemptions_summary():
    """Per promotion: live redemptions (for the admin list)."""
    return Count("redemptions", filter=Q(redemptions__reversed_at__isnull=True))


def visits_recent(*, member_id: int, days: set[int], at: datetime) -> dict[int, int]:
    """{days: the member's paid visits in the last ``days`` days before ``at``}
    for each length asked. One query."""
    if not days:
        return {}
    since = {d: at - timedelta(days=d) for d in days}
    times = list(
        Visit.objects.filter(
            member_id=member_id,
            status=Visit.Status.PAID,
            paid_at__gte=min(since.values()),
            paid_at__lt=at,
        ).values_list("paid_at", flat=True)
    )
    return {d: sum(1 for t in times if t >= start) for d, start in since.items()}


def given_money():
    """Per promotion: the money its live redemptions took off (less what
    partial refunds gave back), for a promotion that keeps no usage row."""
    return Coalesce(
        Sum(
            F("redemptions__money") - F("redemptions__money_refunded"),
            filter=Q(redemptions__reversed_at__isnull=True),
        ),
        Value(Decimal("0")),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )


def given_points():
    return Coalesce(
        Sum(
            F("redemptions__points") - F("redemptions__points_refunded"),
            filter=Q(redemptions__reversed_at__isnull=True),
        ),
        Value(0),
    )
