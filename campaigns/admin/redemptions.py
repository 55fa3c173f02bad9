"""Redemptions: what each promotion gave on which visit, read-only (written and
reversed only by the checkout, ``campaigns.flow``)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from campaigns.admin.common import promotion_link
from campaigns.models import Redemption
from core.admin_helpers import ReadOnlyAdmin, nowrap_datetime
from members.admin_helpers import MemberSearchMixin, member_link
from members.money import money_text
from rewards.explain import points_text


class ReversedFilter(admin.SimpleListFilter):
    title = _("reversed")
    parameter_name = "reversed"

    def lookups(self, request, model_admin):
        return [("no", _("No, counts")), ("yes", _("Yes, given back"))]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(reversed_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(reversed_at__isnull=False)
        return queryset


@admin.register(Redemption)
class RedemptionAdmin(MemberSearchMixin, ReadOnlyAdmin):
    list_display = [
        "created_col",
        "promotion_col",
        "visit_col",
        "member_col",
        "money_col",
        "points",
        "refunded_col",
        "code",
        "reversed_col",
    ]
    list_display_links = ["created_col"]
    list_filter = ["promotion", ReversedFilter]
    list_select_related = ["promotion", "visit", "member", "code"]
    search_fields = [
        "promotion__name",
        "code__code",
        "member__last_name",
        "member__first_name",
    ]
    search_help_text = _("The member's phone, #number or name, or the promotion.")
    ordering = ["-created_at", "-pk"]
    empty_value_display = "—"
    fields = [
        "promotion_col",
        "visit_col",
        "member_col",
        "code",
        "money_col",
        "points",
        "money_refunded_col",
        "points_refunded",
        "created_at",
        "reversed_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("at"), ordering="created_at")
    def created_col(self, r):
        return nowrap_datetime(r.created_at)

    @admin.display(description=_("promotion"), ordering="promotion__name")
    def promotion_col(self, r):
        return promotion_link(r.promotion)

    @admin.display(description=_("visit"), ordering="visit")
    def visit_col(self, r):
        url = reverse("admin:members_visit_change", args=[r.visit_id])
        return format_html('<a href="{}">#{}</a>', url, r.visit_id)

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_col(self, r):
        return member_link(r.member)

    @admin.display(description=_("money off"), ordering="money")
    def money_col(self, r):
        return money_text(r.money)

    @admin.display(description=_("money off given back"), ordering="money_refunded")
    def money_refunded_col(self, r):
        return money_text(r.money_refunded)

    @admin.display(description=_("given back by partial refunds"))
    def refunded_col(self, r):
        """What partial refunds gave back: money, then points; — when nothing."""
        parts = []
        if r.money_refunded:
            parts.append(money_text(r.money_refunded))
        if r.points_refunded:
            parts.append(points_text(r.points_refunded))
        return ", ".join(parts) or "—"

    @admin.display(description=_("reversed"), ordering="reversed_at")
    def reversed_col(self, r):
        return nowrap_datetime(r.reversed_at) if r.reversed_at else "—"
