"""The campaigns' settings (one row), and what the runs wrote: enrollments and
sends, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from campaigns.admin.results import _number
from campaigns.models import (
    CampaignSend,
    CampaignSettings,
    Enrollment,
)
from core.admin_helpers import ReadOnlyAdmin, nowrap_datetime
from members.admin_helpers import MemberSearchMixin, member_link


@admin.register(CampaignSettings)
class CampaignSettingsAdmin(admin.ModelAdmin):
    """One row: the list goes straight to it; added once, never deleted."""

    fields = [
        "sending_paused", "frequency_cap", "message_cost", "point_value",
        "gross_margin", "program_control_percent",
    ]  # fmt: skip

    def has_add_permission(self, request):
        return (
            super().has_add_permission(request)
            and not CampaignSettings.objects.exists()
        )

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = CampaignSettings.objects.order_by("pk").first()
        if row is None and self.has_change_permission(request):
            row = CampaignSettings.objects.create()  # the defaults, to edit
        if row is None:
            return super().changelist_view(request, extra_context)
        return HttpResponseRedirect(
            reverse("admin:campaigns_campaignsettings_change", args=[row.pk])
        )


class _MemberRows(MemberSearchMixin, ReadOnlyAdmin):
    list_select_related = ["campaign", "member"]
    search_fields = ["member__last_name", "member__first_name", "campaign__name"]
    search_help_text = _("The member's phone, #number or name, or the campaign.")

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_col(self, row):
        return member_link(row.member)


@admin.register(Enrollment)
class EnrollmentAdmin(_MemberRows):
    list_display = [
        "enrolled_col", "campaign", "member_col", "arm", "status", "step", "trigger_at",
    ]  # fmt: skip
    list_display_links = ["enrolled_col"]
    list_filter = ["campaign", "arm", "status"]

    @admin.display(description=_("enrolled"), ordering="enrolled_at")
    def enrolled_col(self, e):
        return nowrap_datetime(e.enrolled_at)


@admin.register(CampaignSend)
class CampaignSendAdmin(_MemberRows):
    list_display = [
        "created_col", "campaign", "step", "member_col", "arm", "channel", "status",
        "offer_col",
    ]  # fmt: skip
    list_display_links = ["created_col"]
    list_filter = ["campaign", "arm", "status", "channel"]
    list_select_related = ["campaign", "member", "step__campaign", "code", "voucher"]

    @admin.display(description=_("at"), ordering="created_at")
    def created_col(self, s):
        return nowrap_datetime(s.created_at)

    @admin.display(description=_("offer"))
    def offer_col(self, s):
        if s.code_id:
            return s.code.code
        if s.voucher_id:
            return s.voucher.code
        if s.points:
            return _("+%(n)s points") % {"n": _number(s.points)}
        return "—"
