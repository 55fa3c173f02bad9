"""The admin's forms for promotions and promo codes.

A promotion's form refuses what the checkout could not apply (an effect
without its number, an empty time window) as form errors, before the row is
saved; the code forms hand their input to ``campaigns.services``.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from campaigns import codes, services
from campaigns.models import PromoCode, Promotion
from members.models import Location, Member, Service
from members.services import phone_normalize
from rewards.selectors.pos import pos_member_find

Effect = Promotion.Effect

# The fields each effect needs, as (field, message).
_NEEDS_PERCENT = _("Say what percent is off.")
_NEEDS_AMOUNT_OFF = _("Say what amount is off the bill.")
_NEEDS_BUNDLE_PRICE = _("Say what the bundle costs.")
_NEEDS_BUNDLE_SIZE = _("Say how many services make the bundle.")
_NEEDS_POINTS = _("Say how many bonus points.")
_NEEDS_MULTIPLIER = _("A multiplier above 1, e.g. 2 for double points.")

EFFECT_NEEDS: dict[str, list[tuple[str, str]]] = {
    Effect.PERCENT_LINES: [("percent", _NEEDS_PERCENT)],
    Effect.PERCENT_BILL: [("percent", _NEEDS_PERCENT)],
    Effect.FIXED_BILL: [("amount", _NEEDS_AMOUNT_OFF)],
    Effect.BUNDLE_PRICE: [
        ("amount", _NEEDS_BUNDLE_PRICE),
        ("bundle_quantity", _NEEDS_BUNDLE_SIZE),
    ],
    Effect.BONUS_POINTS: [("points", _NEEDS_POINTS)],
    Effect.POINTS_MULTIPLIER: [("multiplier", _NEEDS_MULTIPLIER)],
}

WEEKDAYS = "1234567"


class PromotionForm(forms.ModelForm):
    class Meta:
        model = Promotion
        fields = [
            *("name", "description", "group", "priority", "exclusive", "status"),
            *("starts_at", "ends_at", "weekdays", "time_from", "time_to"),
            *("services", "categories", "excluded_services", "excluded_categories"),
            *("locations", "tiers", "segments", "first_visit", "nth_visit"),
            "min_bill",
            *("min_lines", "combo_categories", "untried_category", "birthday_days"),
            *("specialists", "recent_visits", "recent_days"),
            "code_required",
            *("effect", "percent", "percent_of", "amount", "bundle_quantity"),
            *("points", "multiplier", "points_lifetime_days", "reward"),
            *("uses_per_member", "uses_per_member_period", "period_days"),
            *("max_redemptions", "budget_money", "budget_points"),
        ]
        widgets = {
            "description": forms.TextInput(attrs={"size": 80}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        status = self.fields.get("status")
        if status is not None and self.instance.pk:
            # Only where the promotion may go from here (``STATUS_MOVES``).
            current = self.instance.status
            status.choices = [
                (value, label)
                for value, label in status.choices
                if services.status_move_allowed(current, value)
            ]

    def clean_weekdays(self):
        text = "".join((self.cleaned_data.get("weekdays") or "").split())
        text = text.replace(",", "")
        if any(ch not in WEEKDAYS for ch in text):
            raise ValidationError(
                _("Only the digits 1 (Monday) to 7 (Sunday)."),
                code="promotion_weekdays",
            )
        return "".join(sorted(set(text)))

    def clean_status(self):
        status = self.cleaned_data.get("status")
        current = self.instance.status if self.instance.pk else Promotion.Status.DRAFT
        if status and not services.status_move_allowed(current, status):
            raise ValidationError(
                _("A promotion that is %(current)s cannot be made %(new)s.")
                % {
                    "current": Promotion.Status(current).label,
                    "new": Promotion.Status(status).label,
                },
                code="promotion_status_not_allowed",
            )
        return status

    def clean(self):
        data = super().clean()
        if data.get("effect") == Effect.VOUCHER and not data.get("reward"):
            self.add_error(
                "reward",
                ValidationError(
                    _("Choose the reward whose voucher the member gets."),
                    code="required",
                ),
            )
        for field, message in EFFECT_NEEDS.get(data.get("effect"), []):
            value = data.get(field)
            floor = Decimal("1") if field == "multiplier" else Decimal("0")
            if field not in self.errors and (value is None or value <= floor):
                self.add_error(field, ValidationError(message, code="required"))
        time_from, time_to = data.get("time_from"), data.get("time_to")
        if time_from and time_to and time_from >= time_to:
            self.add_error(
                "time_to",
                ValidationError(
                    _("Must be later than the start of the time window."),
                    code="promotion_time_window",
                ),
            )
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error(
                "ends_at",
                ValidationError(
                    _("Must be later than the start."), code="promotion_ends_early"
                ),
            )
        if data.get("recent_visits") and not data.get("recent_days"):
            self.add_error(
                "recent_days",
                ValidationError(
                    _("Say over how many days the visits count."), code="required"
                ),
            )
        if data.get("uses_per_member_period") and not data.get("period_days"):
            self.add_error(
                "period_days",
                ValidationError(
                    _("Say how many days the period lasts."), code="required"
                ),
            )
        return data


class CodesGenerateForm(forms.Form):
    """Asked on the promotion's "Generate codes" page."""

    count = forms.IntegerField(
        label=_("How many codes"), min_value=1, max_value=codes.MAX_BATCH
    )
    batch = forms.CharField(
        label=_("Batch name"),
        max_length=PromoCode._meta.get_field("batch").max_length,
        help_text=_("E.g. “Flyers, March”: to find and export the codes later."),
    )
    prefix = forms.CharField(
        label=_("Prefix"),
        max_length=services.PREFIX_MAX_LENGTH,
        required=False,
        help_text=_("Optional, Latin letters and digits: “SPRING” → SPRING7KX2M9QA."),
    )
    valid_until = forms.SplitDateTimeField(
        label=_("Valid until"),
        required=False,
        widget=forms.SplitDateTimeWidget(
            date_attrs={"type": "date", "style": "margin-right:8px"},
            time_attrs={"type": "time"},
        ),
    )


