"""The visit page's referral panel: the referral the visit qualified, if any.

Like the member page's panel, it comes from re-registering ``Visit`` with a
subclass of the admin registered before it (the rewards app's: the apps'
admin modules load in ``INSTALLED_APPS`` order), so the members app knows
nothing of referrals.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse

from members.admin import VisitPanel
from members.admin_helpers import member_link
from members.models import Visit
from referrals.admin.common import reason_label, status_badge
from referrals.models import Referral

PANEL_TEMPLATE = "admin/referrals/visit/panel.html"

BaseVisitAdmin = type(admin.site._registry[Visit])


def visit_referral_panel(visit: Visit) -> dict | None:
    """The referral ``visit`` qualified as the friend's first paid visit."""
    referral = (
        Referral.objects.filter(qualifying_visit=visit)
        .select_related("referrer")
        .first()
    )
    if referral is None:
        return None
    return {
        "referral": referral,
        "url": reverse("admin:referrals_referral_change", args=[referral.pk]),
        "referrer": member_link(referral.referrer),
        "status": status_badge(referral.status),
        "reason": reason_label(referral.reason),
    }


admin.site.unregister(Visit)


@admin.register(Visit)
class VisitAdmin(BaseVisitAdmin):
    def visit_panels(self, request, visit):
        panels = super().visit_panels(request, visit)
        if request.user.has_perm("referrals.view_referral"):
            panel = visit_referral_panel(visit)
            if panel is not None:
                panels = [*panels, VisitPanel(PANEL_TEMPLATE, panel)]
        return panels


__all__ = ["VisitAdmin", "visit_referral_panel"]
