"""Pieces shared by the campaigns admin pages: links and badges."""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from campaigns.models import Promotion

Status = Promotion.Status

# The colours of ``Promotion.shown_status``, keyed by the status underneath
# and "scheduled" / "over" for an active one outside its dates.
STATUS_COLORS = {
    "scheduled": "#1565c0",
    "over": "#616161",
    Status.ACTIVE: "#2e7d32",
    Status.PAUSED: "#ef6c00",
    Status.ENDED: "#616161",
    Status.DRAFT: "#9e9e9e",
}


def changelist_url(model_name: str, **params) -> str:
    url = reverse(f"admin:campaigns_{model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def promotion_link(promotion) -> str:
    if promotion is None:
        return "—"
    url = reverse("admin:campaigns_promotion_change", args=[promotion.pk])
    return format_html('<a href="{}">{}</a>', url, promotion.name)


def status_badge(promotion: Promotion, now) -> str:
    key = promotion.status
    if promotion.status == Status.ACTIVE:
        if promotion.starts_at and now < promotion.starts_at:
            key = "scheduled"
        elif promotion.ends_at and now >= promotion.ends_at:
            key = "over"
    return format_html(
        '<span style="display:inline-block;padding:1px 8px;border-radius:10px;'
        'color:#fff;background:{};white-space:nowrap">{}</span>',
        STATUS_COLORS.get(key, "#616161"),
        promotion.shown_status,
    )
