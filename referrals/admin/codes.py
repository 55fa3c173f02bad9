"""Members' referral codes, read-only: made by the services on first use."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin_helpers import ReadOnlyAdmin
from members.admin import LargeTablePaginator
from members.admin_helpers import member_link, member_search_q
from referrals import services
from referrals.admin.common import printable, referrals_url
from referrals.models import ReferralCode


@admin.register(ReferralCode)
class ReferralCodeAdmin(ReadOnlyAdmin):
    """Whose code is this? Codes are made by the services on first use."""

    list_display = ["code", "member_col", "created_at"]
    list_select_related = ["member"]
    search_fields = ["member__last_name", "member__first_name"]
    search_help_text = _("Code, or the member's phone (any format), #number or name.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    ordering = ["-member_id"]
    fields = ["code", "member_col", "created_at", "referrals"]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = printable(search_term)
        code = services.referral_code_normalize(term)
        if " " not in term and code and queryset.filter(code=code).exists():
            return queryset.filter(code=code), False
        q = member_search_q(term)
        if q is not None:
            return queryset.filter(q), False
        return super().get_search_results(request, queryset, term)

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_col(self, row):
        return member_link(row.member)

    @admin.display(description=_("referrals"))
    def referrals(self, row):
        return format_html(
            '<a href="{}">{}</a>',
            referrals_url(referrer=row.member_id),
            _("Referrals made with this member's code"),
        )
