"""Admin for API access: POS keys, member tokens, sign-in locks and codes.

Credentials are written only by ``members.access``: a key is issued by
``api_key_issue`` (its secret is shown once, on the page after saving, and
never stored), keys and tokens are revoked by actions, never edited or
deleted. A sign-in code's hash is never shown.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from members import access
from members.admin_text import printable
from members.models import ApiKey, Location, MemberToken, OtpChallenge, OtpGuard
from members.services import phone_normalize

READ_ONLY_PAGE = {
    "show_save": False,
    "show_save_and_continue": False,
    "show_save_and_add_another": False,
    "show_delete": False,
}


class RevokedFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", _("Active")), ("revoked", _("Revoked"))]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class LockedFilter(admin.SimpleListFilter):
    title = _("locked")
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return [("yes", _("Locked now")), ("no", _("Not locked"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(locked_until__gt=now)
        if self.value() == "no":
            return queryset.exclude(locked_until__gt=now)
        return queryset


def _phone_search(queryset, term: str, field: str):
    """A phone typed any way: a whole number exactly, a run of digits inside.

    Returns None when ``term`` is not a phone (search the other fields).
    """
    term = printable(term)
    try:
        return queryset.filter(**{field: phone_normalize(term)})
    except ValidationError:
        pass
    digits = re.sub(r"[\s()+-]", "", term)
    if digits.isdigit() and len(digits) >= 3:
        return queryset.filter(**{f"{field}__contains": digits})
    return None


class ReadOnlyPageMixin:
    """A change page that shows a row and offers no save: actions change it."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **READ_ONLY_PAGE}
        )

    def has_delete_permission(self, request, obj=None):
        # Credentials are revoked, never deleted: the rows are the audit trail.
        return False


# --- POS API keys ---------------------------------------------------------------


class ApiKeyAddForm(forms.ModelForm):
    """A new key asks only where it acts and what uses it."""

    class Meta:
        model = ApiKey
        fields = ["location", "name"]
        help_texts = {"name": _('What uses the key, e.g. "Front desk till".')}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A closed location's keys do not work.
        self.fields["location"].queryset = Location.objects.filter(is_active=True)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyPageMixin, SimpleHistoryAdmin):
    list_display = [
        "location",
        "name",
        "prefix_display",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [RevokedFilter, "location"]
    list_select_related = ["location"]
    search_fields = ["name", "prefix", "location__name", "location__code"]
    ordering = ["location__name", "-created_at"]
    actions = ["revoke_keys"]
    detail_fields = [
        "location",
        "name",
        "prefix_display",
        "key_hash",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["location", "name"] if obj is None else self.detail_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.detail_fields

    @admin.display(description=_("prefix"), ordering="prefix")
    def prefix_display(self, key):
        return f"{key.prefix}…"

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing on a key is edited: it is revoked and reissued
        key, raw = access.api_key_issue(
            location=form.cleaned_data["location"],
            name=form.cleaned_data["name"],
            actor=request.user,
        )
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        # Only in memory, for the page after saving: the key is shown once.
        obj.raw_key = raw

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(obj, "raw_key", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        response = TemplateResponse(
            request,
            "admin/members/apikey/issued.html",
            {
                **self.admin_site.each_context(request),
                "title": _("New POS API key"),
                "opts": self.model._meta,
                "key": obj,
                "raw_key": raw,
            },
        )
        add_never_cache_headers(response)  # no copy of the key in any cache
        return response

    @admin.action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke_keys(self, request, queryset):
        done = 0
        for key in queryset.filter(revoked_at__isnull=True):
            access.api_key_revoke(key=key, actor=request.user)
            done += 1
        self.message_user(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", done)
            % {"count": done},
            messages.SUCCESS,
        )


# --- Member tokens --------------------------------------------------------------


@admin.register(MemberToken)
class MemberTokenAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
    list_display = [
        "member",
        "prefix_display",
        "device",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [RevokedFilter]
    list_select_related = ["member"]
    search_fields = ["member__first_name", "member__last_name", "prefix", "device"]
    search_help_text = _("The member's phone (any format) or name, or the device.")
    ordering = ["-created_at"]
    actions = ["revoke_tokens"]
    fields = [
        "member",
        "prefix_display",
        "device",
        "created_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # tokens come from phone sign-in only

    @admin.display(description=_("prefix"), ordering="prefix")
    def prefix_display(self, token):
        return f"{token.prefix}…"

    def get_search_results(self, request, queryset, search_term):
        found = _phone_search(queryset, search_term, "member__phone")
        if found is not None:
            return found, False
        return super().get_search_results(request, queryset, search_term)

    @admin.action(description=_("Revoke selected tokens"), permissions=["change"])
    def revoke_tokens(self, request, queryset):
        done = 0
        for token in queryset.filter(revoked_at__isnull=True):
            access.token_revoke(token=token, actor=request.user)
            done += 1
        self.message_user(
            request,
            ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", done)
            % {"count": done},
            messages.SUCCESS,
        )


# --- Sign-in locks and codes ----------------------------------------------------


@admin.register(OtpGuard)
class OtpGuardAdmin(ReadOnlyPageMixin, admin.ModelAdmin):
    list_display = ["phone", "failures", "locked_until", "updated_at"]
    list_filter = [LockedFilter]
    search_fields = ["phone"]
    ordering = ["-updated_at"]
    actions = ["unlock"]
    fields = ["phone", "failures", "locked_until", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def get_search_results(self, request, queryset, search_term):
        found = _phone_search(queryset, search_term, "phone")
        if found is not None:
            return found, False
        return super().get_search_results(request, queryset, search_term)

    @admin.action(description=_("Unlock selected phones"), permissions=["change"])
    def unlock(self, request, queryset):
        done = 0
        for guard in queryset:
            access.otp_guard_unlock(guard=guard, actor=request.user)
            done += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d phone may sign in again.",
                "%(count)d phones may sign in again.",
                done,
            )
            % {"count": done},
            messages.SUCCESS,
        )


@admin.register(OtpChallenge)
class OtpChallengeAdmin(admin.ModelAdmin):
    """Sign-in codes sent, for support ("I never got the code"). Never the code."""

    list_display = ["phone", "created_at", "expires_at", "attempts", "used_at", "ip"]
    search_fields = ["phone", "ip"]
    ordering = ["-created_at"]
    fields = ["phone", "created_at", "expires_at", "attempts", "used_at", "ip"]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        found = _phone_search(queryset, search_term, "phone")
        if found is not None:
            return found, False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
