"""Input and output shapes of phone sign-in and the member's own profile.

Input serializers list exactly the fields a member may send: anything else in
a request body (``status``, ``visits_count``, ``tier``, ``phone``…) is ignored,
so no request can change what only staff or the books may change.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.models import Member, Visit, VisitLine
from members.privacy import phone_text
from members.services import CONSENT_CHANNELS

MAX_CODE_LENGTH = 12

# --- Sign-in ----------------------------------------------------------------


class OtpRequestSerializer(serializers.Serializer):
    phone = serializers.CharField(
        max_length=32,
        help_text=_("The phone number, in any usual format (+7 916 123-45-67)."),
    )


class OtpRequestResultSerializer(serializers.Serializer):
    sent = serializers.BooleanField(
        help_text=_(
            "Always true: the answer is the same whether or not the phone "
            "belongs to a member."
        )
    )
    expires_in = serializers.IntegerField(help_text=_("Seconds the code is valid."))
    resend_in = serializers.IntegerField(
        help_text=_("Seconds before another code may be requested.")
    )


class OtpVerifySerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=32)
    code = serializers.CharField(
        max_length=MAX_CODE_LENGTH + 8, help_text=_("The code from the SMS.")
    )
    referral_code = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text=_(
            "A friend's referral code (from their link). Counts for new "
            "clients only; an unknown code never blocks the sign-in (see "
            "`referral` in the response)."
        ),
    )
    device = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("A name of the device, shown in the member's signed-in devices."),
    )
    device_id = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        help_text=_(
            "A stable id of the app's install (e.g. identifierForVendor). "
            "Used only to spot abuse of referral rewards."
        ),
    )

    def validate_code(self, value: str) -> str:
        code = "".join(value.split()).replace("-", "")
        if not code.isdigit() or len(code) > MAX_CODE_LENGTH:
            raise serializers.ValidationError(
                _("The code is made of digits."), code="invalid_code"
            )
        return code


# --- Profile ----------------------------------------------------------------


class ConsentSerializer(serializers.Serializer):
    granted = serializers.BooleanField()
    changed_at = serializers.DateTimeField(allow_null=True)


class ConsentsSerializer(serializers.Serializer):
    """Marketing consents per channel (transactional messages need none)."""

    sms = ConsentSerializer()
    email = ConsentSerializer()
    push = ConsentSerializer()

    def to_representation(self, member: Member) -> dict:
        return {
            channel: ConsentSerializer(
                {
                    "granted": getattr(member, f"consent_{channel}"),
                    "changed_at": getattr(member, f"consent_{channel}_at"),
                }
            ).data
            for channel in CONSENT_CHANNELS
        }


class ProfileSerializer(serializers.ModelSerializer):
    phone = serializers.SerializerMethodField(
        help_text=_("E.164. Read-only: a new phone needs a new sign-in.")
    )
    consents = ConsentsSerializer(source="*", read_only=True)
    card_code = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Member
        fields = [
            "id",
            "phone",
            "first_name",
            "last_name",
            "email",
            "birthday",
            "language",
            "preferences",
            "consents",
            "card_code",
            "registered_at",
            "status",
        ]
        read_only_fields = fields

    def get_phone(self, member: Member) -> str:
        return phone_text(member.phone)


class ConsentsUpdateSerializer(serializers.Serializer):
    sms = serializers.BooleanField(required=False)
    email = serializers.BooleanField(required=False)
    push = serializers.BooleanField(required=False)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                _('Send an object such as {"sms": true}.'), code="invalid"
            )
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                _("Unknown consent channel “%(channel)s”.") % {"channel": unknown[0]},
                code="invalid_consent_channel",
            )
        return super().to_internal_value(data)


class ProfileUpdateSerializer(serializers.ModelSerializer):
    """What a member may change about themselves (all optional, PATCH)."""

    language = serializers.ChoiceField(
        choices=[("", _("Site default"))] + list(settings.LANGUAGES),
        required=False,
        allow_blank=True,
    )
    consents = ConsentsUpdateSerializer(
        required=False, help_text=_('e.g. {"sms": true, "email": false}')
    )

    class Meta:
        model = Member
        fields = [
            "first_name",
            "last_name",
            "email",
            "birthday",
            "language",
            "preferences",
            "consents",
        ]
        extra_kwargs = {
            "first_name": {"required": False},
            "preferences": {"max_length": 2000},
        }

    def validate_birthday(self, value: date | None) -> date | None:
        if value is not None and not (
            date(1900, 1, 1) <= value <= timezone.localdate()
        ):
            raise serializers.ValidationError(
                _("Enter a real date of birth."), code="invalid_birthday"
            )
        return value


# --- Card and visits ----------------------------------------------------------


class CardSerializer(serializers.Serializer):
    card_code = serializers.CharField(help_text=_("Shown at the front desk."))
    qr_svg = serializers.CharField(help_text=_("The code as an inline <svg> QR."))
    qr_png_url = serializers.URLField(help_text=_("The QR code as a PNG image."))
    qr_svg_url = serializers.URLField(help_text=_("The QR code as an SVG file."))


class VisitLineSerializer(serializers.ModelSerializer):
    service = serializers.CharField(source="service.name")

    class Meta:
        model = VisitLine
        fields = ["service", "quantity", "price", "refunded_quantity"]


class VisitSerializer(serializers.ModelSerializer):
    location = serializers.CharField(source="location.name")
    lines = VisitLineSerializer(many=True)

    class Meta:
        model = Visit
        fields = [
            "id",
            "paid_at",
            "location",
            "status",
            "total",
            "amount_paid",
            "amount_refunded",
            "payment_method",
            "lines",
        ]


class SignInReferralSerializer(serializers.Serializer):
    """What became of the referral code sent with a sign-in."""

    code = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["registered", "held", "rejected", "invalid_code", "ignored"],
        help_text=_(
            "`registered`: the friend's invite counts, rewards follow the "
            "first paid visit; `held`: under review; `rejected`: see `reason`; "
            "`invalid_code`: no such code; `ignored`: the member already has "
            "a referral."
        ),
    )
    reason = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True)
