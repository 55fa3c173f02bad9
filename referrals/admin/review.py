"""The review queue: referrals held as suspicious, approved or rejected by a
manager through ``referral_approve`` / ``referral_reject``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from referrals import services
from referrals.admin.common import (
    REVIEW_PERMISSION,
    HoldReasonFilter,
    Status,
    hold_labels,
    reason_label,
    referrals_url,
)
from referrals.admin.records import ReferralAdminBase
from referrals.models import HeldReferral, Referral


def _referrer_count(**filters):
    """Referrals of the row's referrer matching ``filters``, as a subquery."""
    counted = (
        Referral.objects.filter(referrer_id=OuterRef("referrer_id"), **filters)
        .order_by()
        .values("referrer_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


class ReviewForm(forms.Form):
    """The manager's note on a decision; a rejection must say why."""

    note = forms.CharField(
        label=_("Note"),
        max_length=255,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        error_messages={"required": _("Say why the referral is rejected.")},
    )

    def __init__(self, *args, note_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note"].required = note_required


@admin.register(HeldReferral)
class HeldReferralAdmin(ReferralAdminBase):
    """Referrals held as suspicious, oldest first, with what a manager needs
    to decide: why, who, from where, the first visit and the referrer's record."""

    list_display = [
        "registered_when",
        "referrer_col",
        "referrer_record",
        "friend_col",
        "holds_col",
        "signup_from",
        "first_visit",
    ]
    list_display_links = ["registered_when"]
    list_filter = [HoldReasonFilter, "channel"]
    list_select_related = ["referrer", "referee", "qualifying_visit"]
    ordering = ["registered_at", "id"]
    actions = ["approve_referrals", "reject_referrals"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(status=Status.HELD)
            .annotate(
                referrer_total=_referrer_count(),
                referrer_rewarded=_referrer_count(status=Status.REWARDED),
                referrer_held=_referrer_count(status=Status.HELD),
                referrer_refused=_referrer_count(
                    status__in=[Status.REJECTED, Status.ANNULLED]
                ),
            )
        )

    def has_review_permission(self, request):
        return request.user.has_perm(REVIEW_PERMISSION)

    @admin.display(description=_("referrer's record"))
    def referrer_record(self, referral):
        return format_html(
            '<a href="{}">{}</a>',
            referrals_url(referrer=referral.referrer_id),
            _(
                "%(total)s invited · %(rewarded)s rewarded · %(held)s held · "
                "%(refused)s rejected or annulled"
            )
            % {
                "total": referral.referrer_total,
                "rewarded": referral.referrer_rewarded,
                "held": referral.referrer_held,
                "refused": referral.referrer_refused,
            },
        )

    @admin.display(description=_("signed up from"))
    def signup_from(self, referral):
        device = referral.signup_device_id
        parts = [
            format_html('<span title="{}">{}</span>', device, device[:16])
            if device
            else None,
            referral.signup_ip,
        ]
        shown = [(part,) for part in parts if part]
        return format_html_join(mark_safe("<br>"), "{}", shown) if shown else "—"

    @admin.display(description=_("first paid visit"), ordering="qualified_at")
    def first_visit(self, referral):
        return self.visit_link(referral)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        status = (
            Referral.objects.filter(pk=object_id).values_list("status", flat=True)
            if str(object_id).isdigit()
            else []
        )
        if status and status[0] != Status.HELD:
            # Decided meanwhile: the referral's own page shows what happened.
            return HttpResponseRedirect(
                reverse("admin:referrals_referral_change", args=[object_id])
            )
        extra_context = {
            **(extra_context or {}),
            "can_review": self.has_review_permission(request),
            "review_buttons": [
                ("approve_referrals", _("Approve")),
                ("reject_referrals", _("Reject")),
            ],
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Approve selected referrals"), permissions=["review"])
    def approve_referrals(self, request, queryset):
        return self._review(request, queryset, approve=True)

    @admin.action(description=_("Reject selected referrals"), permissions=["review"])
    def reject_referrals(self, request, queryset):
        return self._review(request, queryset, approve=False)

    def _review(self, request, queryset, *, approve: bool):
        """Ask for the note (required to reject), then decide one by one."""
        referrals = list(
            queryset.select_related("referrer", "referee", "qualifying_visit").order_by(
                "registered_at", "pk"
            )
        )
        for referral in referrals:
            referral.hold_labels = hold_labels(referral.hold_reasons)
        data = request.POST if "apply" in request.POST else None
        form = ReviewForm(data, note_required=not approve)
        if not form.is_bound or not form.is_valid():
            return TemplateResponse(
                request,
                "admin/referrals/heldreferral/review.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Approve referrals")
                    if approve
                    else _("Reject referrals"),
                    "approve": approve,
                    "referrals": referrals,
                    "form": form,
                    "action": request.POST.get("action", ""),
                    "opts": self.model._meta,
                    "action_checkbox_name": ACTION_CHECKBOX_NAME,
                },
            )
        service = services.referral_approve if approve else services.referral_reject
        note = form.cleaned_data["note"]
        done, after_approval, errors = 0, [], []
        for referral in referrals:
            try:
                result = service(referral=referral, actor=request.user, note=note)
            except ValidationError as exc:
                errors.append(f"{referral}: {' '.join(exc.messages)}")
                continue
            done += 1
            if approve and result.status == Status.REJECTED:
                # Approved, then refused on payout (the cap, the program off).
                after_approval.append(result)
        self._report(request, done, approve=approve)
        for result in after_approval:
            self.message_user(
                request,
                _("%(referral)s was approved but not rewarded: %(reason)s.")
                % {"referral": result, "reason": reason_label(result.reason)},
                messages.WARNING,
            )
        for error in errors:
            self.message_user(request, error, messages.ERROR)
        gone = _selected_count(request) - len(referrals)
        if gone > 0:
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected referral is no longer held for review.",
                    "%(count)d selected referrals are no longer held for review.",
                    gone,
                )
                % {"count": gone},
                messages.WARNING,
            )
        return None

    def _report(self, request, done: int, *, approve: bool) -> None:
        if not done:
            return
        text = (
            ngettext(
                "%(count)d referral approved.", "%(count)d referrals approved.", done
            )
            if approve
            else ngettext(
                "%(count)d referral rejected.", "%(count)d referrals rejected.", done
            )
        )
        self.message_user(request, text % {"count": done}, messages.SUCCESS)


def _selected_count(request) -> int:
    if request.POST.get("select_across") == "1":
        return 0  # "all of them": nothing to compare with
    return len(set(request.POST.getlist(ACTION_CHECKBOX_NAME)))
