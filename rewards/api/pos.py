"""The integration API for booking/POS systems: /api/v1/pos/.

Every view acts for the location of the caller's key (``PosAPIView``). Members
belong to the chain, so any key finds any member; visits belong to a location,
so a key cancels or refunds only its own location's visits (another location's
visit is a 404, never a 403 that would reveal it).

Views are thin: serializers check the shape, ``rewards.services.checkout`` and
``members.services`` act, ``rewards.selectors`` read. A recorded visit is
answered from what the checkout wrote, and that answer is kept
(``VisitReceipt``): every retry of the booking gets the same body again, as it
was first sent (a visit cancelled since still replays its first answer).
Cancelling and refunding a recorded visit: ``pos_refunds``.

A checkout names its member, or says ``anonymous: true`` (a client who is no
member): priced and recorded by ``rewards.services.anonymous`` through the
same services, answered with ``anonymous`` true and no member.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from core.errors import field_error
from core.rows import rows_insert
from members import selectors as member_selectors
from members import services as member_services
from members.api.auth import PosAPIView
from members.api.common import REPLAYED_HEADER, ApiError, error_body, error_responses
from members.models import Member, Visit, VisitLine
from members.services import VisitLineInput
from rewards import selectors
from rewards.api import pos_serializers as s
from rewards.api.pos_errors import CHECKOUT_ERRORS
from rewards.benefits import benefit_inputs
from rewards.models import VisitBenefit, VisitReceipt
from rewards.services.checkout import checkout_commit, checkout_quote
from rewards.services.price_changes import PriceAuthority
from rewards.services.pricing import inputs_normal

TAGS = ["POS"]
# Serializers of the hot paths, built once per process: DRF deep-copies a
# serializer's fields for every new instance (~1 ms a request). Shaping a result
# with ``to_representation`` or checking a body with ``run_validation`` (what
# ``is_valid`` calls; it raises the same ValidationError) keeps no state on the
# instance.
QUOTE_IN = s.PosCheckoutSerializer()
VISIT_IN = s.PosVisitInSerializer()
QUOTE_OUT = s.PosQuoteSerializer()
RECORDED_OUT = s.PosVisitRecordedSerializer()
# Service field names → the request's field names.
FIELD_NAMES = {"points": "points_to_use"}


def fields_renamed(exc: ValidationError, names: dict = FIELD_NAMES) -> ValidationError:
    """A service's ValidationError with its fields named as in the request."""
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {names.get(name, name): errors for name, errors in exc.error_dict.items()}
    )


def _member_not_found() -> ApiError:
    return ApiError(404, "member_not_found", _("No member found."))


# --- Reading members --------------------------------------------------------------


def member_data(member: Member) -> dict:
    """A member as ``PosMemberSerializer`` shows them (one query for vouchers)."""
    wallet, tier = selectors.member_wallet_tier(member)
    return {
        "id": member.pk,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "name": member.full_name,
        "phone": member.phone.as_e164 if member.phone else "",
        "card_code": member.card_code,
        "status": member.status,
        "tier": tier,
        "points": {
            "available": wallet.available if wallet else 0,
            "pending": wallet.pending if wallet else 0,
            "debt": wallet.debt if wallet else 0,
        },
        "vouchers": list(selectors.member_active_vouchers(member=member)),
        "visits_count": member.visits_count,
        "last_visit_at": member.last_visit_at,
    }


def member_find(*, member_id=None, phone="", card="") -> Member:
    """The member a request names, or a 404 ``member_not_found``.

    A phone is normalised first: a number that is not one is a 400
    ``invalid_phone``, not a silent miss.
    """
    if phone:
        phone = member_services.phone_normalize(phone)
    member = selectors.pos_member_find(member_id=member_id, phone=phone, card=card)
    if member is None:
        raise _member_not_found()
    return member


