"""Per referrer: what each member's invitations came to
(``referrals.selectors.referrer_summary``)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, Value
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin_helpers import ReadOnlyAdmin
from members.admin import LargeTablePaginator
from members.admin_helpers import member_link, member_search_q
from members.admin_privacy import sees_contacts
from members.admin_text import nowrap, phone_masked
from referrals import selectors
from referrals.admin.common import Status, phone_text, printable, referrals_url
from referrals.models import Referrer


class HasHeldFilter(admin.SimpleListFilter):
    title = _("review")
    parameter_name = "held"

    def lookups(self, request, model_admin):
        return [("yes", _("Has referrals held for review"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(ref_held__gt=0)
        return queryset


def _count_link(member, count: int | None, status: str | None = None) -> str:
    if not count:
        return "0"
    params = {"referrer": member.pk}
    if status:
        params["status__exact"] = status
    return format_html('<a href="{}">{}</a>', referrals_url(**params), count)


@admin.register(Referrer)
class ReferrerAdmin(ReadOnlyAdmin):
    """Members who invited anyone, with what came of it
    (``referrals.selectors.referrer_summary``); each count opens those referrals."""

    list_display = [
        "name_col",
        "phone_col",
        "invited",
        "registered",
        "rewarded",
        "held",
        "annulled",
        "rejected",
        "points",
        "this_month",
    ]
    list_display_links = None
    list_filter = [HasHeldFilter]
    search_fields = ["last_name", "first_name"]
    search_help_text = _("Phone (any format), #member number or name.")
    show_full_result_count = False
    paginator = LargeTablePaginator

    def get_queryset(self, request):
        start, end = selectors.month_bounds(timezone.now())
        in_month = Q(
            referrals_made__status=Status.REWARDED,
            referrals_made__rewarded_at__gte=start,
            referrals_made__rewarded_at__lt=end,
        )
        return selectors.referrer_summary().annotate(
            ref_month=Count("referrals_made", filter=in_month, distinct=True),
            ref_cap=Value(selectors.program().monthly_cap),
        )

    def get_ordering(self, request):
        return ["-ref_total", "-pk"]

    def get_search_results(self, request, queryset, search_term):
        term = printable(search_term)
        q = member_search_q(term, path="member")
        if q is not None:
            # The rows are members themselves: "member_id" is the pk,
            # "member__phone…" the phone.
            ((key, value),) = q.children
            key = key.replace("member_id", "pk").removeprefix("member__")
            return queryset.filter(**{key: value}), False
        return super().get_search_results(request, queryset, term)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The summary has no page of its own: a referrer's referrals are.
        if not self.has_view_permission(request):
            raise PermissionDenied
        params = {"referrer": object_id} if str(object_id).isdigit() else {}
        return HttpResponseRedirect(referrals_url(**params))

    @admin.display(description=_("name"), ordering="last_name")
    def name_col(self, member):
        return member_link(member)

    @admin.display(description=_("phone"), ordering="phone")
    def phone_col(self, member):
        return nowrap(phone_text(member))

    @admin.display(description=_("phone"))
    def phone_masked_col(self, member):
        return nowrap(phone_masked(member.phone, empty="—"))

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        if sees_contacts(request):
            return columns
        # Whoever may not see members' contacts (the analyst): masked.
        return ["phone_masked_col" if c == "phone_col" else c for c in columns]

    @admin.display(description=_("invited"), ordering="ref_total")
    def invited(self, member):
        return _count_link(member, member.ref_total)

    @admin.display(description=_("registered"), ordering="ref_registered")
    def registered(self, member):
        return _count_link(member, member.ref_registered, Status.REGISTERED)

    @admin.display(description=_("rewarded"), ordering="ref_rewarded")
    def rewarded(self, member):
        return _count_link(member, member.ref_rewarded, Status.REWARDED)

    @admin.display(description=_("held"), ordering="ref_held")
    def held(self, member):
        return _count_link(member, member.ref_held, Status.HELD)

    @admin.display(description=_("annulled"), ordering="ref_annulled")
    def annulled(self, member):
        return _count_link(member, member.ref_annulled, Status.ANNULLED)

    @admin.display(description=_("rejected"), ordering="ref_rejected")
    def rejected(self, member):
        return _count_link(member, member.ref_rejected, Status.REJECTED)

    @admin.display(description=_("points earned"), ordering="ref_points")
    def points(self, member):
        return f"{member.ref_points or 0:,d}".replace(",", "\u202f")

    @admin.display(description=_("rewarded this month / cap"), ordering="ref_month")
    def this_month(self, member):
        return f"{member.ref_month} / {member.ref_cap}"
