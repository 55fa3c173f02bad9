"""Forms of the rewards staff pages: checkout, points adjustment, tier override.

Forms validate and shape input; the services decide. A service's
``ValidationError`` is put back on the form by ``errors_to_form`` so the page
shows it beside the field it is about, never as a server error.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.admin.widgets import AdminDateWidget, get_select2_language
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Location, Member, Service, Specialist, Visit
from members.money import money_text
from members.services import MAX_LINE_QUANTITY, VisitLineInput
from rewards.benefits import benefit_inputs
from rewards.models import Tier
from rewards.services.points import MAX_ADJUSTMENT
from rewards.services.vouchers import voucher_code_normalize

TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
# Most of a salon's clients pay by card: the desk changes it for the others
# rather than choosing every time (a required choice would cost every visit a
# keystroke; an empty one would leave most visits without a method).
PAYMENT_METHOD_DEFAULT = Visit.PaymentMethod.CARD


def token_new() -> str:
    """A one-use form token: the idempotency key of what the form submits."""
    return uuid.uuid4().hex


def voucher_codes_split(text: str) -> list[str]:
    """Codes as typed or scanned: separated by spaces, commas or semicolons."""
    seen: list[str] = []
    for raw in re.split(r"[\s,;]+", text or ""):
        code = voucher_code_normalize(raw)
        if code and code not in seen:
            seen.append(code)
    return seen


def promo_codes_split(text: str) -> list[str]:
    """Promo codes as typed: separated by spaces, commas or semicolons, each
    upper-cased with its dashes dropped (the campaigns app reads them so)."""
    seen: list[str] = []
    for raw in re.split(r"[\s,;]+", text or ""):
        code = raw.replace("-", "").upper()
        if code and code not in seen:
            seen.append(code)
    return seen


def errors_to_form(exc: ValidationError, form: forms.Form, formset=None) -> None:
    """Put a service's errors on the fields they name; the rest on the form.

    ``lines`` errors belong to the formset of service lines when there is one.
    """
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.error_dict.items():
        if field == "lines" and formset is not None:
            formset._non_form_errors = formset.error_class(
                [*formset.non_form_errors(), *(m for e in errors for m in e.messages)],
                error_class="nonform",
            )
        elif field in form.fields:
            form.add_error(field, errors)
        else:
            form.add_error(None, errors)


class TokenField(forms.CharField):
    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(max_length=32, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value and not TOKEN_RE.match(value):
            raise ValidationError(
                _("This form is out of date: reload the page."), code="bad_token"
            )
        return value


# --- Points and tiers -------------------------------------------------------


class PointsAdjustForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points"),
        min_value=-MAX_ADJUSTMENT,
        max_value=MAX_ADJUSTMENT,
        help_text=_("Positive adds points, negative takes them away."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("The member reads this in their points history."),
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )
    token = TokenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["points"].widget.attrs["autofocus"] = True

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points == 0:
            raise ValidationError(_("Enter a number other than 0."), code="zero")
        return points


class TierOverrideForm(forms.Form):
    tier = forms.ModelChoiceField(Tier.objects.order_by("rank"), label=_("Tier"))
    until = forms.DateField(
        label=_("Until"),
        widget=AdminDateWidget,
        help_text=_("Then the usual rules apply again."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("until", timezone.localdate() + timedelta(days=90))


# --- Checkout ---------------------------------------------------------------


def service_choices() -> list:
    """Active services grouped by category, with their price: one query per page."""
    groups: dict[str, list] = {}
    for service in Service.objects.filter(is_active=True).select_related("category"):
        price = money_text(service.base_price)
        groups.setdefault(service.category.name, []).append(
            (service.pk, f"{service.name} — {price}")
        )
    return [("", "—")] + [(name, opts) for name, opts in groups.items()]


def specialist_choices() -> list:
    """Active specialists grouped by the locations they work at: one query."""
    groups: dict[str, list] = {}
    links = (
        Specialist.locations.through.objects.filter(
            specialist__is_active=True, location__is_active=True
        )
        .select_related("specialist", "location")
        .order_by("location__name", "specialist__name")
    )
    for link in links:
        groups.setdefault(link.location.name, []).append(
            (link.specialist.pk, link.specialist.name)
        )
    return [("", "—")] + [(name, opts) for name, opts in groups.items()]


class SearchableSelect(forms.Select):
    """A select the desk filters by typing: the checkout's script makes it the
    admin's own select2 (jQuery and select2 as Django ships them).

    The options stay in the page — active services by category, with their
    prices, one query — so filtering asks the server nothing and each line
    added by the script gets the same list. Without JavaScript it is a plain
    select.
    """

    def __init__(self, attrs=None, choices=()):
        super().__init__({"class": "rw-searchable", **(attrs or {})}, choices)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        language = get_select2_language()
        if language:  # select2's own words ("No results found") translated
            context["widget"]["attrs"]["lang"] = language
        return context

    @property
    def media(self):
        extra = "" if settings.DEBUG else ".min"
        language = get_select2_language()
        i18n = (f"admin/js/vendor/select2/i18n/{language}.js",) if language else ()
        return forms.Media(
            js=(
                f"admin/js/vendor/jquery/jquery{extra}.js",
                f"admin/js/vendor/select2/select2.full{extra}.js",
                *i18n,
                "admin/js/jquery.init.js",
            ),
            css={
                "screen": (
                    f"admin/css/vendor/select2/select2{extra}.css",
                    "admin/css/autocomplete.css",
                )
            },
        )


class CheckoutLineForm(forms.Form):
    service = forms.ModelChoiceField(
        Service.objects.filter(is_active=True).select_related("category"),
        label=_("Service"),
        widget=SearchableSelect,
    )
    quantity = forms.IntegerField(
        label=_("Qty"), min_value=1, max_value=MAX_LINE_QUANTITY, initial=1
    )
    # Optional: who performs it (the checkout checks they work at the location).
    specialist = forms.ModelChoiceField(
        Specialist.objects.filter(is_active=True),
        label=_("Specialist"),
        required=False,
    )
    # Only for staff allowed to change prices (``allow_price``): empty is the
    # service's price.
    price = forms.DecimalField(
        label=_("Price"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        help_text=_("Leave empty for the service's price."),
    )

    def __init__(
        self,
        *args,
        choices=None,
        allow_price=False,
        specialist_choices=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if choices is not None:
            self.fields["service"].choices = choices
        if specialist_choices is not None:
            self.fields["specialist"].choices = specialist_choices
        self.fields["quantity"].widget.attrs.update(
            {"class": "qty", "inputmode": "numeric"}
        )
        if allow_price:
            self.fields["price"].widget.attrs.update(
                {"class": "price", "inputmode": "decimal"}
            )
        else:
            del self.fields["price"]

    def to_input(self, price_reason: str = "") -> VisitLineInput:
        return VisitLineInput(
            service=self.cleaned_data["service"],
            quantity=self.cleaned_data["quantity"],
            price=self.cleaned_data.get("price"),
            price_reason=price_reason,
            specialist=self.cleaned_data.get("specialist"),
        )


class BaseCheckoutLineFormSet(forms.BaseFormSet):
    def inputs(self, price_reason: str = "") -> list[VisitLineInput]:
        return [
            f.to_input(price_reason)
            for f in self.forms
            if f.has_changed() and f.cleaned_data.get("service")
        ]

    def clean(self):
        if any(self.errors):
            return
        if not self.inputs():
            raise ValidationError(_("Add at least one service."), code="no_lines")


CheckoutLineFormSet = forms.formset_factory(
    CheckoutLineForm,
    formset=BaseCheckoutLineFormSet,
    extra=3,
    max_num=30,
    validate_max=True,
)


class CheckoutForm(forms.Form):
    member = forms.ModelChoiceField(
        Member.objects.exclude(status=Member.Status.ERASED),
        label=_("Member"),
        widget=forms.HiddenInput,
        error_messages={"required": _("Find the member first.")},
    )
    location = forms.ModelChoiceField(
        Location.objects.filter(is_active=True), label=_("Location")
    )
    voucher_codes = forms.CharField(
        label=_("Vouchers"),
        required=False,
        max_length=200,
        help_text=_("Type or scan codes, separated by spaces."),
    )
    # Only when a benefit source reads promo codes (the campaigns app).
    promo_codes = forms.CharField(
        label=_("Promo codes"),
        required=False,
        max_length=200,
        help_text=_("Codes the client gives, separated by spaces or commas."),
    )
    points = forms.IntegerField(
        label=_("Pay with points"), required=False, min_value=0, max_value=10**9
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=255)
    # Shown beside "Record paid visit" (outside the form element, hence the
    # ``form`` attribute): how the client pays what the quote says.
    payment_method = forms.ChoiceField(
        label=_("Paid by"),
        choices=Visit.PaymentMethod.choices,
        initial=PAYMENT_METHOD_DEFAULT,
        widget=forms.RadioSelect(attrs={"form": "rw-checkout"}),
    )
    price_reason = forms.CharField(
        label=_("Why the price differs"),
        required=False,
        max_length=255,
        help_text=_("Needed when a line's price is not the service's."),
    )
    token = TokenField()
    quoted_amount = forms.DecimalField(
        required=False, max_digits=12, decimal_places=2, widget=forms.HiddenInput
    )

    def __init__(self, *args, allow_price=False, **kwargs):
        super().__init__(*args, **kwargs)
        if allow_price:
            self.fields["price_reason"].widget.attrs["class"] = "vTextField"
        else:
            del self.fields["price_reason"]
        self.fields["voucher_codes"].widget.attrs.update(
            {"autocomplete": "off", "spellcheck": "false", "class": "vTextField"}
        )
        if "promo_codes" in benefit_inputs():
            self.fields["promo_codes"].widget.attrs.update(
                {"autocomplete": "off", "spellcheck": "false", "class": "vTextField"}
            )
        else:
            del self.fields["promo_codes"]
        self.fields["points"].widget.attrs.update(
            {"inputmode": "numeric", "class": "points"}
        )
        self.fields["note"].widget.attrs["class"] = "vTextField"

    def clean_member(self):
        member = self.cleaned_data["member"]
        if member.status != Member.Status.ACTIVE:
            raise ValidationError(
                _("%(name)s is %(status)s: visits cannot be recorded.")
                % {"name": member.full_name, "status": member.get_status_display()},
                code="member_not_active",
            )
        return member

    def clean_voucher_codes(self) -> list[str]:
        return voucher_codes_split(self.cleaned_data["voucher_codes"])

    def clean_promo_codes(self) -> list[str]:
        return promo_codes_split(self.cleaned_data["promo_codes"])

    def promo_inputs(self) -> dict:
        """The checkout's ``promo_codes`` input: none without codes (a visit
        without them prices and fingerprints as before promotions)."""
        codes = self.cleaned_data.get("promo_codes") or []
        return {"promo_codes": codes} if codes else {}

    def clean_points(self) -> int:
        return self.cleaned_data["points"] or 0