class MemberLookupView(PosAPIView):
    serializer_class = s.PosLookupQuerySerializer

    @extend_schema(
        tags=TAGS,
        operation_id="pos_member_lookup",
        summary="Find a member by phone or card",
        description=(
            "Exactly one of `phone` or `card`. Members belong to the whole chain: "
            "any location's key finds any member. Erased members are never found."
        ),
        parameters=[s.PosLookupQuerySerializer],
        responses={200: s.PosMemberSerializer, **error_responses(400, 401, 404, 429)},
    )
    def get(self, request):
        query = s.PosLookupQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        member = member_find(
            phone=query.validated_data.get("phone", ""),
            card=query.validated_data.get("card", ""),
        )
        return Response(s.PosMemberSerializer(member_data(member)).data)


class MemberRegisterView(PosAPIView):
    serializer_class = s.PosMemberRegisterSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="pos_member_register",
        summary="Register a client at the till",
        description=(
            "The member's registration location is the key's location. A phone "
            "that already belongs to a member is a 409 `member_exists` carrying "
            "that member's id. A friend's `referral_code` registers the invite "
            "(rewards follow the first paid visit); an unknown code is a 400 "
            "`referral_code_invalid`."
        ),
        request=s.PosMemberRegisterSerializer,
        responses={
            201: s.PosMemberSerializer,
            409: OpenApiResponse(s.PosMemberExistsSerializer),
            **error_responses(400, 401, 429),
        },
    )
    def post(self, request):
        data = s.PosMemberRegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        phone = member_services.phone_normalize(fields.pop("phone"))
        existing = Member.objects.filter(phone=phone).values_list("pk", flat=True)
        if existing:
            return self._exists(existing[0])
        try:
            member = member_services.member_register(
                phone=phone,
                registration_location=self.location,
                consents=fields.pop("consents", None) or None,
                channel="pos",
                **fields,
            )
        except ValidationError as exc:
            taken = getattr(exc, "error_dict", {}).get("phone", [])
            if any(e.code == "phone_taken" for e in taken):  # lost a race
                pk = Member.objects.filter(phone=phone).values_list("pk", flat=True)
                if pk:
                    return self._exists(pk[0])
            raise
        return Response(
            s.PosMemberSerializer(member_data(member)).data,
            status=status.HTTP_201_CREATED,
        )

    def _exists(self, member_id: int) -> Response:
        body = error_body(
            "member_exists", _("A member with this phone number already exists.")
        )
        return Response(
            {**body, "member_id": member_id}, status=status.HTTP_409_CONFLICT
        )


# --- Checkout ---------------------------------------------------------------------


def checkout_lines(lines: list[dict]) -> list[VisitLineInput]:
    """The request's lines for the pricing service; codes resolved from the
    process cache of services.

    Ids go to the service as they are (it reports an unknown id itself).
    """
    by_code = member_selectors.services_by_code()
    out = []
    for line in lines:
        ref = line["service"]
        if isinstance(ref, str):
            service = by_code.get(ref)
            if service is None:
                raise field_error(
                    "lines",
                    _("Unknown service “%(code)s”.") % {"code": ref},
                    "unknown_service",
                )
            ref = service
        out.append(
            VisitLineInput(
                service=ref,
                quantity=line["quantity"],
                price=line.get("price"),
                price_reason=line.get("price_reason", ""),
                specialist=line.get("specialist"),
            )
        )
    return out


def checkout_member(data: dict) -> Member | None:
    """The member a checkout names (None: an anonymous visit). By id: a
    reference only — the checkout reads (and locks) the row itself, so a
    till's visit costs no look-up first; an unknown or erased id answers 404
    from there (``Member.DoesNotExist``)."""
    if data.get("anonymous"):
        return None
    if data.get("member_id") is not None:
        return Member(pk=data["member_id"])
    member = member_find(phone=data.get("phone", ""), card=data.get("card", ""))
    if member.status != Member.Status.ACTIVE:
        raise ValidationError(
            {
                "member": ValidationError(
                    _("This member is blocked: no checkout."),
                    code="member_not_active",
                )
            }
        )
    return member


