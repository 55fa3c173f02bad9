"""What a booking/POS system sends to /api/v1/pos/ and what it gets back.

Input serializers validate the shape of a request (the services check the
business rules); output serializers shape the views' results. Money is a
string with two decimals ("1500.00"), points are integers. Names carry a
``Pos`` prefix so the OpenAPI components never clash with the member API's.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api_fields import Money
from members.models import Visit
from members.services import MAX_LINE_QUANTITY
from rewards.benefits import benefit_kind_choices, benefit_text

MAX_LINES = 50
MAX_ID = 2**63 - 1  # ids are 64-bit: a larger number is no id, not a crash
MAX_VOUCHERS = 10
# Promo codes of one bill, and the longest one (the campaigns app's own limits:
# rewards names them without importing it).
MAX_PROMO_CODES = 5
MAX_PROMO_CODE_LENGTH = 32
# How a checkout names its member (exactly one), unless it is anonymous.
MEMBER_FIELDS = ("member_id", "phone", "card")


def _exactly_one(attrs: dict, names: tuple[str, ...], code: str, message) -> None:
    given = [n for n in names if attrs.get(n) not in (None, "")]
    if len(given) != 1:
        raise serializers.ValidationError(message, code=code)


# --- Members ------------------------------------------------------------------


class PosLookupQuerySerializer(serializers.Serializer):
    phone = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        help_text=_('The member\'s phone, any format ("8 916 123-45-67").'),
    )
    card = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        help_text=_("The code on the member's card or in its QR code."),
    )

    def validate(self, attrs):
        _exactly_one(
            attrs,
            ("phone", "card"),
            "lookup_parameter_required",
            _("Give exactly one of phone or card."),
        )
        return attrs


class PosConsentsSerializer(serializers.Serializer):
    sms = serializers.BooleanField(required=False)
    email = serializers.BooleanField(required=False)
    push = serializers.BooleanField(required=False)


class PosMemberRegisterSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=32)
    first_name = serializers.CharField(max_length=80)
    last_name = serializers.CharField(max_length=80, required=False, default="")
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    birthday = serializers.DateField(required=False, allow_null=True, default=None)
    consents = PosConsentsSerializer(
        required=False,
        help_text=_("Marketing consents the client gave at the till."),
    )
    referral_code = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text=_(
            "The code of the friend who sent the client. An unknown code is "
            "a 400 `referral_code_invalid` and registers nobody."
        ),
    )


class PosTierSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    discount_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, coerce_to_string=True
    )


class PosPointsSerializer(serializers.Serializer):
    available = serializers.IntegerField(help_text=_("Spendable now."))
    pending = serializers.IntegerField(help_text=_("Earned, not spendable yet."))
    debt = serializers.IntegerField(
        help_text=_("Points owed after a refund took back spent points.")
    )


class PosVoucherSerializer(serializers.Serializer):
    code = serializers.CharField()
    reward = serializers.CharField(source="reward.name")
    reward_kind = serializers.CharField(source="reward.kind")
    valid_until = serializers.DateTimeField()


class PosMemberSerializer(serializers.Serializer):
    """A member as a till sees them: who, tier, points, vouchers to offer."""

    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    name = serializers.CharField()
    phone = serializers.CharField(help_text=_("E.164, e.g. +79161234567."))
    card_code = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["active", "blocked"])
    tier = PosTierSerializer(allow_null=True)
    points = PosPointsSerializer()
    vouchers = PosVoucherSerializer(
        many=True, help_text=_("Active vouchers, soonest to lapse first.")
    )
    visits_count = serializers.IntegerField()
    last_visit_at = serializers.DateTimeField(allow_null=True)


class PosMemberExistsSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="member_exists")
    message = serializers.CharField()
    member_id = serializers.IntegerField()


# --- Checkout (quote and visit) -------------------------------------------------


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "description": "The service's id (integer) or code (string).",
    }
)
class ServiceRefField(serializers.Field):
    default_error_messages = {
        "invalid": _("Give the service's id (a number) or code (a string).")
    }

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            if not 1 <= data <= MAX_ID:
                self.fail("invalid")
            return data
        if isinstance(data, str) and data.strip() and len(data) <= 60:
            if "\x00" in data:  # PostgreSQL refuses a NUL in a query
                self.fail("invalid")
            return data.strip()
        self.fail("invalid")

    def to_representation(self, value):
        return value


class SpecialistRefField(ServiceRefField):
    default_error_messages = {
        "invalid": _("Give the specialist's id (a number) or code (a string).")
    }


class PosLineInSerializer(serializers.Serializer):
    service = ServiceRefField()
    specialist = SpecialistRefField(
        required=False,
        allow_null=True,
        default=None,
        help_text=_(
            "Who performed it (id or code): active, working at the key's location."
        ),
    )
    quantity = serializers.IntegerField(
        min_value=1, max_value=MAX_LINE_QUANTITY, default=1
    )
    price = Money(
        required=False,
        allow_null=True,
        min_value=0,
        help_text=_(
            "Unit price charged, if not the service's base price: within the "
            "program's price change limit, and with `price_reason`."
        ),
    )
    price_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=255,
        default="",
        help_text=_("Why the line's price differs from the service's."),
    )


class PosCheckoutSerializer(serializers.Serializer):
    member_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    anonymous = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "true: a client who is no member, instead of `member_id`, `phone` "
            "or `card`. The visit is recorded at its lines' prices for revenue "
            "and earns nothing; vouchers, promo codes and points are refused "
            "(`member_only`)."
        ),
    )
    phone = serializers.CharField(required=False, allow_blank=True, max_length=32)
    card = serializers.CharField(required=False, allow_blank=True, max_length=32)
    # A ListField, not ``many=True``: its errors are "lines" / "lines.0.price",
    # never "lines.non_field_errors".
    lines = serializers.ListField(
        child=PosLineInSerializer(), min_length=1, max_length=MAX_LINES
    )
    voucher_codes = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        default=list,
        max_length=MAX_VOUCHERS,
    )
    promo_codes = serializers.ListField(
        child=serializers.CharField(max_length=MAX_PROMO_CODE_LENGTH),
        required=False,
        default=list,
        max_length=MAX_PROMO_CODES,
        help_text=_(
            "Promo codes the client gives (at most 5; any case, spaces and "
            "dashes ignored). Each unlocks its promotion on this bill, or the "
            "request is a 400 with the reason's code (`promo_code_not_found`…)."
        ),
    )
    points_to_use = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=10**9
    )

    def validate(self, attrs):
        if attrs.get("anonymous"):
            if any(attrs.get(n) not in (None, "") for n in MEMBER_FIELDS):
                raise serializers.ValidationError(
                    _("An anonymous visit names no member: drop member_id, "
                      "phone and card, or anonymous."),
                    code="anonymous_with_member",
                )  # fmt: skip
            return attrs
        _exactly_one(
            attrs,
            MEMBER_FIELDS,
            "member_required",
            _("Give exactly one of member_id, phone or card, or anonymous: true."),
        )
        return attrs


class PosVisitInSerializer(PosCheckoutSerializer):
    external_id = serializers.CharField(
        min_length=1,
        max_length=100,
        help_text=_(
            "The booking's id in your system. Sending it again returns the "
            "visit recorded the first time; other content under it is a 409."
        ),
    )
    paid_at = serializers.DateTimeField(
        required=False, help_text=_("When it was paid; now if omitted.")
    )
    card_token = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        help_text=_(
            "The payment processor's token (fingerprint) of the card that "
            "paid, if the till has one. Stored only as a salted hash, to spot "
            "several new clients paying with one card."
        ),
    )
    payment_method = serializers.ChoiceField(
        choices=Visit.PaymentMethod.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text=_(
            "How the client paid the money part: `cash`, `card`, `online` or "
            "`gift_certificate`; omitted or empty if the till does not say. "
            "Part of the booking: a retry must send the same."
        ),
    )


class PosServiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class PosBenefitSerializer(serializers.Serializer):
    """A benefit of a quote or of a recorded visit."""

    # Every kind the registered benefit sources give (``REGULARS_BENEFIT_SOURCES``):
    # ``promotion`` when the campaigns app prices visits.
    kind = serializers.ChoiceField(
        choices=[kind for kind, _label in benefit_kind_choices()]
    )
    source = serializers.CharField(
        help_text=_("Who gives it: a tier, a promotion, a voucher…")
    )
    reason = serializers.CharField(help_text=_("Stable code of the rule."))
    description = serializers.CharField(help_text=_("In the request's language."))
    amount = Money(help_text=_("Money off the bill."))
    points = serializers.IntegerField(help_text=_("Points paid (kind points)."))
    voucher_code = serializers.CharField(allow_null=True)


class PosQuoteLineSerializer(serializers.Serializer):
    service = PosServiceSerializer()
    quantity = serializers.IntegerField()
    unit_price = Money()
    amount = Money(help_text=_("unit price × quantity"))
    discount = Money(help_text=_("Discounts and vouchers on this line."))
    points_money = Money(help_text=_("Paid with points on this line."))
    to_pay = Money()


class PosQuotePointsSerializer(serializers.Serializer):
    available = serializers.IntegerField(help_text=_("Spendable now."))
    max_usable = serializers.IntegerField(
        help_text=_("The most points this bill accepts.")
    )
    used = serializers.IntegerField()
    money = Money(help_text=_("What the points used pay."))


class PosNearMissSerializer(serializers.Serializer):
    name = serializers.CharField(help_text=_("The offer, as members read it."))
    missing = serializers.CharField(
        help_text=_("What is missing, in the request's language.")
    )


class PosQuoteSerializer(serializers.Serializer):
    member_id = serializers.IntegerField(
        allow_null=True, help_text=_("null for an anonymous visit.")
    )
    anonymous = serializers.BooleanField(
        help_text=_("A client who is no member: list prices, nothing earned.")
    )
    tier = PosTierSerializer(allow_null=True)
    lines = PosQuoteLineSerializer(many=True)
    benefits = PosBenefitSerializer(many=True)
    points = PosQuotePointsSerializer()
    total = Money(help_text=_("Before any benefit."))
    discount_total = Money()
    amount_to_pay = Money(help_text=_("In money, after benefits and points."))
    points_to_earn = serializers.IntegerField()
    earn_explanation = serializers.CharField()
    near_misses = PosNearMissSerializer(
        many=True,
        help_text=_(
            "Up to three offers that almost apply and what is missing (one "
            "more service for a combo, a bigger bill, another hour)."
        ),
    )


class PosSpecialistSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class PosVisitLineSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("Use it to refund this line."))
    service = PosServiceSerializer()
    # Not required: answers kept before lines had a specialist lack it.
    specialist = PosSpecialistSerializer(
        allow_null=True,
        required=False,
        help_text=_("Who performed it; null if not stated."),
    )
    quantity = serializers.IntegerField()
    unit_price = Money(source="price")
    amount = Money()
    refunded_quantity = serializers.IntegerField()


class PosVisitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["paid", "cancelled", "refunded"])
    paid_at = serializers.DateTimeField()
    total = Money()
    amount_paid = Money(help_text=_("Paid in money."))
    amount_refunded = Money(help_text=_("Returned by partial refunds."))
    # Not required: a replayed answer is the one first sent, and answers kept
    # before visits had a payment method lack it.
    payment_method = serializers.ChoiceField(
        choices=Visit.PaymentMethod.choices,
        allow_blank=True,
        required=False,
        help_text=_("As the till sent it; empty if not stated."),
    )
    lines = PosVisitLineSerializer(many=True)


class PosVisitMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    points_balance = serializers.IntegerField(
        help_text=_(
            "The member's points (available + pending) right after this visit "
            "was recorded."
        )
    )


class PosVisitRecordedSerializer(serializers.Serializer):
    visit = PosVisitSerializer()
    benefits = PosBenefitSerializer(many=True)
    points_earned = serializers.IntegerField()
    points_used = serializers.IntegerField()
    tier_upgraded_to = PosTierSerializer(allow_null=True)
    # Not required: a replayed answer is the one first sent, and answers kept
    # before anonymous visits lack it (they were all members').
    anonymous = serializers.BooleanField(
        required=False,
        help_text=_(
            "true: recorded without a member; it earned nothing and `member` is null."
        ),
    )
    member = PosVisitMemberSerializer(
        allow_null=True, help_text=_("null for an anonymous visit.")
    )


# --- Cancel and refund -----------------------------------------------------------


class PosCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=255
    )


class PosRefundLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text=_("The visit line's id.")
    )
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_LINE_QUANTITY)


class PosRefundSerializer(PosCancelSerializer):
    lines = serializers.ListField(
        child=PosRefundLineSerializer(),
        required=False,
        min_length=1,
        max_length=MAX_LINES,
        help_text=_(
            "Refund only these lines (or part of them). Omit: the whole visit."
        ),
    )
    refund_id = serializers.CharField(
        required=False,
        min_length=1,
        max_length=100,
        help_text=_(
            "Your id of this refund, required with lines: sending it again "
            "refunds once."
        ),
    )

    def validate(self, attrs):
        if attrs.get("lines") and not attrs.get("refund_id"):
            raise serializers.ValidationError(
                {
                    "refund_id": serializers.ErrorDetail(
                        _("A refund of some lines needs a refund_id."),
                        code="refund_id_required",
                    )
                }
            )
        return attrs


class PosRefundRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    amount = Money()
    lines = serializers.ListField(
        child=serializers.DictField(),
        help_text=_("[{line, service, quantity, amount}]"),
    )
    created_at = serializers.DateTimeField()


class PosVisitStateSerializer(serializers.Serializer):
    visit = PosVisitSerializer()
    points_reversed = serializers.IntegerField(
        help_text=_("Points earned on the visit taken back (debt included).")
    )
    points_returned = serializers.IntegerField(
        help_text=_("Points spent on the visit given back.")
    )
    refund = PosRefundRecordSerializer(
        allow_null=True, help_text=_("The partial refund this request made.")
    )


# --- Shaping results -------------------------------------------------------------


def benefit_data(*, kind, source, reason, params, amount, points, voucher) -> dict:
    return {
        "kind": kind,
        "source": str(source),
        "reason": reason,
        "description": benefit_text(reason, params or {}),
        "amount": amount,
        "points": points,
        "voucher_code": voucher.code if voucher is not None else None,
    }
