"""Referrals and their history, read-only: the services write them."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin_helpers import ReadOnlyAdmin, nowrap_datetime
from members.admin import LargeTablePaginator
from members.admin_helpers import member_link, member_search_q
from members.models import Member
from members.money import money_text
from referrals import services
from referrals.admin.common import (
    HoldReasonFilter,
    ReferrerFilter,
    Status,
    hold_labels,
    phone_text,
    printable,
    reason_label,
    referrals_url,
    status_badge,
)
from referrals.models import Referral, ReferralEvent


class ReferralEventInline(admin.TabularInline):
    """The referral's moves, oldest first, as the services recorded them."""

    model = ReferralEvent
    fields = ["when", "from_status", "to_status", "why", "details", "note", "by"]
    readonly_fields = fields
    ordering = ["created_at", "id"]
    extra = 0
    can_delete = False
    verbose_name_plural = _("history")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("when"))
    def when(self, event):
        return nowrap_datetime(event.created_at)

    @admin.display(description=_("reason"))
    def why(self, event):
        return reason_label(event.reason)

    @admin.display(description=_("details"))
    def details(self, event):
        params = dict(event.params or {})
        holds = params.pop("holds", None)
        parts = [(str(_("holds")), "; ".join(hold_labels(holds)))] if holds else []
        # Sorted: PostgreSQL's jsonb does not keep the order keys were written in.
        parts += [(str(key), str(value)) for key, value in sorted(params.items())]
        if not parts:
            return "—"
        return format_html_join(", ", "{}: {}", parts)

    @admin.display(description=_("by"))
    def by(self, event):
        return event.actor_name or "—"


def _day(value):
    return date_format(timezone.localtime(value), "SHORT_DATE_FORMAT") if value else "—"


