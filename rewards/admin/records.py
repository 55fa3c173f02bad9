"""What the services wrote, shown read-only: wallets, the ledger, tier history,
job runs and expiry notices.

Nobody adds, edits or deletes these rows in the admin; a correction is a new
ledger entry made by a service (the member page's "Adjust points").
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from core.admin_helpers import ReadOnlyAdmin, nowrap_datetime
from members.admin import LargeTablePaginator
from members.admin_helpers import MemberSearchMixin, member_link
from members.models import Member
from rewards import jobs, selectors
from rewards.admin.common import points_html
from rewards.explain import entry_text
from rewards.models import (
    ExpiryNotice,
    JobRun,
    LedgerEntry,
    LotAllocation,
    TierChange,
    Wallet,
)

MEMBER_SEARCH_HELP = _("Member phone (any format), #member number or last name.")


class FilteredByMemberMixin:
    """Title a list filtered to one member (the member page links here) with
    the member's name, so the page says whose rows it shows."""

    def changelist_view(self, request, extra_context=None):
        member_id = request.GET.get("member__id__exact", "")
        if member_id.isdigit():
            member = Member.objects.filter(pk=member_id).only("first_name", "last_name")
            if member:
                extra_context = {
                    **(extra_context or {}),
                    "title": f"{self.model._meta.verbose_name_plural.capitalize()}: "
                    f"{member[0].full_name}",
                }
        return super().changelist_view(request, extra_context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(FilteredByMemberMixin, MemberSearchMixin, ReadOnlyAdmin):
    list_display = [
        "when",
        "member_col",
        "seq",
        "kind",
        "amount_col",
        "balance_after",
        "explanation",
    ]
    list_display_links = ["when"]
    list_filter = ["kind", "created_at"]
    list_select_related = ["member"]
    search_fields = ["member__last_name", "=idempotency_key"]
    search_help_text = MEMBER_SEARCH_HELP
    show_full_result_count = False
    paginator = LargeTablePaginator
    # The primary key follows time and is indexed; "-created_at" would sort
    # millions of rows for the unfiltered list.
    ordering = ["-id"]
    fields = [
        "member",
        "seq",
        "kind",
        "amount",
        "balance_after",
        "debt_change",
        "debt_after",
        "explanation",
        "note",
        "visit",
        "voucher",
        "reverses",
        "actor_name",
        "created_at",
        "lots_moved",
        "reason",
        "params",
        "idempotency_key",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields

    @admin.display(description=_("when"), ordering="id")
    def when(self, entry):
        return nowrap_datetime(entry.created_at)

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_col(self, entry):
        return member_link(entry.member)

    @admin.display(description=_("points"), ordering="amount")
    def amount_col(self, entry):
        return points_html(entry.amount, signed=True)

    @admin.display(description=_("explanation"))
    def explanation(self, entry):
        return format_html(
            '<span style="display:inline-block;min-width:15em">{}</span>',
            entry_text(entry),
        )

    @admin.display(description=_("points lots"))
    def lots_moved(self, entry):
        """Which lots the entry credited, drew from or returned to."""
        rows = [
            (
                points_html(lot.amount, signed=True),
                _("credited, expires"),
                lot.expires_on,
            )
            for lot in entry.lots.all()
        ]
        rows += [
            (
                points_html(a.amount, signed=True),
                _("lot #%(id)s, expires") % {"id": a.lot_id},
                a.lot.expires_on,
            )
            for a in LotAllocation.objects.filter(entry=entry).select_related("lot")
        ]
        if not rows:
            return "—"
        return format_html_join(mark_safe("<br>"), "{} {} {}", rows)


@admin.register(Wallet)
class WalletAdmin(FilteredByMemberMixin, MemberSearchMixin, ReadOnlyAdmin):
    list_display = [
        "member_col",
        "tier",
        "available",
        "pending",
        "debt",
        "tier_since",
        "tier_override_until",
        "updated_at",
    ]
    list_filter = ["tier"]
    list_select_related = ["member", "tier"]
    search_fields = ["member__last_name"]
    search_help_text = MEMBER_SEARCH_HELP
    show_full_result_count = False
    paginator = LargeTablePaginator
    ordering = ["-pk"]
    fields = [
        "member",
        ("available", "pending", "debt"),
        ("tier", "tier_since"),
        ("tier_at_risk_since", "tier_override_until"),
        "seq",
        "updated_at",
    ]
    readonly_fields = [
        "member",
        "available",
        "pending",
        "debt",
        "tier",
        "tier_since",
        "tier_at_risk_since",
        "tier_override_until",
        "seq",
        "updated_at",
    ]

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_col(self, wallet):
        return member_link(wallet.member)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {})}
        if str(object_id).isdigit():
            extra_context["member_links"] = member_rewards_links(
                int(object_id), user=request.user
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {})}
        if request.GET.get("member__id__exact") is None:
            extra_context["liability"] = selectors.points_liability()
        return super().changelist_view(request, extra_context)


