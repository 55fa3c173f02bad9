"""The operator's home for members, visits and the service catalogue.

Members and visits are written only through ``members.services``: the member
form hands its cleaned data to ``member_register`` / ``member_update``; visits
are recorded on the front desk's checkout page (``rewards.admin.checkout``:
*Visits → Add* leads there) and cancelled or refunded by actions, or refunded
line by line on a visit's "Refund some lines" page.
"""

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members import member_flow, services
from members.admin_filters import BirthdayMonthFilter, LastVisitFilter
from members.admin_helpers import phone_of
from members.admin_privacy import MemberPrivacyAdminMixin
from members.admin_text import printable
from members.cards import card_code_of
from members.models import (
    Location,
    Member,
    Service,
    ServiceCategory,
    Visit,
    VisitLine,
    VisitRefund,
)
from members.money import money_text

# The one way to record a visit in the admin is the front desk's checkout page
# (rewards.admin.checkout): it prices the visit (tier discounts, vouchers,
# points) before recording it. Members must not import rewards, so the page is
# found by its URL name; it asks the same permission as adding a visit here
# (members.add_visit).
CHECKOUT_URL_NAME = "admin:rewards_checkout"
# On the member add form: opened from the checkout ("Register a new member"),
# so saving goes back there with the new member. A flag, never a URL: the
# redirect is always the checkout's, so it cannot be pointed elsewhere.
CHECKOUT_FROM_VAR = "_checkout"


def checkout_url(member_id: int | str | None = None) -> str:
    """The checkout page, opened on a member when one is given."""
    url = reverse(CHECKOUT_URL_NAME)
    return f"{url}?{urlencode({'member': member_id})}" if member_id else url


class MemberAddForm(forms.ModelForm):
    """The admin's enrolment form: the fields of a member plus a friend's code."""

    referral_code = forms.CharField(
        label=_("referral code"),
        max_length=32,
        required=False,
        help_text=_("The code of the friend who sent the client, if any."),
    )

    def clean_referral_code(self):
        code = self.cleaned_data["referral_code"].strip()
        if code:
            try:
                member_flow.referral_code_check(code)
            except ValidationError as exc:
                # The check names its field ({"referral_code": …}); a field's
                # own clean method must raise the bare errors, or Django fails.
                errors = getattr(exc, "error_dict", {}).get("referral_code", exc)
                raise ValidationError(errors) from None
        return code


class LargeTablePaginator(Paginator):
    """Counts an unfiltered list from PostgreSQL's statistics, not COUNT(*).

    Counting five million visits takes longer than rendering the page; on an
    unfiltered list the planner's estimate is close enough to number pages.
    Filtered lists, small tables and SQLite are counted exactly.
    """

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self):
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > self.ESTIMATE_ABOVE:
                return row[0]
        return super().count


admin.site.site_header = _("Regulars administration")
admin.site.site_title = _("Regulars")
admin.site.index_title = _("Loyalty program")
# No app list down the left of every page: at 1440 px it took a quarter of the
# width, and the lists' important columns (a message's status, a member's last
# visit) fell off the right edge. The breadcrumbs and the home page navigate.
admin.site.enable_nav_sidebar = False


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "address", "phone", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "code", "address"]
    prepopulated_fields = {"code": ["name"]}


class ServiceInline(admin.TabularInline):
    model = Service
    fields = ["name", "base_price", "duration_minutes", "is_premium", "is_active"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ServiceCategory)
class ServiceCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "sort_order"]
    list_editable = ["sort_order"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}
    inlines = [ServiceInline]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "category",
        "base_price",
        "duration_minutes",
        "is_premium",
        "excluded_from_discounts",
        "is_active",
    ]
    list_filter = ["category", "is_premium", "excluded_from_discounts", "is_active"]
    list_select_related = ["category"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}
    autocomplete_fields = ["category"]


