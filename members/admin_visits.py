"""The visit's admin pages: the visit (lines, partial refunds, the panels other
apps add), the visit list, cancel and refund actions, and the "Refund some
lines" page. Visits are recorded at the checkout (*Visits → Add* leads there).
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members import services
from members.admin import LargeTablePaginator, checkout_url
from members.admin_exports import VISIT_EXPORTS, VisitExportAdminMixin
from members.admin_filters import VisitClientFilter, VisitSpecialistFilter
from members.models import (
    Visit,
    VisitLine,
    VisitRefund,
)
from members.money import money_text

# A visit without a member: a sale the POS recorded for revenue only.
ANONYMOUS = _("Anonymous")


class VisitLineInline(admin.TabularInline):
    model = VisitLine
    fields = [
        "service",
        "specialist",
        "unit_price",
        "price_change",
        "quantity",
        "refunded_quantity",
        "amount",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Part of the visit: whoever may see the visit sees its lines (no role
        # is granted ``view_visitline`` of its own).
        return request.user.has_perm("members.view_visit")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("service", "specialist")

    @admin.display(description=_("price"))
    def unit_price(self, line):
        return money_text(line.price)

    @admin.display(description=_("service's price"))
    def price_change(self, line):
        """The list price and the reason, where the line was charged another price."""
        if line.list_price is None or line.list_price == line.price:
            return "—"
        if not line.price_reason:
            return money_text(line.list_price)
        return format_html(
            '{} <span class="help">{}</span>',
            money_text(line.list_price),
            line.price_reason,
        )

    @admin.display(description=_("amount"))
    def amount(self, line):
        return money_text(line.amount)


class VisitRefundInline(admin.TabularInline):
    """The visit's partial refunds, read-only: they are made on their own page."""

    model = VisitRefund
    fields = ["created_at", "refund_amount", "refunded_lines", "reason", "created_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("partial refunds")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("members.view_visit")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # {visit id: {line id: service name}}: one query for the names, not one
        # per refund. An inline is made anew for each request: never stale.
        self._line_names: dict[int, dict[int, str]] = {}

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")

    @admin.display(description=_("money refunded"))
    def refund_amount(self, refund):
        return money_text(refund.amount)

    @admin.display(description=_("lines"))
    def refunded_lines(self, refund):
        if refund.visit_id not in self._line_names:
            self._line_names[refund.visit_id] = dict(
                VisitLine.objects.filter(visit_id=refund.visit_id).values_list(
                    "pk", "service__name"
                )
            )
        line_names = self._line_names[refund.visit_id]
        return format_html_join(
            mark_safe("<br>"),
            "{} × {} ({})",
            (
                (
                    line_names.get(item["line"], f"#{item['line']}"),
                    item["quantity"],
                    money_text(Decimal(item.get("amount") or 0)),
                )
                for item in refund.lines
            ),
        )


class RefundLinesForm(forms.Form):
    """How many units of each line to refund, and why.

    ``key`` is drawn when the page is shown: submitting the same page twice
    (a double click, a resent form) refunds once.
    """

    key = forms.CharField(widget=forms.HiddenInput, max_length=100)
    reason = forms.CharField(label=_("Reason"), max_length=255)

    def __init__(
        self, *args, lines: list[VisitLine], unit_amounts: dict[int, Decimal], **kwargs
    ):
        """``unit_amounts``: {line id: money one unit returns} (``refund_unit_amounts``)."""
        super().__init__(*args, **kwargs)
        self.lines = [ln for ln in lines if ln.refunded_quantity < ln.quantity]
        for line in self.lines:
            left = line.quantity - line.refunded_quantity
            self.fields[f"line_{line.pk}"] = forms.IntegerField(
                label=f"{line.service.name} × {line.quantity}",
                min_value=0,
                max_value=left,
                initial=0,
                # What comes back, not the price: the unit's share of the money
                # paid after discounts and points.
                help_text=_("%(left)s of %(quantity)s left; %(amount)s back per unit")
                % {
                    "left": left,
                    "quantity": line.quantity,
                    "amount": money_text(unit_amounts[line.pk]),
                },
            )

    def line_fields(self):
        return [self[f"line_{line.pk}"] for line in self.lines]

    def clean(self):
        data = super().clean()
        chosen = [
            (line, data[f"line_{line.pk}"])
            for line in self.lines
            if data.get(f"line_{line.pk}")
        ]
        if not chosen and not self.errors:
            raise forms.ValidationError(_("Choose at least one unit to refund."))
        data["chosen"] = chosen
        return data


# What a visit's external id is, by the source that sent it (the checkout's is
# a form token and is not shown: ``VisitAdmin.booking_ref``).
BOOKING_REF_TEXTS = {
    Visit.Source.POS: _("Booking id in the POS:"),
    Visit.Source.IMPORT: _("Id in the imported data:"),
    Visit.Source.DEMO: _("Id in the demo data:"),
}


@dataclass(frozen=True)
class VisitPanel:
    """A section of the visit page: a template and what it shows.

    Apps above members add theirs through ``VisitAdmin.visit_panels``
    (members knows nothing of rewards or referrals); the page includes each
    template with ``panel`` set to ``context``.
    """

    template: str
    context: dict


@admin.register(Visit)
class VisitAdmin(VisitExportAdminMixin, admin.ModelAdmin):
    # The source and the booking id in one column, said as what they are (the
    # checkout's token means nothing to people); money as money.
    list_display = [
        "id",
        "paid_at",
        "member_link",
        "location",
        "total_col",
        "paid_col",
        "payment_method",
        "status",
        "booking_col",
    ]
    list_filter = [
        "status",
        "source",
        "payment_method",
        VisitClientFilter,
        "location",
        VisitSpecialistFilter,
        "paid_at",
    ]
    list_select_related = ["member", "location"]
    search_fields = ["=id", "external_id", "member__phone", "member__last_name"]
    search_help_text = _("Visit number, external id, member phone or last name.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    ordering = ["-paid_at"]
    readonly_fields = [
        "member_link",
        "location",
        "status",
        "source",
        "booking_ref",
        "total_col",
        "paid_col",
        "payment_method",
        "paid_at",
        "note",
        "recorded_by",
        "created_at",
        "status_changed_at",
        "status_changed_by",
        "status_reason",
        "refunded_col",
    ]
    # Shown as ``booking_ref``, which says what the id is for the visit's source.
    # The member as a link, or "Anonymous": ``member_link``.
    exclude = ["member", "external_id", "total", "amount_paid", "amount_refunded"]
    inlines = [VisitLineInline, VisitRefundInline]
    actions = ["cancel_visits", "refund_visits", *VISIT_EXPORTS]

    def has_change_permission(self, request, obj=None):
        return False  # a visit's content is history; its status moves by actions

    def has_delete_permission(self, request, obj=None):
        return False

    def has_cancel_permission(self, request):
        return request.user.has_perm("members.cancel_visit")

    def has_refund_permission(self, request):
        return request.user.has_perm("members.refund_visit")

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_link(self, visit):
        if visit.member_id is None:
            return format_html("<em>{}</em>", ANONYMOUS)
        url = reverse("admin:members_member_change", args=[visit.member_id])
        return format_html('<a href="{}">{}</a>', url, visit.member.full_name)

    @admin.display(description=_("total"), ordering="total")
    def total_col(self, visit):
        return money_text(visit.total)

    @admin.display(description=_("paid in money"), ordering="amount_paid")
    def paid_col(self, visit):
        return money_text(visit.amount_paid)

    @admin.display(description=_("refunded in money"))
    def refunded_col(self, visit):
        return money_text(visit.amount_refunded)

    @admin.display(description=_("source"), ordering="source")
    def booking_col(self, visit):
        """Where the visit came from, and its id there when it has one."""
        if visit.source == Visit.Source.ADMIN or not visit.external_id:
            return visit.get_source_display()
        return format_html(
            '{}<br><code style="white-space:nowrap">{}</code>',
            visit.get_source_display(),
            visit.external_id[:40],
        )

    @admin.display(description=_("booking"))
    def booking_ref(self, visit):
        """The external id, said as what it is for the visit's source."""
        if visit.source == Visit.Source.ADMIN:
            # The checkout form's one-use token: it means nothing to people.
            return _("Recorded at the checkout")
        if not visit.external_id:
            return "—"
        text = BOOKING_REF_TEXTS.get(visit.source)
        if text is None:
            return visit.external_id
        return format_html("{} <code>{}</code>", text, visit.external_id)

    @admin.action(description=_("Cancel selected visits"), permissions=["cancel"])
    def cancel_visits(self, request, queryset):
        return self._status_action(
            request, queryset, services.visit_cancel, _("Cancel visits")
        )

    @admin.action(description=_("Refund selected visits"), permissions=["refund"])
    def refund_visits(self, request, queryset):
        return self._status_action(
            request, queryset, services.visit_refund, _("Refund visits")
        )

    def get_urls(self):
        return [
            path(
                "<int:visit_id>/refund-lines/",
                self.admin_site.admin_view(self.refund_lines_view),
                name="members_visit_refund_lines",
            ),
            *super().get_urls(),
        ]

    def get_object(self, request, object_id, from_field=None):
        # The page names the member, the location and the staff who recorded
        # or changed the visit: read them with it.
        queryset = self.get_queryset(request).select_related(
            "member", "location", "recorded_by", "status_changed_by"
        )
        try:
            return queryset.get(pk=int(object_id))
        except (ValueError, Visit.DoesNotExist):
            return None

    def visit_panels(self, request, visit: Visit) -> list[VisitPanel]:
        """The sections apps above members add to the visit page, in order.

        None here: the rewards app's subclass adds the benefits, points and
        vouchers, the referrals app's the referral the visit qualified. Each
        calls ``super()`` and adds its own, so the order is the apps' order.
        """
        return []

    def render_change_form(
        self, request, context, add=False, change=False, form_url="", obj=None
    ):
        if obj is not None:
            context["visit_panels"] = self.visit_panels(request, obj)
            if self.has_refund_permission(request):
                context["refund_lines_url"] = (
                    reverse("admin:members_visit_refund_lines", args=[obj.pk])
                    if obj.status == Visit.Status.PAID
                    else None
                )
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )

    def refund_lines_view(self, request, visit_id: int):
        """Refund some units of some lines (``visit_refund_partial``)."""
        if not self.has_refund_permission(request):
            raise PermissionDenied
        visit = get_object_or_404(
            Visit.objects.select_related("member", "location"), pk=visit_id
        )
        change_url = reverse("admin:members_visit_change", args=[visit.pk])
        if visit.status != Visit.Status.PAID:
            self.message_user(
                request,
                _("Visit #%(id)s is not paid (status: %(status)s).")
                % {"id": visit.pk, "status": visit.get_status_display()},
                messages.ERROR,
            )
            return HttpResponseRedirect(change_url)
        lines = list(visit.lines.select_related("service").order_by("pk"))
        unit_amounts = services.refund_unit_amounts(visit=visit, lines=lines)
        if request.method == "POST":
            form = RefundLinesForm(request.POST, lines=lines, unit_amounts=unit_amounts)
            if form.is_valid():
                try:
                    refund = services.visit_refund_partial(
                        visit=visit,
                        lines=form.cleaned_data["chosen"],
                        key=f"admin:{form.cleaned_data['key']}",
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                    )
                except ValidationError as exc:
                    if "refund_key_conflict" in _codes(exc):
                        form.add_error(
                            None,
                            _(
                                "This page was already sent with other lines: "
                                "open it again to make another refund."
                            ),
                        )
                    else:
                        _add_service_errors(form, exc)
                else:
                    self.message_user(
                        request,
                        _("%(amount)s refunded on visit #%(id)s.")
                        % {"amount": refund.amount, "id": visit.pk},
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(change_url)
        else:
            form = RefundLinesForm(
                initial={"key": uuid.uuid4().hex},
                lines=lines,
                unit_amounts=unit_amounts,
            )
        if not form.lines:
            raise Http404
        context = {
            **self.admin_site.each_context(request),
            "title": _("Refund some lines of visit #%(id)s") % {"id": visit.pk},
            "visit": visit,
            "paid": money_text(visit.amount_paid),
            "refunded": money_text(visit.amount_refunded),
            "form": form,
            "change_url": change_url,
            "opts": self.model._meta,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(
            request, "admin/members/visit/refund_lines.html", context
        )

    def _status_action(self, request, queryset, service, title):
        """Ask for a reason, then call the service once per selected visit."""
        reason = request.POST.get("reason", "").strip()
        if "apply" not in request.POST or not reason:
            if "apply" in request.POST:
                self.message_user(request, _("Please give a reason."), messages.ERROR)
            return TemplateResponse(
                request,
                "admin/members/visit/status_action.html",
                {
                    **self.admin_site.each_context(request),
                    "title": title,
                    "visits": queryset.select_related("member", "location"),
                    "action": request.POST["action"],
                    "opts": self.model._meta,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        done, errors = 0, []
        for visit in queryset:
            try:
                service(visit=visit, reason=reason, actor=request.user)
                done += 1
            except ValidationError as exc:
                errors.extend(exc.messages)
        if done:
            self.message_user(
                request,
                ngettext("%(count)d visit updated.", "%(count)d visits updated.", done)
                % {"count": done},
                messages.SUCCESS,
            )
        for error in errors:
            self.message_user(request, error, messages.ERROR)
        return None

    def add_view(self, request, form_url="", extra_context=None):
        """*Visits → Add* leads to the checkout page, which records visits priced.

        Nothing is recorded here, whatever the method: a POST is answered with
        the same redirect. ``?member=`` is passed on, so a link to a member's
        new visit opens the checkout on that member.
        """
        if not self.has_add_permission(request):
            raise PermissionDenied
        member_id = request.GET.get("member", "")
        return HttpResponseRedirect(
            checkout_url(member_id if member_id.isdigit() else None)
        )

    def changelist_view(self, request, extra_context=None):
        # The list's add button goes straight to the checkout, labelled as such
        # (templates/admin/members/visit/change_list.html).
        extra_context = {**(extra_context or {}), "checkout_url": checkout_url()}
        return super().changelist_view(request, extra_context)


def _codes(exc: ValidationError) -> set[str]:
    if hasattr(exc, "error_dict"):
        return {e.code for errors in exc.error_dict.values() for e in errors}
    return {e.code for e in exc.error_list}


def _add_service_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
