"""The program's terms: one row, edited by a manager."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from referrals import selectors
from referrals.models import ReferralProgram


@admin.register(ReferralProgram)
class ReferralProgramAdmin(SimpleHistoryAdmin):
    """One row (pk=1): the list goes straight to it; never added or deleted.

    The model's ``clean()`` (a percent over 100, fractional points) runs in
    the form's validation, so its errors show next to the fields.
    """

    fieldsets = [
        (None, {"fields": ["is_active"]}),
        (
            _("Rewards"),
            {
                "fields": [
                    ("referrer_reward_kind", "referrer_reward_value"),
                    ("friend_reward_kind", "friend_reward_value"),
                    "stacks_with_first_visit",
                    "bonus_validity_days",
                ]
            },
        ),
        (
            _("Qualifying and limits"),
            {"fields": ["min_first_visit_amount", "monthly_cap"]},
        ),
        (None, {"fields": ["updated_at"]}),
    ]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_object(self, request, object_id, from_field=None):
        if str(object_id) == "1":
            selectors.program()  # made with the shipped terms on first use
        return super().get_object(request, object_id, from_field)

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = selectors.program()
        return HttpResponseRedirect(
            reverse("admin:referrals_referralprogram_change", args=[row.pk])
        )
