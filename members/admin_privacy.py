"""What each role may see and change of a member's personal data in the admin.

- Phones, emails and birthdays are for those who contact clients
  (``members.view_member_contacts``: the front desk and the manager); everyone
  else (the analyst) reads phones and emails masked and no birthdays or
  preferences (allergies, a favourite master).
- *Erased* is not a status to pick: the *Erase personal data* action (with a
  confirmation page, ``members.erase_member``: managers) runs the erasure
  service, which wipes the data and revokes the member's sign-ins.
- The registration date and location are history: only those allowed to
  correct it (``members.change_member_registration``) edit them.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members import privacy
from members.admin_filters import BirthdayMonthFilter
from members.admin_text import email_masked, nowrap, phone_masked, phone_nowrap
from members.models import Member

CONTACTS = "members.view_member_contacts"
ERASE = "members.erase_member"
REGISTRATION = "members.change_member_registration"

# Fields replaced by their masked display for those who may not see contacts.
_MASKED = {
    "phone": "phone_masked",
    "email": "email_masked",
    "birthday": None,
    # Allergies, a favourite master: for those who serve the client.
    "preferences": None,
}
_REGISTRATION = ("registered_at", "registration_location")


def sees_contacts(request) -> bool:
    return request.user.has_perm(CONTACTS)


class MemberPrivacyAdminMixin:
    """Mixed into ``MemberAdmin``: masking, the registration fields, erasure."""

    # -- contacts ------------------------------------------------------------

    @admin.display(description=_("phone"), ordering="phone")
    def phone_display(self, member):
        return nowrap(phone_nowrap(member.phone))

    @admin.display(description=_("phone"))
    def phone_masked(self, member):
        return nowrap(phone_masked(member.phone, empty="—"))

    @admin.display(description=_("email"))
    def email_masked(self, member):
        return email_masked(member.email) or "—"

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        if sees_contacts(request):
            return columns
        swap = {"phone_display": "phone_masked", "email": "email_masked"}
        return [swap.get(column, column) for column in columns]

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        if sees_contacts(request):
            return filters
        return [f for f in filters if f is not BirthdayMonthFilter]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        hidden = set()
        if not sees_contacts(request):
            hidden |= set(_MASKED)
        if obj is None and not request.user.has_perm(REGISTRATION):
            hidden.add("registered_at")  # a new member registers now
        if not hidden:
            return fieldsets
        out = []
        for name, options in fieldsets:
            fields = []
            for field in options["fields"]:
                if field not in hidden:
                    fields.append(field)
                elif _MASKED.get(field):
                    fields.append(_MASKED[field])
            out.append((name, {**options, "fields": fields}))
        return out

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not sees_contacts(request):
            fields += [name for name in _MASKED.values() if name]
        if obj is not None and not request.user.has_perm(REGISTRATION):
            fields += list(_REGISTRATION)
        if obj is not None and obj.status == Member.Status.ERASED:
            fields.append("status")
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        status = form.base_fields.get("status")
        if status is not None:
            # Erasure has its own action; it is never a status to pick.
            status.choices = [
                choice for choice in status.choices if choice[0] != Member.Status.ERASED
            ]
        return form

    # -- erasure -------------------------------------------------------------

    def has_erase_permission(self, request):
        return request.user.has_perm(ERASE)

    @admin.action(description=_("Erase personal data…"), permissions=["erase"])
    def erase_personal_data(self, request, queryset):
        """Ask first (a page listing who will be erased and what that means);
        erase through ``members.privacy.member_erase`` on confirmation."""
        members = list(queryset.exclude(status=Member.Status.ERASED)[:100])
        if request.POST.get("post") == "yes":
            erased = 0
            for member in members:
                try:
                    privacy.member_erase(member=member, actor=request.user)
                except ValidationError as exc:
                    self.message_user(request, "; ".join(exc.messages), messages.ERROR)
                else:
                    erased += 1
            self.message_user(
                request,
                ngettext(
                    "Personal data of %(count)d member erased.",
                    "Personal data of %(count)d members erased.",
                    erased,
                )
                % {"count": erased},
                messages.SUCCESS,
            )
            return None
        if not members:
            self.message_user(
                request, _("The selected members are erased already."), messages.INFO
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Erase personal data?"),
            "opts": self.model._meta,
            "members": members,
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": [str(m.pk) for m in members],
            "media": self.media,
        }
        return TemplateResponse(
            request, "admin/members/member/erase_confirmation.html", context
        )