def member_rewards_links(member_id: int, *, user) -> list[tuple[str, str]]:
    """Links from a wallet to the member's pages and the actions ``user`` may take."""
    links = [
        (reverse("admin:members_member_change", args=[member_id]), _("Member page")),
        (
            reverse("admin:rewards_ledgerentry_changelist")
            + f"?member__id__exact={member_id}",
            _("Points history"),
        ),
        (
            reverse("admin:rewards_voucher_changelist")
            + f"?member__id__exact={member_id}",
            _("Vouchers"),
        ),
    ]
    if user.has_perm("rewards.adjust_points"):
        links.append(
            (
                reverse("admin:members_member_adjust_points", args=[member_id]),
                _("Adjust points"),
            )
        )
    if user.has_perm("rewards.override_tier"):
        links.append(
            (
                reverse("admin:members_member_set_tier", args=[member_id]),
                _("Set tier"),
            )
        )
    return links


@admin.register(TierChange)
class TierChangeAdmin(FilteredByMemberMixin, MemberSearchMixin, ReadOnlyAdmin):
    list_display = [
        "changed_at",
        "member_col",
        "from_tier",
        "to_tier",
        "reason",
        "note",
        "actor",
        "visit",
    ]
    list_filter = ["reason", "to_tier", "changed_at"]
    list_select_related = ["member", "from_tier", "to_tier", "actor"]
    search_fields = ["member__last_name"]
    search_help_text = MEMBER_SEARCH_HELP
    show_full_result_count = False
    paginator = LargeTablePaginator
    ordering = ["-id"]
    fields = [
        "member",
        "from_tier",
        "to_tier",
        "reason",
        "note",
        "visit",
        "actor",
        "changed_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_col(self, change):
        return member_link(change.member)


class JobFilter(admin.SimpleListFilter):
    title = _("job")
    parameter_name = "job"

    def lookups(self, request, model_admin):
        return [(name, job.title) for name, job in jobs.JOBS.items()]

    def queryset(self, request, queryset):
        return queryset.filter(job=self.value()) if self.value() else queryset


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = [
        "business_date",
        "job_title",
        "status",
        "started_at",
        "duration",
        "result_text",
    ]
    list_filter = ["status", JobFilter]
    date_hierarchy = "business_date"
    fields = [
        "job_title",
        "business_date",
        "status",
        "started_at",
        "finished_at",
        "duration",
        "result_text",
        "error",
    ]
    readonly_fields = fields

    @admin.display(description=_("job"), ordering="job")
    def job_title(self, run):
        return jobs.job_title(run.job)

    @admin.display(description=_("result"))
    def result_text(self, run):
        return jobs.result_text(run.result) or "—"

    @admin.display(description=_("duration"))
    def duration(self, run):
        if not run.finished_at:
            return "—"
        seconds = (run.finished_at - run.started_at).total_seconds()
        return f"{seconds:.1f} s"


@admin.register(ExpiryNotice)
class ExpiryNoticeAdmin(FilteredByMemberMixin, MemberSearchMixin, ReadOnlyAdmin):
    list_display = ["created_at", "member_col", "points", "expires_on", "status"]
    list_filter = ["status", "expires_on"]
    list_select_related = ["member"]
    search_fields = ["member__last_name"]
    search_help_text = MEMBER_SEARCH_HELP
    show_full_result_count = False
    paginator = LargeTablePaginator
    ordering = ["-id"]
    fields = ["member", "points", "expires_on", "status", "created_at"]
    readonly_fields = fields

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_col(self, notice):
        return member_link(notice.member)
