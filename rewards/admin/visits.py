"""The visit page's rewards panels: the benefits that priced the visit, the
points it used and earned (and what refunds took back), and its vouchers.

The members app knows nothing of rewards (dependencies point one way), so the
rewards app re-registers ``Visit`` with a subclass of the members app's admin
that adds a panel (``VisitAdmin.visit_panels``), as it does for ``Member``.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy

from members import admin as members_admin
from members.models import Visit
from members.money import money_text
from rewards.benefits import POINTS_KIND, benefit_kind_label, benefit_text
from rewards.explain import entry_text
from rewards.models import LedgerEntry, TierChange, VisitBenefit, Voucher

PANEL_TEMPLATE = "admin/rewards/visit/panels.html"
# Beside a voucher a cancelled or refunded visit no longer holds.
UNDONE_NOTES = {
    Visit.Status.CANCELLED: gettext_lazy("given back: the visit was cancelled"),
    Visit.Status.REFUNDED: gettext_lazy("given back: the visit was refunded"),
}


def visit_rewards_panel(visit: Visit, user) -> dict:
    """What the visit page shows of the rewards: a fixed number of queries.

    The benefits are part of the visit's price, shown to whoever sees the
    visit; the points and the vouchers to those who may see the ledger and
    the vouchers.
    """
    benefits = list(VisitBenefit.objects.filter(visit=visit))
    panel = {
        "benefits": [
            {
                "kind": benefit_kind_label(b.kind),
                "source": b.source,
                "text": benefit_text(b.reason, b.params),
                "amount": money_text(b.amount),
                # Points paying part of the bill say so in their text already.
                "points": b.points if b.kind != POINTS_KIND else 0,
                "voucher_url": (
                    reverse("admin:rewards_voucher_change", args=[b.voucher_id])
                    if b.voucher_id and user.has_perm("rewards.view_voucher")
                    else ""
                ),
            }
            for b in benefits
        ],
        "total": money_text(visit.total),
        "paid": money_text(visit.amount_paid),
        "points": None,
        "vouchers": None,
    }
    if user.has_perm("rewards.view_ledgerentry"):
        entries = list(LedgerEntry.objects.filter(visit=visit).order_by("seq"))
        panel["points"] = {
            "used": -sum(e.amount for e in entries if e.kind == LedgerEntry.Kind.SPEND),
            "earned": sum(e.amount for e in entries if e.kind == LedgerEntry.Kind.EARN),
            "entries": [
                {
                    "entry": e,
                    "text": entry_text(e),
                    "url": reverse("admin:rewards_ledgerentry_change", args=[e.pk]),
                }
                for e in entries
            ],
            "tier_changes": list(
                TierChange.objects.filter(visit=visit).select_related(
                    "from_tier", "to_tier"
                )
            ),
        }
    if user.has_perm("rewards.view_voucher"):
        # Used on the visit; a cancelled or refunded visit gives its vouchers
        # back (``visit`` cleared), and its benefits still name them.
        applied = {b.voucher_id for b in benefits if b.voucher_id}
        panel["undone_note"] = UNDONE_NOTES.get(visit.status, "")
        panel["vouchers"] = [
            {
                "voucher": v,
                "url": reverse("admin:rewards_voucher_change", args=[v.pk]),
                "used_here": v.status == Voucher.Status.USED and v.visit_id == visit.pk,
            }
            for v in Voucher.objects.filter(Q(visit=visit) | Q(pk__in=applied))
            .select_related("reward")
            .order_by("pk")
        ]
    return panel


admin.site.unregister(Visit)


@admin.register(Visit)
class VisitAdmin(members_admin.VisitAdmin):
    def visit_panels(self, request, visit):
        return [
            *super().visit_panels(request, visit),
            members_admin.VisitPanel(
                PANEL_TEMPLATE, visit_rewards_panel(visit, request.user)
            ),
        ]


__all__ = ["VisitAdmin", "visit_rewards_panel"]
