"""The member page, with the member's rewards: wallet, tier and progress, lots,
the latest ledger entries, vouchers; and the manager's "Adjust points" and
"Set tier" pages.

The members app knows nothing of rewards (dependencies point one way), so the
rewards app re-registers ``Member`` with a subclass of the members app's admin
that adds these panels.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from members import admin as members_admin
from members.models import Member
from members.money import money_text
from rewards import selectors
from rewards.admin.records import member_rewards_links
from rewards.explain import entry_text
from rewards.forms import (
    PointsAdjustForm,
    TierOverrideForm,
    errors_to_form,
    token_new,
)
from rewards.models import PointLot, TierChange
from rewards.services.points import points_adjust
from rewards.services.tiers import tier_override

LEDGER_ROWS = 10
LOT_ROWS = 10
VOUCHER_ROWS = 10


def tier_progress_text(progress: selectors.TierProgress) -> str:
    """ "3 visits or 4,200 ₽ to Gold", or why there is nothing to reach."""
    nxt = progress.next_tier
    if nxt is None:
        return _("Top tier") if progress.tier else ""
    parts = []
    if progress.visits_needed is not None:
        parts.append(
            ngettext("%(n)s visit", "%(n)s visits", progress.visits_needed)
            % {"n": progress.visits_needed}
        )
    if progress.spend_needed is not None:
        parts.append(money_text(progress.spend_needed))
    if progress.visits_needed == 0 or progress.spend_needed == 0:
        return _("Qualifies for %(tier)s: moves up at the next visit") % {
            "tier": nxt.name
        }
    return _("%(needed)s to %(tier)s") % {
        "needed": _(" or ").join(parts),
        "tier": nxt.name,
    }


def rewards_panel(member: Member, user) -> dict:
    """Everything the member page shows about the member's points and tier."""
    summary = selectors.points_summary(member=member)
    progress = selectors.tier_progress(member=member)
    wallet = selectors.wallet_of(member)
    lots = list(
        PointLot.objects.filter(member=member, remaining__gt=0).order_by(
            "expires_on", "id"
        )[: LOT_ROWS + 1]
    )
    entries = list(
        selectors.member_ledger(member=member).order_by("-seq")[:LEDGER_ROWS]
    )
    vouchers = list(
        selectors.member_vouchers(member=member).order_by("-issued_at", "-id")[
            : VOUCHER_ROWS + 1
        ]
    )
    ledger_url = (
        reverse("admin:rewards_ledgerentry_changelist")
        + f"?member__id__exact={member.pk}"
    )
    grouped = {
        name: number_format(getattr(summary, name) or 0, force_grouping=True)
        for name in ("available", "pending", "expiring_soon")
    }
    return {
        "summary": summary,
        "counts": grouped,  # "5,529", as every other number on the page
        "money_value": money_text(summary.money_value),
        "window_spend": money_text(progress.stats.spend),
        "window_days": selectors.program_settings().tier_window_days,
        "wallet": wallet,
        "tier": progress.tier,
        "progress": progress,
        "progress_text": tier_progress_text(progress),
        "lots": lots[:LOT_ROWS],
        "today": timezone.localdate(),
        "lots_more": len(lots) > LOT_ROWS,
        "entries": [(e, entry_text(e)) for e in entries],
        "entries_total": wallet.seq if wallet else 0,
        "vouchers": vouchers[:VOUCHER_ROWS],
        "vouchers_more": len(vouchers) > VOUCHER_ROWS,
        "tier_changes": list(
            TierChange.objects.filter(member=member).select_related(
                "from_tier", "to_tier"
            )[:5]
        ),
        "ledger_url": ledger_url,
        "vouchers_url": reverse("admin:rewards_voucher_changelist")
        + f"?member__id__exact={member.pk}",
        "tier_history_url": reverse("admin:rewards_tierchange_changelist")
        + f"?member__id__exact={member.pk}",
        "links": member_rewards_links(member.pk, user=user)[1:],
        "can_checkout": user.has_perm("members.add_visit")
        and member.status == Member.Status.ACTIVE,
        "checkout_url": reverse("admin:rewards_checkout") + f"?member={member.pk}",
    }


admin.site.unregister(Member)