class ReferralAdminBase(ReadOnlyAdmin):
    """What the referral list and the review queue share: columns, search, page."""

    list_select_related = ["referrer", "referee"]
    search_fields = [
        "referrer__last_name",
        "referrer__first_name",
        "referee__last_name",
        "referee__first_name",
    ]
    search_help_text = _(
        "Code used, or the referrer's or friend's phone (any format), "
        "#member number or name."
    )
    show_full_result_count = False
    paginator = LargeTablePaginator
    inlines = [ReferralEventInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "referrer_link",
                    "friend_link",
                    ("code", "channel"),
                    ("status_col", "reason_col"),
                ]
            },
        ),
        (
            _("Sign-up"),
            {
                "fields": [
                    "registered_at",
                    ("signup_device_id", "signup_ip"),
                    "holds_col",
                    "cleared",
                ]
            },
        ),
        (
            _("First visit and rewards"),
            {
                "fields": [
                    ("visit_link", "qualified_at"),
                    "rewarded_at",
                    ("referrer_points", "friend_points"),
                ]
            },
        ),
        (_("Review"), {"fields": [("reviewed_at", "reviewed_by"), "review_note"]}),
    ]
    readonly_fields = [
        "referrer_link",
        "friend_link",
        "code",
        "channel",
        "status_col",
        "reason_col",
        "registered_at",
        "signup_device_id",
        "signup_ip",
        "holds_col",
        "cleared",
        "visit_link",
        "qualified_at",
        "rewarded_at",
        "referrer_points",
        "friend_points",
        "reviewed_at",
        "reviewed_by",
        "review_note",
    ]

    def get_search_results(self, request, queryset, search_term):
        term = printable(search_term)
        if not term:
            return queryset, False
        code = services.referral_code_normalize(term)
        if " " not in term and code and queryset.filter(code=code).exists():
            return queryset.filter(code=code), False
        who = member_search_q(term, path="")
        if who is not None:
            # The members first (an indexed phone or id lookup), then their
            # referrals by the two indexed keys: an OR across two joins to a
            # million members would scan (0.8 s on the 1M-member bench).
            # Ids as values, not a subquery: the planner then ORs the two
            # indexes instead of walking the list's order until a row matches.
            ids = list(Member.objects.filter(who).values_list("pk", flat=True)[:1001])
            if len(ids) > 1000:  # "916" matches half the chain: stay in SQL
                ids = Member.objects.filter(who).values("pk")
            return queryset.filter(Q(referrer__in=ids) | Q(referee__in=ids)), False
        return super().get_search_results(request, queryset, term)

    @admin.display(description=_("registered"), ordering="registered_at")
    def registered_when(self, referral):
        return nowrap_datetime(referral.registered_at)

    @admin.display(description=_("qualified"), ordering="qualified_at")
    def qualified_day(self, referral):
        return _day(referral.qualified_at)

    @admin.display(description=_("rewarded"), ordering="rewarded_at")
    def rewarded_day(self, referral):
        return _day(referral.rewarded_at)

    @admin.display(description=_("points: referrer / friend"))
    def points_col(self, referral):
        if not (referral.referrer_points or referral.friend_points):
            return "—"
        return format_html(
            '<span style="white-space:nowrap">{} / {}</span>',
            number_format(referral.referrer_points, force_grouping=True),
            number_format(referral.friend_points, force_grouping=True),
        )

    @admin.display(description=_("referrer"), ordering="referrer__last_name")
    def referrer_col(self, referral):
        return member_link(referral.referrer)

    @admin.display(description=_("friend"), ordering="referee__last_name")
    def friend_col(self, referral):
        url = reverse("admin:members_member_change", args=[referral.referee_id])
        return format_html(
            '<a href="{}">{}</a>', url, services.friend_name(referral.referee)
        )

    @admin.display(description=_("status"), ordering="status")
    def status_col(self, referral):
        return status_badge(referral.status)

    @admin.display(description=_("reason"), ordering="reason")
    def reason_col(self, referral):
        return reason_label(referral.reason) or "—"

    @admin.display(description=_("hold reasons"))
    def holds_col(self, referral):
        labels = hold_labels(referral.hold_reasons)
        if not labels:
            return "—"
        return format_html_join(mark_safe("<br>"), "{}", ((x,) for x in labels))

    @admin.display(description=_("referrer"))
    def referrer_link(self, referral):
        member = referral.referrer
        return format_html(
            '{} · {} · <a href="{}">{}</a>',
            member_link(member),
            phone_text(member),
            referrals_url(referrer=member.pk),
            _("all their referrals"),
        )

    @admin.display(description=_("friend"))
    def friend_link(self, referral):
        return format_html(
            "{} · {}", member_link(referral.referee), phone_text(referral.referee)
        )

    @admin.display(description=_("first paid visit"))
    def visit_link(self, referral):
        visit = referral.qualifying_visit
        if visit is None:
            friend = referral.referee
            if not friend.visits_count:
                return _("No visit yet")
            return ngettext(
                "%(count)d visit, none qualifying",
                "%(count)d visits, none qualifying",
                friend.visits_count,
            ) % {"count": friend.visits_count}
        url = reverse("admin:members_visit_change", args=[visit.pk])
        return format_html(
            '<a href="{}">#{}</a> · {} · {}',
            url,
            visit.pk,
            date_format(timezone.localtime(visit.paid_at), "SHORT_DATETIME_FORMAT"),
            money_text(visit.amount_paid),
        )

    def get_object(self, request, object_id, from_field=None):
        # The detail page names both members, the visit and the reviewer.
        queryset = self.get_queryset(request).select_related(
            "referrer", "referee", "qualifying_visit", "reviewed_by"
        )
        try:
            return queryset.get(pk=int(object_id))
        except (ValueError, queryset.model.DoesNotExist):
            return None


@admin.register(Referral)
class ReferralAdmin(ReferralAdminBase):
    list_display = [
        "registered_when",
        "referrer_col",
        "friend_col",
        "status_col",
        "reason_col",
        "qualified_day",
        "rewarded_day",
        "points_col",
    ]
    list_display_links = ["registered_when"]
    list_filter = [
        "status",
        "channel",
        HoldReasonFilter,
        "registered_at",
        ReferrerFilter,
    ]
    # The primary key follows time and is indexed; "-registered_at" would sort
    # the whole table for the unfiltered list.
    ordering = ["-id"]

    def changelist_view(self, request, extra_context=None):
        referrer = request.GET.get(ReferrerFilter.parameter_name, "")
        if referrer.isdigit():
            member = Member.objects.filter(pk=referrer).only("first_name", "last_name")
            if member:
                extra_context = {
                    **(extra_context or {}),
                    "title": _("Referrals by %(name)s") % {"name": member[0].full_name},
                }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {})}
        if (
            str(object_id).isdigit()
            and request.user.has_perm("referrals.view_heldreferral")
            and Referral.objects.filter(pk=object_id, status=Status.HELD).exists()
        ):
            extra_context["review_url"] = reverse(
                "admin:referrals_heldreferral_change", args=[object_id]
            )
        return super().change_view(request, object_id, form_url, extra_context)
