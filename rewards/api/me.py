"""The rewards part of ``GET me``: the home screen's tier and points.

Listed in ``REGULARS_ME_SECTIONS`` (``members.api.me_sections``): the members
app adds ``summary`` to the profile without importing this app.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.models import Member
from rewards import selectors
from rewards.api.serializers import PointsExpirySerializer


class MeTierSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class MeSummarySerializer(serializers.Serializer):
    """The member's tier, points and next expiry, for the app's home screen."""

    tier = MeTierSerializer(
        allow_null=True, help_text=_("The member's tier; null before their first.")
    )
    points_available = serializers.IntegerField(
        help_text=_("Points the member can spend now.")
    )
    next_expiry = PointsExpirySerializer(
        allow_null=True,
        help_text=_(
            "The points that expire soonest and their date; null if none expire."
        ),
    )


class RewardsMeSection:
    """``summary`` in ``GET me``: the same read as ``GET me/points`` (one query,
    program settings and tiers cached per process), its soonest date only."""

    name = "summary"
    serializer_class = MeSummarySerializer

    def __init__(self):
        # Built once: DRF deep-copies a serializer's fields for every instance.
        self._out = MeSummarySerializer()

    def data(self, member: Member) -> dict:
        overview = selectors.points_overview(member=member.pk, expiries=1)
        summary = overview.summary
        return self._out.to_representation(
            {
                "tier": selectors.tier_by_id(summary.tier_id),
                "points_available": summary.available,
                "next_expiry": (
                    overview.next_expiries[0] if overview.next_expiries else None
                ),
            }
        )