def quote_data(quote) -> dict:
    return {
        "member_id": quote.member.pk if quote.member is not None else None,
        "anonymous": quote.member is None,
        "tier": quote.tier,
        "lines": [
            {
                "service": ln.service,
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "amount": ln.gross,
                "discount": ln.discount,
                "points_money": ln.points_money,
                "to_pay": ln.to_pay,
            }
            for ln in quote.lines
        ],
        "benefits": [
            s.benefit_data(
                kind=b.kind,
                source=b.source,
                reason=b.reason,
                params=b.params,
                amount=b.amount,
                points=b.points,
                voucher=b.voucher,
            )
            for b in quote.benefits
        ],
        "points": {
            "available": quote.points_available,
            "max_usable": quote.points_max,
            "used": quote.points_used,
            "money": quote.points_money,
        },
        "total": quote.total,
        "discount_total": quote.discount_total,
        "amount_to_pay": quote.amount_to_pay,
        "points_to_earn": quote.points_to_earn,
        "earn_explanation": quote.earn_explanation,
        "near_misses": [{"name": n, "missing": m} for n, m in quote.near_misses],
    }


def promo_inputs(codes: list[str]) -> dict:
    """The ``promo_codes`` input of a checkout: given only when a code is typed.

    A booking without codes keeps the fingerprint it had before promotions
    existed (its retries still replay); the codes themselves enter it as their
    meaning (the source's ``normal_input``), so a retry spelling them another
    way is the same booking. Pricing refuses an input no benefit source reads:
    codes sent when none does (the campaigns app not installed) are unknown.
    """
    if not codes:
        return {}
    if "promo_codes" not in benefit_inputs():
        raise field_error(
            "promo_codes",
            _("No promo code %(code)s.") % {"code": codes[0]},
            "promo_code_not_found",
        )
    if not inputs_normal({"promo_codes": codes})["promo_codes"]:
        return {}  # only blanks and dashes
    return {"promo_codes": codes}


class _CheckoutView(PosAPIView):
    def checkout_args(self, data: dict) -> dict:
        """What a quote and a recorded visit share: who, where, what, how paid."""
        return {
            "member": checkout_member(data),
            "location": self.location,
            "lines": checkout_lines(data["lines"]),
            "voucher_codes": data["voucher_codes"],
            **promo_inputs(data["promo_codes"]),
            "points_to_use": data["points_to_use"],
            # A till sets prices within the program's limit, with a reason.
            "price_authority": PriceAuthority.LIMITED,
        }


class QuoteView(_CheckoutView):
    serializer_class = s.PosCheckoutSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="pos_quote",
        summary="Price a visit (changes nothing)",
        description=(
            "The member (exactly one of `member_id`, `phone`, `card`), the lines, "
            "the vouchers presented, the promo codes given and the points to use → "
            "every benefit with its kind (a tier or first-visit discount, a "
            "`promotion`, a voucher, points), source and explanation, what is "
            "left to pay and the points the visit would earn. With "
            "`anonymous: true` instead of a member: the lines at their prices, "
            "no benefit, nothing to earn. " + CHECKOUT_ERRORS
        ),
        request=s.PosCheckoutSerializer,
        responses={200: s.PosQuoteSerializer, **error_responses(400, 401, 404, 429)},
    )
    def post(self, request):
        data = QUOTE_IN.run_validation(request.data)
        try:
            quote = checkout_quote(**self.checkout_args(data))
        except ValidationError as exc:
            raise fields_renamed(exc) from exc
        except Member.DoesNotExist as exc:
            raise _member_not_found() from exc
        return Response(QUOTE_OUT.to_representation(quote_data(quote)))


def visit_data(visit: Visit, lines: list[VisitLine]) -> dict:
    return {
        "id": visit.pk,
        "external_id": visit.external_id,
        "status": visit.status,
        "paid_at": visit.paid_at,
        "total": visit.total,
        "amount_paid": visit.amount_paid,
        "amount_refunded": visit.amount_refunded,
        "payment_method": visit.payment_method,
        "lines": [
            {
                "id": ln.pk,
                "service": ln.service,
                # Read only where set: a line without one costs no query.
                "specialist": ln.specialist if ln.specialist_id else None,
                "price": ln.price,
                "quantity": ln.quantity,
                "amount": ln.price * ln.quantity,
                "refunded_quantity": ln.refunded_quantity,
            }
            for ln in lines
        ],
    }


def _benefits_data(benefits: list[VisitBenefit]) -> list[dict]:
    return [
        s.benefit_data(
            kind=b.kind,
            source=b.source,
            reason=b.reason,
            params=b.params,
            amount=b.amount,
            points=b.points,
            voucher=b.voucher,
        )
        for b in benefits
    ]


