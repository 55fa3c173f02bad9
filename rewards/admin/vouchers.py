"""Vouchers: found by code or by their holder, cancelled with a refund of points.

Vouchers are issued by services (redemption, tier perks) and used at checkout;
here they are read-only except for the cancel action, which calls
``voucher_cancel``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin_helpers import ReadOnlyAdmin
from members.admin import LargeTablePaginator
from members.admin_helpers import MemberSearchMixin, member_link
from rewards.admin.records import FilteredByMemberMixin
from rewards.models import Voucher
from rewards.qr import voucher_qr_svg
from rewards.services.vouchers import (
    CODE_ALPHABET,
    CODE_LENGTH,
    voucher_cancel,
    voucher_code_normalize,
    voucher_mark_used,
)

CANCEL_PERMISSION = "rewards.cancel_voucher"


def looks_like_voucher_code(term: str) -> str | None:
    """The normalised code if ``term`` could be a voucher code, else None."""
    code = voucher_code_normalize(term)
    if len(code) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in code):
        return code
    return None


@admin.register(Voucher)
class VoucherAdmin(FilteredByMemberMixin, MemberSearchMixin, ReadOnlyAdmin):
    list_display = [
        "code",
        "member_col",
        "reward",
        "status",
        "points_cost",
        "issued_at",
        "valid_until",
        "used_on",
    ]
    list_filter = ["status", "source", "reward"]
    list_select_related = ["member", "reward"]
    search_fields = ["member__last_name", "member__first_name"]
    search_help_text = _("Voucher code, or the member's phone, #number or name.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    ordering = ["-id"]
    fields = [
        "code",
        "qr",
        "member",
        "reward",
        "status",
        "source",
        "points_cost",
        "issued_at",
        "valid_until",
        "used_at",
        "visit",
        "closed_at",
    ]
    readonly_fields = fields
    actions = ["cancel_vouchers", "mark_used"]

    def has_cancel_permission(self, request):
        return request.user.has_perm(CANCEL_PERMISSION)

    def get_search_results(self, request, queryset, search_term):
        code = looks_like_voucher_code(search_term)
        if code and queryset.filter(code=code).exists():
            return queryset.filter(code=code), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_col(self, voucher):
        return member_link(voucher.member)

    @admin.display(description=_("used on"), ordering="used_at")
    def used_on(self, voucher):
        if not voucher.visit_id:
            return "—"
        url = reverse("admin:members_visit_change", args=[voucher.visit_id])
        return format_html('<a href="{}">#{}</a>', url, voucher.visit_id)

    @admin.display(description=_("QR code"))
    def qr(self, voucher):
        return voucher_qr_svg(voucher.code)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        voucher = self.get_object(request, object_id)
        can_cancel = (
            voucher is not None
            and voucher.status == Voucher.Status.ACTIVE
            and self.has_cancel_permission(request)
        )
        extra_context = {
            **(extra_context or {}),
            "can_cancel": can_cancel,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(
        description=_("Mark handed over (partner gift, priority booking)"),
        permissions=["cancel"],
    )
    def mark_used(self, request, queryset):
        done, errors = 0, []
        for voucher in queryset.order_by("pk"):
            try:
                voucher_mark_used(voucher=voucher, actor=request.user)
            except ValidationError as exc:
                errors.extend(exc.messages)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                ngettext(
                    "%(count)d voucher marked used.",
                    "%(count)d vouchers marked used.",
                    done,
                )
                % {"count": done},
                messages.SUCCESS,
            )
        for error in errors:
            self.message_user(request, error, messages.ERROR)

    @admin.action(description=_("Cancel and refund points"), permissions=["cancel"])
    def cancel_vouchers(self, request, queryset):
        """Confirm first (listing the points each gives back), then cancel."""
        vouchers = list(queryset.select_related("member", "reward").order_by("pk"))
        if "apply" not in request.POST:
            return TemplateResponse(
                request,
                "admin/rewards/voucher/cancel_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Cancel vouchers and refund points"),
                    "vouchers": vouchers,
                    "refund": sum(
                        v.points_cost
                        for v in vouchers
                        if v.status == Voucher.Status.ACTIVE
                    ),
                    "action": request.POST.get("action", "cancel_vouchers"),
                    "opts": self.model._meta,
                    "action_checkbox_name": ACTION_CHECKBOX_NAME,
                },
            )
        done, refunded, errors = 0, 0, []
        for voucher in vouchers:
            if voucher.status == Voucher.Status.CANCELLED:
                continue
            try:
                voucher_cancel(voucher=voucher, actor=request.user)
            except ValidationError as exc:
                errors.extend(exc.messages)
            else:
                done += 1
                refunded += voucher.points_cost
        if done:
            self.message_user(
                request,
                ngettext(
                    "%(count)d voucher cancelled, %(points)d points refunded.",
                    "%(count)d vouchers cancelled, %(points)d points refunded.",
                    done,
                )
                % {"count": done, "points": refunded},
                messages.SUCCESS,
            )
        for error in errors:
            self.message_user(request, error, messages.ERROR)
        if not done and not errors:
            self.message_user(
                request, _("Those vouchers were already cancelled."), messages.INFO
            )
        return None
