"""Staff sign-in: the page a locked-out login gets (django-axes counts the
failures; settings ``AXES_*``, ``STAFF_LOGIN_*``), and the optional second
factor (django-otp, TOTP).

A staff user who has an authenticator (a confirmed TOTP device: the admin's
*TOTP devices*, or ``manage.py staff_totp_add``) signs in with its 6-digit
code as well as the password, and the admin lets their session in only once
the code was checked. With ``STAFF_2FA_REQUIRED_FOR_SUPERUSERS`` a superuser
without one cannot sign in at all. Wrong codes slow the device down
(django-otp's throttling).
"""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.db.models import F
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django_otp import user_has_device
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_totp.models import TOTPDevice

SESSION_KEY = "staff_second_factor"


def second_factor_needed(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user_has_device(user, confirmed=True):
        return True
    return bool(user.is_superuser and settings.STAFF_2FA_REQUIRED_FOR_SUPERUSERS)


def remember_second_factor(sender, request, user, **kwargs) -> None:
    """At sign-in, whether this user needs a second factor (kept in the
    session, so the admin's pages do not ask the database each time)."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = second_factor_needed(user)


class StaffLoginForm(AdminAuthenticationForm, OTPAuthenticationFormMixin):
    otp_token = forms.CharField(
        label=_("Authenticator code"),
        required=False,
        help_text=_("Only if you have set up an authenticator app."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}
        ),
    )
    otp_device = forms.CharField(required=False, widget=forms.HiddenInput)
    otp_challenge = forms.CharField(required=False, widget=forms.HiddenInput)

    otp_error_messages = dict(
        OTPAuthenticationFormMixin.otp_error_messages,
        token_required=_("Enter the code your authenticator app shows."),
        invalid_token=_(
            "That code is not right: enter the one your authenticator app shows now."
        ),
        n_failed_attempts=_(
            "Too many wrong codes: wait a moment (%(failure_count)d in a row)."
        ),
        verification_not_allowed=_("Wait a moment before the next code."),
    )

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is not None and second_factor_needed(user):
            if not user_has_device(user, confirmed=True):
                raise forms.ValidationError(
                    _(
                        "A superuser signs in with an authenticator code: "
                        "set one up first (manage.py staff_totp_add %(user)s)."
                    )
                    % {"user": user.get_username()},
                    code="second_factor_missing",
                )
            if not self.cleaned_data.get("otp_device"):
                # The code is checked against the authenticator last used
                # (staff have TOTP devices only, usually one).
                device = (
                    TOTPDevice.objects.devices_for_user(user, confirmed=True)
                    .order_by(F("last_used_at").desc(nulls_last=True), "id")
                    .first()
                )
                self.cleaned_data["otp_device"] = device.persistent_id
            self.clean_otp(user)
        return cleaned


class StaffAdminSite(admin.AdminSite):
    """The admin, letting in a user who needs a second factor only once it
    was checked for this session."""

    login_form = StaffLoginForm
    login_template = "admin/login_otp.html"

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        user = request.user
        # Whether this user needs a second factor is known from the sign-in
        # (``remember_second_factor``), not asked on every page: an
        # authenticator added later is asked for at the next sign-in.
        needed = request.session.get(SESSION_KEY)
        if needed is None:
            needed = second_factor_needed(user)
            request.session[SESSION_KEY] = needed
        return not needed or user.is_verified()


def lockout_response(request, original_response=None, credentials=None):
    """429 with a page that says why and for how long, in the user's language."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes}
    return render(request, "admin/locked_out.html", context, status=429)