class PublicCodeForm(forms.ModelForm):
    """A code chosen by people, added on the promo codes' "Add" page."""

    class Meta:
        model = PromoCode
        fields = ["promotion", "code", "max_uses", "valid_from", "valid_until"]

    def clean_code(self):
        try:
            return services.promo_code_public_check(self.cleaned_data.get("code"))
        except ValidationError as exc:  # the service's errors are per field
            raise ValidationError(exc.error_dict["code"]) from None

    def clean(self):
        data = super().clean()
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and end <= start:
            self.add_error(
                "valid_until",
                ValidationError(
                    _("Must be later than the start."), code="promo_code_dates"
                ),
            )
        return data


class PromoCodeChangeForm(forms.ModelForm):
    """An existing code: its limits and dates change, its text does not."""

    class Meta:
        model = PromoCode
        fields = ["max_uses", "valid_from", "valid_until"]

    def clean_max_uses(self):
        value = self.cleaned_data.get("max_uses")
        if value is not None and value < self.instance.uses:
            raise ValidationError(
                _("It has been used %(n)d times already.") % {"n": self.instance.uses},
                code="promo_code_max_below_uses",
            )
        return value


class PreviewForm(forms.Form):
    """ "What would this member pay for these services now, and why?"""

    member = forms.CharField(
        label=_("Member"),
        max_length=32,
        help_text=_("A phone, a card code or a member number."),
    )
    location = forms.ModelChoiceField(
        label=_("Location"), queryset=Location.objects.filter(is_active=True)
    )
    services = forms.ModelMultipleChoiceField(
        label=_("Services"),
        queryset=Service.objects.filter(is_active=True).order_by("category", "name"),
        widget=forms.CheckboxSelectMultiple,
    )
    promo_codes = forms.CharField(
        label=_("Promo codes"), required=False, max_length=200,
        help_text=_("Spaces or commas between them."),
    )  # fmt: skip

    def clean_member(self) -> Member:
        text = self.cleaned_data["member"].strip()
        found = None
        if text.isdigit() and len(text) < 10:
            found = pos_member_find(member_id=int(text))
        if found is None:
            try:
                found = pos_member_find(phone=phone_normalize(text))
            except ValidationError:
                found = None
        if found is None:
            found = pos_member_find(card=text)
        if found is None:
            raise ValidationError(_("No member with this phone, card or number."))
        return found

    def clean_promo_codes(self) -> list[str]:
        text = self.cleaned_data["promo_codes"].replace(",", " ").replace(";", " ")
        return [code for code in text.split() if code]
