"""The member page's referrals panel: the member's code and link, the referral
they joined with, and what their invitations brought.

Like the rewards panels, it comes from re-registering ``Member`` with a subclass
of the admin registered before (the rewards app's), so the members app knows
nothing of referrals.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse

from members.models import Member
from referrals import selectors
from referrals.admin.common import reason_label, referrals_url, status_badge
from referrals.models import Referral, ReferralCode
from referrals.services import friend_name

BaseMemberAdmin = type(admin.site._registry[Member])


def referrals_panel(member: Member, request) -> dict:
    code = ReferralCode.objects.filter(member=member).first()
    joined = Referral.objects.filter(referee=member).select_related("referrer").first()
    stats = selectors.referrer_stats(member=member)
    return {
        # Shown, not made: a code appears once the member asks for it (app,
        # landing link); the page must not write on every view.
        "code": code.code if code else "",
        "link": selectors.referral_link(code.code, request=request) if code else "",
        "joined": joined,
        "joined_url": (
            reverse("admin:referrals_referral_change", args=[joined.pk])
            if joined
            else ""
        ),
        "joined_status": status_badge(joined.status) if joined else "",
        "joined_reason": reason_label(joined.reason) if joined else "",
        "referrer_name": friend_name(joined.referrer) if joined else "",
        "referrer_url": (
            reverse("admin:members_member_change", args=[joined.referrer_id])
            if joined
            else ""
        ),
        "stats": stats,
        "invites_url": referrals_url(referrer=member.pk),
    }


admin.site.unregister(Member)


@admin.register(Member)
class MemberAdmin(BaseMemberAdmin):
    def change_view(self, request, object_id, form_url="", extra_context=None):
        if str(object_id).isdigit() and request.user.has_perm(
            "referrals.view_referral"
        ):
            member = Member.objects.filter(pk=object_id).first()
            if member is not None:
                extra_context = {
                    **(extra_context or {}),
                    "referrals": referrals_panel(member, request),
                }
        return super().change_view(request, object_id, form_url, extra_context)
