"""The program's rules, edited by a manager: settings, earn rates, tiers, rewards."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from rewards import selectors
from rewards.models import CategoryEarnRate, ProgramSettings, Reward, Tier


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(SimpleHistoryAdmin):
    """One row (pk=1): the list goes straight to it; it is never added or deleted."""

    fieldsets = [
        (
            _("Earning"),
            {
                "fields": [
                    "earn_mode",
                    "earn_rate",
                    "excluded_services_earn",
                    "pending_days",
                ]
            },
        ),
        (_("Paying with points"), {"fields": ["point_value", "max_points_share"]}),
        (
            _("Expiry"),
            {
                "fields": [
                    "lot_lifetime_days",
                    "inactivity_burn_months",
                    "expiry_warning_days",
                ]
            },
        ),
        (_("Tiers"), {"fields": ["tier_window_days", "tier_grace_days"]}),
        (_("Prices at the checkout"), {"fields": ["price_change_limit_pct"]}),
        (None, {"fields": ["updated_at"]}),
    ]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = selectors.program_settings()
        return HttpResponseRedirect(
            reverse("admin:rewards_programsettings_change", args=[row.pk])
        )


@admin.register(CategoryEarnRate)
class CategoryEarnRateAdmin(SimpleHistoryAdmin):
    list_display = ["category", "rate", "base_rate"]
    list_select_related = ["category"]
    search_fields = ["category__name", "category__code"]
    autocomplete_fields = ["category"]
    ordering = ["category__sort_order", "category__name"]

    @admin.display(description=_("base rate"))
    def base_rate(self, obj):
        # A handful of categories: one tiny read per row is fine.
        return selectors.program_settings().earn_rate


class TierForm(forms.ModelForm):
    class Meta:
        model = Tier
        fields = [
            "name",
            "code",
            "rank",
            "color",
            "min_visits",
            "min_spend",
            "discount_percent",
            "first_visit_discount_percent",
            "points_multiplier",
            "perks",
            "monthly_reward",
        ]
        widgets = {
            "color": forms.TextInput(attrs={"type": "color"}),
            "perks": forms.Textarea(attrs={"rows": 5, "cols": 60}),
        }


@admin.register(Tier)
class TierAdmin(SimpleHistoryAdmin):
    form = TierForm
    list_display = [
        "swatch",
        "name",
        "rank",
        "min_visits",
        "min_spend",
        "discount_percent",
        "first_visit_discount_percent",
        "points_multiplier",
        "monthly_reward",
    ]
    list_display_links = ["name"]
    list_select_related = ["monthly_reward"]
    ordering = ["rank"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["monthly_reward"]
    prepopulated_fields = {"code": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "code", "rank", "color"]}),
        (
            _("Qualifies by (within the qualification window, either)"),
            {"fields": [("min_visits", "min_spend")]},
        ),
        (
            _("Benefits"),
            {
                "fields": [
                    "discount_percent",
                    "first_visit_discount_percent",
                    "points_multiplier",
                    "perks",
                    "monthly_reward",
                ]
            },
        ),
    ]

    @admin.display(description="")
    def swatch(self, tier):
        return format_html(
            '<span style="display:inline-block;width:1em;height:1em;'
            'border-radius:50%;background:{}"></span>',
            tier.color,
        )


@admin.register(Reward)
class RewardAdmin(SimpleHistoryAdmin):
    list_display = [
        "name",
        "kind",
        "points_cost",
        "min_tier",
        "stock",
        "per_member_limit",
        "on_sale",
        "is_active",
    ]
    list_filter = ["kind", "is_active", "min_tier"]
    list_select_related = ["min_tier"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["service", "min_tier"]
    ordering = ["sort_order", "points_cost", "name"]

    @admin.display(description=_("on sale"), ordering="active_from")
    def on_sale(self, reward):
        """The sale window in one cell: "from 1 Dec 2026", "until …", both, or "—"."""
        start, end = (
            date_format(timezone.localtime(at)) if at else ""
            for at in (reward.active_from, reward.active_until)
        )
        if start and end:
            return f"{start} – {end}"
        if start:
            return _("from %(date)s") % {"date": start}
        if end:
            return _("until %(date)s") % {"date": end}
        return "—"

    fieldsets = [
        (None, {"fields": ["name", "kind", "description", "is_active", "sort_order"]}),
        (_("Price"), {"fields": ["points_cost", "min_tier"]}),
        (
            _("What it gives"),
            {
                "fields": ["service", ("discount_percent", "discount_amount")],
                "description": _(
                    "A free service, add-on or extended session names its "
                    "service; a discount its percent or amount."
                ),
            },
        ),
        (
            _("Availability"),
            {
                "fields": [
                    ("stock", "per_member_limit"),
                    ("active_from", "active_until"),
                    "voucher_valid_days",
                ]
            },
        ),
    ]