class VisitInline(admin.TabularInline):
    """The member's visit history, newest first, read-only."""

    model = Visit
    fields = [
        "paid_at",
        "location",
        "services",
        "total",
        "amount_paid",
        "status",
        "source",
    ]
    readonly_fields = fields
    ordering = ["-paid_at"]
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("visit history")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("location")
            .prefetch_related("lines__service")
        )

    @admin.display(description=_("services"))
    def services(self, visit):
        return ", ".join(
            f"{line.service.name} × {line.quantity}"
            if line.quantity > 1
            else line.service.name
            for line in visit.lines.all()
        )


@admin.register(Member)
class MemberAdmin(MemberPrivacyAdminMixin, admin.ModelAdmin):
    list_display = [
        "full_name",
        "phone_display",
        "email",
        "visits_count",
        "total_spent",
        "last_visit_at",
        "registration_location",
        "status",
    ]
    list_filter = [
        "status",
        "registration_location",
        LastVisitFilter,
        BirthdayMonthFilter,
        "consent_sms",
        "consent_email",
        "consent_push",
    ]
    list_select_related = ["registration_location"]
    search_fields = ["first_name", "last_name", "email"]
    search_help_text = _("Phone (any format), name or email.")
    show_full_result_count = False  # a COUNT(*) over a million members on every page
    paginator = LargeTablePaginator
    ordering = ["-registered_at"]
    autocomplete_fields = ["registration_location"]
    readonly_fields = [
        "visits_count",
        "total_spent",
        "first_visit_at",
        "last_visit_at",
        "consent_sms_at",
        "consent_email_at",
        "consent_push_at",
        "created_at",
        "updated_at",
        "record_visit_link",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "phone",
                    "first_name",
                    "last_name",
                    "email",
                    "birthday",
                    "status",
                ]
            },
        ),
        (
            _("Enrolment"),
            {"fields": ["registered_at", "registration_location", "preferences"]},
        ),
        (
            _("Marketing consents"),
            {
                "fields": [
                    ("consent_sms", "consent_sms_at"),
                    ("consent_email", "consent_email_at"),
                    ("consent_push", "consent_push_at"),
                ]
            },
        ),
        (
            _("Visit stats"),
            {
                "fields": [
                    ("visits_count", "total_spent"),
                    ("first_visit_at", "last_visit_at"),
                    "record_visit_link",
                ]
            },
        ),
        (
            _("Record"),
            {"classes": ["collapse"], "fields": ["created_at", "updated_at"]},
        ),
    ]
    inlines = [VisitInline]

    actions = ["block_members", "unblock_members", "erase_personal_data"]

    @admin.action(description=_("Block selected members"), permissions=["change"])
    def block_members(self, request, queryset):
        self._set_status(request, queryset, Member.Status.BLOCKED)

    @admin.action(description=_("Unblock selected members"), permissions=["change"])
    def unblock_members(self, request, queryset):
        self._set_status(request, queryset, Member.Status.ACTIVE)

    def _set_status(self, request, queryset, status):
        changed = 0
        # Erased members stay erased: their personal data is gone.
        for member in queryset.exclude(status__in=[status, Member.Status.ERASED]):
            services.member_update(member=member, status=status)
            changed += 1
        self.message_user(
            request,
            ngettext("%(count)d member updated.", "%(count)d members updated.", changed)
            % {"count": changed},
            messages.SUCCESS,
        )

    def has_delete_permission(self, request, obj=None):
        # Members are blocked or erased, never deleted: their visits and points
        # history must survive (and visits protect them in the database too).
        return False

    @admin.display(description=_("name"), ordering="last_name")
    def full_name(self, member):
        return member.full_name

    @admin.display(description=_("checkout"))
    def record_visit_link(self, member):
        if member.pk is None:
            return "—"
        return format_html(
            '<a class="button" href="{}">{}</a>',
            checkout_url(member.pk),
            _("Record a visit"),
        )

    def get_search_results(self, request, queryset, search_term):
        """Find members the way a front desk types.

        The card code the app shows (any case, dashes or spaces) is an exact
        match; a whole phone number in any format ("8 916 123-45-67") too; a
        run of digits ("4567") matches inside phone numbers; anything else
        searches names and email (trigram-indexed on PostgreSQL).
        """
        term = search_term = printable(search_term)
        if not term:
            return queryset, False
        # The card code the app shows (typed or scanned) first: a code of
        # digits only is a member's card, not a phone or part of one.
        code = card_code_of(term)
        if code and queryset.filter(card_code=code).exists():
            return queryset.filter(card_code=code), False
        try:
            phone = services.phone_normalize(term)
        except ValidationError:
            phone = None
        if phone:
            return queryset.filter(phone=phone), False
        digits = re.sub(r"[\s()+-]", "", term)
        if digits.isdigit() and len(digits) >= 3:
            return queryset.filter(phone__contains=digits), False
        return super().get_search_results(request, queryset, search_term)

    def get_changeform_initial_data(self, request):
        """The add form prefilled from the query (``?phone=…``, as the
        checkout's "Register a new member" sends what the desk typed): a phone
        in any format is shown normalised, anything else is dropped."""
        initial = super().get_changeform_initial_data(request)
        initial.pop(CHECKOUT_FROM_VAR, None)
        if "phone" in initial:
            phone = phone_of(printable(str(initial["phone"])))
            if phone:
                initial["phone"] = phone
            else:
                del initial["phone"]
        return initial

    def response_add(self, request, obj, post_url_continue=None):
        """Back to the checkout with the new member, when the form was opened
        from there and saved with "Save" (the other buttons keep their way)."""
        if (
            request.GET.get(CHECKOUT_FROM_VAR) == "1"
            and not {"_continue", "_addanother", "_saveasnew", IS_POPUP_VAR}
            & set(request.POST)
            and request.user.has_perm("members.add_visit")  # the checkout's
        ):
            self.message_user(
                request,
                _("%(name)s is registered: add the services of the visit.")
                % {"name": obj.full_name},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(checkout_url(obj.pk))
        return super().response_add(request, obj, post_url_continue)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            fieldsets = [*fieldsets]
            fieldsets[1] = (
                fieldsets[1][0],
                {"fields": [*fieldsets[1][1]["fields"], "referral_code"]},
            )
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MemberAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and "first_name" in form.base_fields:
            # Members who sign up in the app may have no name yet; the front
            # desk registering a client asks for one.
            form.base_fields["first_name"].required = True
        return form

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        consents = {
            name.removeprefix("consent_"): data.pop(name)
            for name in list(data)
            if name.startswith("consent_")
        }
        if change:
            if consents:
                data["consents"] = consents
            saved = services.member_update(member=obj, **data)
        else:
            data.pop("status", None)
            data.pop("referral_code", None)
            saved = services.member_register(
                phone=form.cleaned_data["phone"],
                first_name=form.cleaned_data["first_name"],
                referral_code=form.cleaned_data.get("referral_code", ""),
                channel=member_flow.Channel.ADMIN,
                actor=request.user,
                **{k: v for k, v in data.items() if k not in ("phone", "first_name")},
                consents={
                    channel: form.cleaned_data[f"consent_{channel}"]
                    for channel in services.CONSENT_CHANNELS
                },
            )
        obj.pk = saved.pk
        obj.refresh_from_db()


class VisitLineInline(admin.TabularInline):
    model = VisitLine
    fields = [
        "service",
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
        return super().get_queryset(request).select_related("service")

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
class VisitAdmin(admin.ModelAdmin):
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
    list_filter = ["status", "source", "payment_method", "location", "paid_at"]
    list_select_related = ["member", "location"]
    search_fields = ["=id", "external_id", "member__phone", "member__last_name"]
    search_help_text = _("Visit number, external id, member phone or last name.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    ordering = ["-paid_at"]
    readonly_fields = [
        "member",
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
    exclude = ["external_id", "total", "amount_paid", "amount_refunded"]
    inlines = [VisitLineInline, VisitRefundInline]
    actions = ["cancel_visits", "refund_visits"]

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


# Registered by import: API access and the outbox have admin modules of their own.
from members import admin_access, admin_messaging  # noqa: E402, F401