class VisitRecordView(_CheckoutView):
    serializer_class = s.PosVisitInSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="pos_visit_record",
        summary="Record a paid visit (idempotent by external_id)",
        description=(
            "The same body as the quote plus `external_id` (your booking's id), "
            "`paid_at` and `payment_method`. The visit is priced exactly as the quote prices it, "
            "vouchers are used, promotions redeemed (their limits and budgets "
            "checked again), points paid and earned, in one transaction. "
            "Sending the same booking again (same `external_id`, same content) "
            "records nothing and answers the same body with the header "
            "`Idempotent-Replayed: true`; other content under the same id is a "
            "409 `external_id_conflict`. With `anonymous: true` instead of a "
            "member, the visit is recorded at its lines' prices for revenue "
            "only: `anonymous` is true, `member` null, nothing earned; it is "
            "cancelled and refunded like any other. " + CHECKOUT_ERRORS
        ),
        request=s.PosVisitInSerializer,
        parameters=[
            OpenApiParameter(
                REPLAYED_HEADER,
                str,
                OpenApiParameter.HEADER,
                response=[201],
                description="`true` when the visit had been recorded before.",
            )
        ],
        responses={
            201: s.PosVisitRecordedSerializer,
            **error_responses(400, 401, 404, 409, 429),
        },
    )
    def post(self, request):
        data = VISIT_IN.run_validation(request.data)
        try:
            result = checkout_commit(
                **self.checkout_args(data),
                external_id=data["external_id"],
                source=Visit.Source.POS,
                paid_at=data.get("paid_at"),
                payment_card_token=data["card_token"],
                payment_method=data["payment_method"],
                receipt=_receipt_store,
                receipt_relation="pos_receipt",
            )
        except ValidationError as exc:
            raise fields_renamed(exc) from exc
        except Member.DoesNotExist as exc:
            raise _member_not_found() from exc
        if result.created:
            body = result.receipt
        elif result.receipt is not None:
            body = json.loads(result.receipt.body)  # the first answer, as it was
        else:
            # A visit recorded before answers were kept: read it back.
            body = _recorded_body_from_db(result.visit)
        response = Response(body, status=status.HTTP_201_CREATED)
        if not result.created:
            response[REPLAYED_HEADER] = "true"
        return response


def _receipt_store(result) -> dict:
    """The answer to a new visit, from what the checkout just wrote; kept
    (``VisitReceipt``) in the visit's transaction for the booking's retries.

    The member's balance is the wallet's once every reaction to the visit has
    posted (a referee's referral bonus, a debt settled), read in the same
    transaction: the first answer and its replays show what the visit left.
    """
    outcome = result.outcome
    visit = result.visit
    body = RECORDED_OUT.to_representation(
        {
            "visit": visit_data(visit, visit.lines_recorded),
            "benefits": _benefits_data(outcome.benefits if outcome else ()),
            "points_earned": outcome.points_earned if outcome else 0,
            "points_used": outcome.points_used if outcome else 0,
            "tier_upgraded_to": outcome.tier_upgraded_to if outcome else None,
            "anonymous": visit.member_id is None,
            "member": (
                {
                    "id": visit.member_id,
                    "points_balance": selectors.wallet_balance(
                        member_id=visit.member_id
                    ),
                }
                if visit.member_id is not None
                else None
            ),
        }
    )
    rows_insert(
        [VisitReceipt(visit=visit, body=json.dumps(body, cls=DjangoJSONEncoder))]
    )
    return body


def _recorded_body_from_db(visit: Visit) -> dict:
    outcome = selectors.visit_outcome(visit=visit)
    return s.PosVisitRecordedSerializer(
        {
            "visit": visit_data(outcome.visit, outcome.lines),
            "benefits": _benefits_data(outcome.benefits),
            "points_earned": outcome.points_earned,
            "points_used": outcome.points_used,
            "tier_upgraded_to": outcome.tier_upgraded_to,
            "anonymous": visit.member_id is None,
            "member": (
                {"id": visit.member_id, "points_balance": outcome.balance_after}
                if visit.member_id is not None
                else None
            ),
        }
    ).data
