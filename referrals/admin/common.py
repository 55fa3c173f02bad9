"""Pieces shared by the referrals admin pages: labels, badges, links, filters."""

from __future__ import annotations

from django.contrib import admin
from django.db import connections
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from members.admin_text import phone_nowrap
from members.admin_text import printable as printable
from members.models import Member
from referrals.models import Referral, ReferralEvent
from referrals.models import reason_label as reason_label

Status = Referral.Status
Reason = ReferralEvent.Reason
Hold = ReferralEvent.Hold

REVIEW_PERMISSION = "referrals.review_referral"

STATUS_COLORS = {
    Status.REGISTERED: "#1565c0",
    Status.QUALIFIED: "#00796b",
    Status.REWARDED: "#2e7d32",
    Status.HELD: "#ef6c00",
    Status.ANNULLED: "#616161",
    Status.REJECTED: "#c62828",
}


def status_badge(status: str) -> str:
    label = Status(status).label if status in Status.values else status
    return format_html(
        '<span style="display:inline-block;padding:1px 8px;border-radius:10px;'
        'color:#fff;background:{};white-space:nowrap">{}</span>',
        STATUS_COLORS.get(status, "#616161"),
        label,
    )


def hold_labels(holds) -> list[str]:
    return [str(Hold(h).label) if h in Hold.values else h for h in holds or []]


def referrals_url(**params) -> str:
    """The referral list, filtered (``referrer=<member id>``, ``status__exact``…)."""
    url = reverse("admin:referrals_referral_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def phone_text(member) -> str:
    return phone_nowrap(member.phone, empty="—")


# --- Filters ----------------------------------------------------------------


class HoldReasonFilter(admin.SimpleListFilter):
    """Referrals held (now or before a review) for a given reason."""

    title = _("hold reason")
    parameter_name = "hold"

    def lookups(self, request, model_admin):
        return Hold.choices

    def queryset(self, request, queryset):
        value = self.value()
        if value not in Hold.values:
            return queryset
        if connections[queryset.db].features.supports_json_field_contains:
            return queryset.filter(hold_reasons__contains=[value])
        # SQLite has no JSON containment: the list is stored as JSON text, so
        # match the value with its quotes (one code never matches inside another).
        return queryset.filter(hold_reasons__icontains=f'"{value}"')


class ReferrerFilter(admin.SimpleListFilter):
    """``?referrer=<member id>``, as the referrer summary links here.

    A related-field filter would list every referrer in the sidebar; this
    one shows only the chosen referrer, so the filter can be cleared.
    """

    title = _("referrer")
    parameter_name = "referrer"

    def lookups(self, request, model_admin):
        value = self.value() or ""
        if not value.isdigit():
            return []
        member = Member.objects.filter(pk=value).only("first_name", "last_name")
        name = member[0].full_name if member else ""
        return [(value, name or f"#{value}")]

    def queryset(self, request, queryset):
        value = self.value() or ""
        return queryset.filter(referrer_id=int(value)) if value.isdigit() else queryset