class TierFilter(admin.SimpleListFilter):
    """Members by their tier today (the program's tiers, from the cache)."""

    title = gettext_lazy("tier")
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        return [
            *((str(t.pk), t.name) for t in selectors.tiers()),
            ("none", gettext_lazy("No tier")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(
                Q(wallet__isnull=True) | Q(wallet__tier__isnull=True)
            )
        if value and value.isdigit():
            return queryset.filter(wallet__tier_id=int(value))
        return queryset


@admin.register(Member)
class MemberAdmin(members_admin.MemberAdmin):
    # What the desk and the manager scan a list for, fitting 1440 px: the email
    # and the registration location are on the member's page (and searchable,
    # filterable) instead.
    list_display = [
        "full_name",
        "phone_display",
        "tier_col",
        "points_col",
        "visits_count",
        "spent_col",
        "last_visit_at",
        "status",
        "checkout_link",
    ]
    list_select_related = ["wallet"]
    list_filter = [
        "status",
        TierFilter,
        *[f for f in members_admin.MemberAdmin.list_filter if f not in ("status",)],
    ]

    @admin.display(description=gettext_lazy("tier"), ordering="wallet__tier__rank")
    def tier_col(self, member):
        wallet = getattr(member, "wallet", None)
        tier = selectors.tier_by_id(wallet.tier_id) if wallet else None
        return tier.name if tier else "—"

    @admin.display(description=gettext_lazy("points"), ordering="wallet__available")
    def points_col(self, member):
        wallet = getattr(member, "wallet", None)
        return number_format(wallet.available, force_grouping=True) if wallet else "—"

    @admin.display(description=gettext_lazy("total spent"), ordering="total_spent")
    def spent_col(self, member):
        return money_text(member.total_spent)

    def get_urls(self):
        return [
            path(
                "<int:member_id>/points/adjust/",
                self.admin_site.admin_view(self.adjust_points_view),
                name="members_member_adjust_points",
            ),
            path(
                "<int:member_id>/tier/set/",
                self.admin_site.admin_view(self.set_tier_view),
                name="members_member_set_tier",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=gettext_lazy("checkout"))
    def checkout_link(self, member):
        if member.status != Member.Status.ACTIVE:
            return ""
        url = reverse("admin:rewards_checkout") + f"?member={member.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Checkout"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if str(object_id).isdigit() and request.user.has_perm("rewards.view_wallet"):
            member = Member.objects.filter(pk=object_id).first()
            if member is not None:
                extra_context = {
                    **(extra_context or {}),
                    "rewards": rewards_panel(member, request.user),
                }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- Manager's pages ------------------------------------------------------

    def _member_page(self, request, member, form, *, title, template, **extra):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": member.full_name,
            "member": member,
            "form": form,
            "media": self.media + form.media,
            "opts": self.model._meta,
            "summary": selectors.points_summary(member=member),
            "progress": selectors.tier_progress(member=member),
            "member_url": reverse("admin:members_member_change", args=[member.pk]),
            **extra,
        }
        return TemplateResponse(request, template, context)

    def adjust_points_view(self, request, member_id):
        if not request.user.has_perm("rewards.adjust_points"):
            raise PermissionDenied
        member = get_object_or_404(Member, pk=member_id)
        if request.method == "POST":
            form = PointsAdjustForm(request.POST)
            if form.is_valid():
                try:
                    entry = points_adjust(
                        member=member,
                        points=form.cleaned_data["points"],
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                        # The form's token: a double click adjusts once.
                        idempotency_key=f"adjust:admin:{form.cleaned_data['token']}",
                    )
                except ValidationError as exc:
                    errors_to_form(exc, form)
                else:
                    self.message_user(
                        request,
                        _("%(text)s — balance now %(balance)s.")
                        % {"text": entry_text(entry), "balance": entry.balance_after},
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:members_member_change", args=[member.pk])
                    )
        else:
            form = PointsAdjustForm(initial={"token": token_new()})
        return self._member_page(
            request,
            member,
            form,
            title=_("Adjust points"),
            template="admin/rewards/member/adjust_points.html",
        )

    def set_tier_view(self, request, member_id):
        if not request.user.has_perm("rewards.override_tier"):
            raise PermissionDenied
        member = get_object_or_404(Member, pk=member_id)
        if request.method == "POST":
            form = TierOverrideForm(request.POST)
            if form.is_valid():
                try:
                    change = tier_override(
                        member=member,
                        tier=form.cleaned_data["tier"],
                        until=form.cleaned_data["until"],
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                    )
                except ValidationError as exc:
                    errors_to_form(exc, form)
                else:
                    self.message_user(
                        request,
                        _("%(name)s is %(tier)s until %(until)s.")
                        % {
                            "name": member.full_name,
                            "tier": change.to_tier.name,
                            "until": date_format(form.cleaned_data["until"]),
                        },
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:members_member_change", args=[member.pk])
                    )
        else:
            wallet = selectors.wallet_of(member)
            form = TierOverrideForm(
                initial={"tier": wallet.tier_id} if wallet and wallet.tier_id else {}
            )
        return self._member_page(
            request,
            member,
            form,
            title=_("Set tier"),
            template="admin/rewards/member/set_tier.html",
            wallet=selectors.wallet_of(member),
        )


__all__ = ["MemberAdmin", "rewards_panel", "tier_progress_text"]
