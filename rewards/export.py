"""The rewards part of a member's data export (GET /api/v1/me/export).

Listed in ``settings.REGULARS_MEMBER_EXPORT_SECTIONS``. Everything the program
holds about the member: balances, tier and its history, every ledger entry with
its explanation (in the active language), lots, vouchers. Values are JSON-ready
(money as "1500.00" strings, times in ISO 8601), shaped by the same serializers
as the API so the export reads like the app.
"""

from __future__ import annotations

from django.db.models import Count, Min, Sum

from members.models import Member
from rewards import selectors
from rewards.api.serializers import (
    LedgerEntrySerializer,
    TierChangeSerializer,
    TierStatusSerializer,
    VoucherSerializer,
    tier_status_data,
)
from rewards.models import LedgerEntry, PointLot, TierChange


def _json_ready(value):
    """DRF's ``ReturnDict``/``ReturnList``/``OrderedDict`` → plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def _lots_summary(member: Member) -> dict:
    lots = PointLot.objects.filter(member=member)
    totals = lots.aggregate(
        count=Count("pk"),
        credited=Sum("amount"),
        remaining=Sum("remaining"),
        expired=Sum("expired"),
    )
    open_lots = (
        lots.filter(remaining__gt=0)
        .values("expires_on")
        .annotate(points=Sum("remaining"), pending_until=Min("pending_until"))
        .order_by("expires_on")
    )
    return {
        "count": totals["count"] or 0,
        "credited": totals["credited"] or 0,
        "remaining": totals["remaining"] or 0,
        "expired": totals["expired"] or 0,
        "open": [
            {
                "expires_on": row["expires_on"].isoformat(),
                "points": row["points"],
                "pending": row["pending_until"] is not None,
            }
            for row in open_lots
        ],
    }


def export_section(member: Member) -> dict:
    """The member's points program data, as a JSON-ready dict."""
    overview = selectors.points_overview(member=member)
    tier = TierStatusSerializer(
        tier_status_data(selectors.tier_overview(member=member))
    ).data
    entries = LedgerEntry.objects.filter(member=member).order_by("seq")
    changes = TierChange.objects.filter(member=member).select_related(
        "from_tier", "to_tier"
    )
    vouchers = selectors.member_vouchers(member=member).order_by("issued_at", "id")
    summary = overview.summary
    return _json_ready(
        {
            "wallet": {
                "available": summary.available,
                "pending": summary.pending,
                "debt": summary.debt,
                "money_value": str(summary.money_value),
            },
            "tier": {
                "current": tier["tier"],
                "since": tier["since"],
                "fixed_until": tier["fixed_until"],
                "at_risk": tier["at_risk"],
                "history": TierChangeSerializer(
                    changes.order_by("changed_at", "id"), many=True
                ).data,
            },
            "ledger": LedgerEntrySerializer(entries, many=True).data,
            "lots": _lots_summary(member),
            "vouchers": VoucherSerializer(vouchers, many=True).data,
        }
    )
