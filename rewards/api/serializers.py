"""What the member's app reads about points, tiers, rewards and vouchers.

Output serializers shape model rows and selector results; amounts of money are
strings with two decimals ("1500.00"), points are integers. Input serializers
validate query parameters. The POS side has its own module.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api_fields import Money
from rewards.explain import entry_text
from rewards.models import LedgerEntry, Reward, Tier, TierChange, Voucher
from rewards.qr import voucher_qr_svg

REFUSAL_CODES = [
    "reward_not_available",
    "tier_too_low",
    "limit_reached",
    "points_insufficient",
    "out_of_stock",
]


def Percent(**kwargs) -> serializers.DecimalField:  # noqa: N802 - a field factory
    return serializers.DecimalField(
        max_digits=5, decimal_places=2, coerce_to_string=True, **kwargs
    )


def voucher_status(voucher: Voucher, now=None) -> str:
    """The status the member sees: an active voucher past its date is expired,
    even before the nightly job marks it."""
    now = now or timezone.now()
    if voucher.status == Voucher.Status.ACTIVE and voucher.valid_until <= now:
        return Voucher.Status.EXPIRED
    return voucher.status


# --- Points -----------------------------------------------------------------


class PointsExpirySerializer(serializers.Serializer):
    expires_on = serializers.DateField()
    points = serializers.IntegerField(help_text=_("Points that expire that day."))


class PointsSerializer(serializers.Serializer):
    """From ``rewards.selectors.PointsOverview``."""

    available = serializers.IntegerField(
        source="summary.available", help_text=_("Points the member can spend now.")
    )
    pending = serializers.IntegerField(
        source="summary.pending",
        help_text=_("Points earned but not spendable yet (pending period)."),
    )
    debt = serializers.IntegerField(
        source="summary.debt",
        help_text=_("Points owed after a reversal; future earnings settle it."),
    )
    money_value = Money(
        source="summary.money_value",
        help_text=_("What the available points pay at checkout."),
    )
    point_value = Money(
        source="settings.money_per_point", help_text=_("What one point pays.")
    )
    currency = serializers.SerializerMethodField(help_text=_("ISO 4217 code."))
    expiring_soon = serializers.IntegerField(
        source="summary.expiring_soon",
        help_text=_("Points expiring within expiry_warning_days."),
    )
    expiring_soon_on = serializers.DateField(
        source="summary.expiring_on",
        allow_null=True,
        help_text=_("The first of those dates."),
    )
    expiry_warning_days = serializers.IntegerField(
        source="settings.expiry_warning_days"
    )
    next_expiries = PointsExpirySerializer(
        many=True, help_text=_("The next expiry dates, soonest first.")
    )

    def get_currency(self, obj) -> str:
        return settings.REGULARS_CURRENCY


class LedgerEntrySerializer(serializers.ModelSerializer):
    explanation = serializers.SerializerMethodField(
        help_text=_("The entry in plain words, in the request's language.")
    )
    visit_id = serializers.IntegerField(allow_null=True)
    voucher_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "seq",
            "kind",
            "reason",
            "amount",
            "debt_change",
            "balance_after",
            "debt_after",
            "created_at",
            "explanation",
            "visit_id",
            "voucher_id",
        ]
        extra_kwargs = {
            "amount": {"help_text": _("Change of the balance: + credited, - taken.")},
            "reason": {
                "help_text": _("Stable code of why (earn_visit, spend_reward…).")
            },
        }

    def get_explanation(self, entry: LedgerEntry) -> str:
        return entry_text(entry)


# --- Tiers ------------------------------------------------------------------


class TierSerializer(serializers.ModelSerializer):
    perks = serializers.ListField(
        source="perk_list",
        child=serializers.CharField(),
        help_text=_("Benefits shown to members, one per item."),
    )
    discount_percent = Percent()
    first_visit_discount_percent = Percent()
    points_multiplier = Percent()
    min_spend = Money(allow_null=True)

    class Meta:
        model = Tier
        fields = [
            "id",
            "code",
            "name",
            "rank",
            "color",
            "min_visits",
            "min_spend",
            "discount_percent",
            "first_visit_discount_percent",
            "points_multiplier",
            "perks",
        ]


class TierRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = ["id", "code", "name", "rank"]


class TierAtRiskSerializer(serializers.Serializer):
    since = serializers.DateField(
        help_text=_("The member stopped qualifying for the tier on this day.")
    )
    drops_on = serializers.DateField(
        help_text=_(
            "Unless the member qualifies again, the nightly review of this day "
            "moves them one tier down."
        )
    )
    drops_to = TierRefSerializer(allow_null=True)


class TierProgressSerializer(serializers.Serializer):
    next_tier = TierRefSerializer(allow_null=True)
    window_days = serializers.IntegerField(
        help_text=_("The qualification window: visits and spend in the last N days.")
    )
    visits = serializers.IntegerField(help_text=_("Paid visits in the window."))
    spend = Money(help_text=_("Money paid in the window."))
    visits_needed = serializers.IntegerField(
        allow_null=True, help_text=_("Visits still needed; null: not a criterion.")
    )
    spend_needed = Money(
        allow_null=True, help_text=_("Spend still needed; null: not a criterion.")
    )


class TierStatusSerializer(serializers.Serializer):
    tier = TierSerializer(allow_null=True)
    since = serializers.DateTimeField(allow_null=True)
    fixed_until = serializers.DateField(
        allow_null=True, help_text=_("A manager set the tier until this day.")
    )
    at_risk = TierAtRiskSerializer(allow_null=True)
    progress = TierProgressSerializer()
    tiers = TierSerializer(many=True)


def tier_status_data(overview) -> dict:
    """``rewards.selectors.TierOverview`` → what ``TierStatusSerializer`` reads."""
    wallet, progress = overview.wallet, overview.progress
    at_risk = None
    if wallet and wallet.tier_at_risk_since and progress.tier:
        at_risk = {
            "since": wallet.tier_at_risk_since,
            "drops_on": wallet.tier_at_risk_since
            + timedelta(days=overview.settings.tier_grace_days),
            "drops_to": overview.tier_below,
        }
    return {
        "tier": progress.tier,
        "since": wallet.tier_since if wallet else None,
        "fixed_until": (
            wallet.tier_override_until
            if wallet
            and wallet.tier_override_until
            and wallet.tier_override_until >= timezone.localdate()
            else None
        ),
        "at_risk": at_risk,
        "progress": {
            "next_tier": progress.next_tier,
            "window_days": overview.settings.tier_window_days,
            "visits": progress.stats.visits,
            "spend": progress.stats.spend,
            "visits_needed": progress.visits_needed,
            "spend_needed": progress.spend_needed,
        },
        "tiers": overview.tiers,
    }


class TierChangeSerializer(serializers.ModelSerializer):
    from_tier = serializers.CharField(source="from_tier.name", allow_null=True)
    to_tier = serializers.CharField(source="to_tier.name")
    reason_text = serializers.CharField(source="get_reason_display")

    class Meta:
        model = TierChange
        fields = ["from_tier", "to_tier", "reason", "reason_text", "changed_at"]


# --- Rewards and vouchers ---------------------------------------------------


class RewardRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Reward
        fields = ["id", "name", "kind", "description"]


class CatalogueRewardSerializer(serializers.ModelSerializer):
    """A reward of the catalogue; ``refusals`` in the context: {reward id: code}."""

    min_tier = TierRefSerializer(allow_null=True)
    discount_percent = Percent(allow_null=True)
    discount_amount = Money(allow_null=True)
    stock_left = serializers.IntegerField(
        source="stock", allow_null=True, help_text=_("Null: unlimited.")
    )
    used = serializers.IntegerField(
        help_text=_("Vouchers of this reward the member holds or used (not cancelled).")
    )
    can_redeem = serializers.SerializerMethodField()
    reason = serializers.SerializerMethodField(
        help_text=_(
            "Why it cannot be redeemed now: the error code POST …/redeem would "
            "answer with. Null when it can."
        )
    )

    class Meta:
        model = Reward
        fields = [
            "id",
            "name",
            "kind",
            "description",
            "points_cost",
            "discount_percent",
            "discount_amount",
            "min_tier",
            "voucher_valid_days",
            "active_until",
            "stock_left",
            "per_member_limit",
            "used",
            "can_redeem",
            "reason",
        ]
        extra_kwargs = {
            "voucher_valid_days": {
                "help_text": _("A voucher bought now is valid this many days.")
            },
            "per_member_limit": {"help_text": _("Null: no limit.")},
        }

    def get_can_redeem(self, reward: Reward) -> bool:
        return self.context["refusals"].get(reward.pk) is None

    @extend_schema_field(
        serializers.ChoiceField(choices=REFUSAL_CODES, allow_null=True)
    )
    def get_reason(self, reward: Reward) -> str | None:
        return self.context["refusals"].get(reward.pk)


class VoucherSerializer(serializers.ModelSerializer):
    """A voucher in the member's list (no QR image: see the detail)."""

    reward = RewardRefSerializer()
    status = serializers.SerializerMethodField()

    class Meta:
        model = Voucher
        fields = [
            "id",
            "code",
            "status",
            "source",
            "reward",
            "points_cost",
            "issued_at",
            "valid_until",
            "used_at",
            "closed_at",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=Voucher.Status.choices))
    def get_status(self, voucher: Voucher) -> str:
        return voucher_status(voucher)


class VoucherDetailSerializer(VoucherSerializer):
    qr_svg = serializers.SerializerMethodField(
        help_text=_("The code as a QR image, an inline <svg> element.")
    )

    class Meta(VoucherSerializer.Meta):
        fields = [*VoucherSerializer.Meta.fields, "qr_svg"]

    def get_qr_svg(self, voucher: Voucher) -> str:
        return str(voucher_qr_svg(voucher.code))


class VoucherResultSerializer(serializers.Serializer):
    voucher = VoucherDetailSerializer()


class VoucherFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Voucher.Status.choices,
        required=False,
        help_text=_(
            "Only vouchers in this status (past their date counts as expired)."
        ),
    )
