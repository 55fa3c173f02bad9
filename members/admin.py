"""The operator's home for members, visits and the service catalogue.

Members and visits are written only through ``members.services``: the member
form hands its cleaned data to ``member_register`` / ``member_update``; visits
are recorded on the front desk's checkout page (``rewards.admin.checkout``:
*Visits → Add* leads there) and cancelled or refunded by actions, or refunded
line by line on a visit's "Refund some lines" page.
"""

import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from members import access, member_flow, selectors, services
from members.admin_exports import MEMBER_EXPORTS, MemberExportAdminMixin
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
)

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
class MemberAdmin(MemberPrivacyAdminMixin, MemberExportAdminMixin, SimpleHistoryAdmin):
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
        "joined_via",
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
        "joined_via",
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
        "favourite_specialist",
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
            {
                "fields": [
                    "registered_at",
                    "registration_location",
                    "joined_via",
                    "preferences",
                ]
            },
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
                    "favourite_specialist",
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

    actions = [
        "block_members",
        "unblock_members",
        "sign_out_everywhere",
        "erase_personal_data",
        *MEMBER_EXPORTS,
    ]

    @admin.action(description=_("Block selected members"), permissions=["change"])
    def block_members(self, request, queryset):
        self._set_status(request, queryset, Member.Status.BLOCKED)

    @admin.action(description=_("Unblock selected members"), permissions=["change"])
    def unblock_members(self, request, queryset):
        self._set_status(request, queryset, Member.Status.ACTIVE)

    @admin.action(
        description=_("Sign selected members out of the app everywhere"),
        permissions=["change"],
    )
    def sign_out_everywhere(self, request, queryset):
        revoked = sum(
            access.tokens_revoke_for_member(member=member, actor=request.user)
            for member in queryset
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d session signed out.",
                "%(count)d sessions signed out.",
                revoked,
            )
            % {"count": revoked},
            messages.SUCCESS,
        )

    def _set_status(self, request, queryset, status):
        changed = 0
        # Erased members stay erased: their personal data is gone.
        for member in queryset.exclude(status__in=[status, Member.Status.ERASED]):
            services.member_update(member=member, status=status, actor=request.user)
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

    @admin.display(description=_("favourite specialist"))
    def favourite_specialist(self, member):
        found = member.pk and selectors.member_favourite_specialist(member_id=member.pk)
        return str(found) if found else "—"

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
            # How the member joined follows from the sign-up (here: the till,
            # or a referral with a friend's code); shown once they exist.
            fieldsets = [*fieldsets]
            fields = [f for f in fieldsets[1][1]["fields"] if f != "joined_via"]
            fieldsets[1] = (fieldsets[1][0], {"fields": [*fields, "referral_code"]})
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


# Registered by import: API access, the outbox and the visits have admin
# modules of their own (the visit's names stay importable from here).
from members import admin_access, admin_messaging, admin_staff  # noqa: E402, F401
from members.admin_visits import (  # noqa: E402, F401
    BOOKING_REF_TEXTS,
    VisitAdmin,
    VisitLineInline,
    VisitPanel,
    VisitRefundInline,
)
