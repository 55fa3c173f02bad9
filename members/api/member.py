"""/api/v1/: phone sign-in and the member's own profile, card, visits and data.

Views are thin: serializers validate and shape, ``members.otp``,
``members.services``, ``members.cards`` and ``members.privacy`` act. Every
"me" view subclasses ``MemberAPIView``, so it sees only the signed-in member.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from core.net import client_ip
from members import access, otp, privacy
from members.api import member_serializers as s
from members.api.auth import MemberAPIView
from members.api.common import AnonThrottle, error_body, error_responses
from members.api.me_sections import MeSerializer, me_sections
from members.cards import member_card_code
from members.models import Member, Visit, VisitLine
from members.qr import qr_png, qr_svg, qr_svg_document
from members.services import member_update, phone_normalize

SIGN_IN = ["Sign-in"]
ME = ["Me"]

# --- Throttles ------------------------------------------------------------------
# The cheap first line against floods; the real limits are the database counters
# in members.otp (caps per phone and IP, the brute-force lock).


class OtpRequestIpThrottle(SimpleRateThrottle):
    """Code requests per IP (rate ``otp_request``)."""

    scope = "otp_request"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


class OtpRequestPhoneThrottle(SimpleRateThrottle):
    """Code requests per phone number (rate ``otp_request``), from any IP."""

    scope = "otp_request"

    def get_cache_key(self, request, view):
        data = request.data if isinstance(request.data, dict) else {}
        try:
            phone = phone_normalize(str(data.get("phone", "")))
        except ValidationError:
            return None  # the view answers invalid_phone
        return self.cache_format % {"scope": "otp_request_phone", "ident": phone}


class OtpVerifyThrottle(SimpleRateThrottle):
    """Code checks per IP (rate ``otp_verify``)."""

    scope = "otp_verify"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


# --- Sign-in -------------------------------------------------------------------

OTP_ERROR = inline_serializer(
    name="SignInError",
    fields={
        "code": serializers.CharField(help_text="Stable error code."),
        "message": serializers.CharField(help_text="Human-readable message."),
        "fields": serializers.DictField(
            required=False,
            child=serializers.ListField(child=serializers.DictField()),
        ),
        "retry_after": serializers.IntegerField(
            required=False, help_text="Seconds to wait (429)."
        ),
        "attempts_left": serializers.IntegerField(
            required=False, help_text="Tries left for this code (otp_invalid)."
        ),
    },
)
_REFUSAL_STATUS = {
    "phone_locked": status.HTTP_429_TOO_MANY_REQUESTS,
    "otp_too_soon": status.HTTP_429_TOO_MANY_REQUESTS,
    "otp_rate_limited": status.HTTP_429_TOO_MANY_REQUESTS,
    "member_blocked": status.HTTP_403_FORBIDDEN,
    "otp_invalid": status.HTTP_400_BAD_REQUEST,
    "otp_expired": status.HTTP_400_BAD_REQUEST,
}


def _refusal_response(exc: otp.OtpRefused) -> Response:
    body = error_body(exc.code, exc.message)
    headers = {}
    if exc.retry_after is not None:
        body["retry_after"] = exc.retry_after
        headers["Retry-After"] = str(exc.retry_after)
    if exc.attempts_left is not None:
        body["attempts_left"] = exc.attempts_left
    return Response(body, status=_REFUSAL_STATUS[exc.code], headers=headers)


def _profile(member: Member) -> dict:
    member_card_code(member)  # assigned on first sight, then fixed
    return s.ProfileSerializer(member).data


def _me(member: Member) -> dict:
    """The profile and, by name, each ``REGULARS_ME_SECTIONS`` section's data
    (``MeSerializer`` describes the whole)."""
    body = _profile(member)
    for section in me_sections():
        body[section.name] = section.data(member)
    return body


class OtpRequestView(GenericAPIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle, OtpRequestIpThrottle, OtpRequestPhoneThrottle]
    serializer_class = s.OtpRequestSerializer

    @extend_schema(
        tags=SIGN_IN,
        summary="Send a sign-in code by SMS",
        description=(
            "Sends a one-time code to the phone. The answer is the same whether "
            "or not the phone belongs to a member. Error codes: `invalid_phone` "
            "(400), `otp_too_soon`, `otp_rate_limited`, `phone_locked`, "
            "`throttled` (429, with `retry_after`)."
        ),
        request=s.OtpRequestSerializer,
        responses={
            202: s.OtpRequestResultSerializer,
            400: OpenApiResponse(OTP_ERROR),
            429: OpenApiResponse(OTP_ERROR),
        },
    )
    def post(self, request):
        serializer = s.OtpRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = otp.otp_request(
                phone=serializer.validated_data["phone"],
                ip=client_ip(request),
                language=getattr(request, "LANGUAGE_CODE", None),
            )
        except otp.OtpRefused as exc:
            return _refusal_response(exc)
        data = {
            "sent": True,
            "expires_in": result.expires_in,
            "resend_in": result.resend_in,
        }
        return Response(
            s.OtpRequestResultSerializer(data).data, status=status.HTTP_202_ACCEPTED
        )


class OtpVerifyView(GenericAPIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle, OtpVerifyThrottle]
    serializer_class = s.OtpVerifySerializer

    @extend_schema(
        tags=SIGN_IN,
        summary="Sign in (or sign up) with the code",
        description=(
            "Checks the code and returns a bearer token. A phone that is not a "
            "member yet signs up (`created: true`). A `referral_code` counts "
            "for new clients only and never blocks the sign-in: `referral` "
            "says what became of it. Error codes: `otp_invalid` (400, with "
            "`attempts_left`), `otp_expired` (400), `invalid_phone`, "
            "`invalid` (400; `fields.code` says `invalid_code` for a code "
            "that is not digits), `member_blocked` (403), `phone_locked` "
            "(429: too many wrong codes in a row, even the right code is "
            "refused until `retry_after`), `throttled` (429)."
        ),
        request=s.OtpVerifySerializer,
        responses={
            200: inline_serializer(
                name="SignIn",
                fields={
                    "token": serializers.CharField(
                        help_text="Bearer token: `Authorization: Bearer <token>`."
                    ),
                    "member": s.ProfileSerializer(),
                    "created": serializers.BooleanField(
                        help_text="True when this sign-in enrolled a new member."
                    ),
                    "referral": s.SignInReferralSerializer(
                        allow_null=True,
                        help_text="What became of `referral_code`; null without one.",
                    ),
                },
            ),
            400: OpenApiResponse(OTP_ERROR),
            403: OpenApiResponse(OTP_ERROR),
            429: OpenApiResponse(OTP_ERROR),
        },
    )
    def post(self, request):
        serializer = s.OtpVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            result = otp.otp_verify(
                phone=data["phone"],
                code=data["code"],
                referral_code=data["referral_code"],
                device=data["device"],
                device_id=data["device_id"],
                ip=client_ip(request),
            )
        except otp.OtpRefused as exc:
            return _refusal_response(exc)
        return Response(
            {
                "token": result.raw_token,
                "member": _profile(result.member),
                "created": result.created,
                "referral": result.referral,
            }
        )


class LogoutView(MemberAPIView):
    serializer_class = serializers.Serializer  # no body (OPTIONS describes it)

    @extend_schema(
        tags=SIGN_IN,
        summary="Sign out (revoke this token)",
        request=None,
        responses={204: None, **error_responses(401, 429)},
    )
    def post(self, request):
        access.token_revoke(token=request.user.token)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Profile ----------------------------------------------------------------


class MeView(MemberAPIView):
    serializer_class = MeSerializer

    @extend_schema(
        tags=ME,
        summary="My profile and home screen",
        description=(
            "The profile and what the program's apps add for the home "
            "screen, one key each (see the response schema)."
        ),
        responses={200: MeSerializer, **error_responses(401, 429)},
    )
    def get(self, request):
        return Response(_me(self.member))

    @extend_schema(
        tags=ME,
        summary="Change my profile and consents",
        description=(
            "Only the fields of the request schema can change; anything else "
            "in the body is ignored. The phone cannot change here (sign in "
            "with the new one). Answers as `GET me` does."
        ),
        request=s.ProfileUpdateSerializer,
        responses={200: MeSerializer, **error_responses(400, 401, 429)},
    )
    def patch(self, request):
        serializer = s.ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        if "consents" in fields:
            fields["consents"] = dict(fields["consents"])
        member = member_update(member=self.member, **fields)
        return Response(_me(member))

    @extend_schema(
        tags=ME,
        summary="Erase my data",
        description=(
            "Removes the member's personal data and signs them out everywhere. "
            "Visits and points stay, anonymous. Signing in again with the same "
            "phone later makes a new member."
        ),
        responses={204: None, **error_responses(401, 429)},
    )
    def delete(self, request):
        privacy.member_erase(member=self.member)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Card -------------------------------------------------------------------


class MeCardView(MemberAPIView):
    serializer_class = s.CardSerializer

    @extend_schema(
        tags=ME,
        summary="My card: its code and QR",
        responses={200: s.CardSerializer, **error_responses(401, 429)},
    )
    def get(self, request):
        code = member_card_code(self.member)
        data = {
            "card_code": code,
            "qr_svg": str(qr_svg(code)),
            "qr_png_url": request.build_absolute_uri(reverse("api-me-card-png")),
            "qr_svg_url": request.build_absolute_uri(reverse("api-me-card-svg")),
        }
        return Response(s.CardSerializer(data).data)


class MemberQrView(MemberAPIView):
    """A QR image (PNG or SVG, by ``image``) of the signed-in member's ``qr_text``:
    their card here, their referral link in the referrals app."""

    image = "png"
    _DRAW = {
        "png": (qr_png, "image/png"),
        "svg": (qr_svg_document, "image/svg+xml"),
    }

    def perform_content_negotiation(self, request, force=False):
        # The image is the answer; errors are JSON whatever the Accept header.
        return super().perform_content_negotiation(request, force=True)

    def qr_text(self, request) -> str:
        raise NotImplementedError

    def get(self, request):
        draw, content_type = self._DRAW[self.image]
        response = HttpResponse(draw(self.qr_text(request)), content_type=content_type)
        response["Cache-Control"] = "private, max-age=3600"
        return response


class _CardImageView(MemberQrView):
    def qr_text(self, request) -> str:
        return member_card_code(self.member)


class MeCardPngView(_CardImageView):
    image = "png"

    @extend_schema(
        tags=ME,
        summary="My card's QR code (PNG)",
        operation_id="me_card_qr_png",
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            **error_responses(401, 429),
        },
    )
    def get(self, request):
        return super().get(request)


class MeCardSvgView(_CardImageView):
    image = "svg"

    @extend_schema(
        tags=ME,
        summary="My card's QR code (SVG)",
        operation_id="me_card_qr_svg",
        responses={
            (200, "image/svg+xml"): OpenApiTypes.BINARY,
            **error_responses(401, 429),
        },
    )
    def get(self, request):
        return super().get(request)


# --- Visits and export ----------------------------------------------------------


class MeVisitsView(mixins.ListModelMixin, MemberAPIView):
    serializer_class = s.VisitSerializer

    def get_queryset(self):
        return (
            Visit.objects.filter(member_id=self.member_id)
            .select_related("location")
            .prefetch_related(
                Prefetch(
                    "lines",
                    queryset=VisitLine.objects.select_related("service").order_by("pk"),
                )
            )
            .order_by("-paid_at", "-pk")
        )

    @extend_schema(
        tags=ME,
        summary="My visits, newest first",
        description=(
            "Paid, cancelled and refunded visits with their lines; paginated "
            "(?page, ?page_size)."
        ),
        responses={
            200: s.VisitSerializer(many=True),
            **error_responses(401, 404, 429),
        },
    )
    def get(self, request):
        return self.list(request)


class MeExportView(MemberAPIView):
    @extend_schema(
        tags=ME,
        summary="All my data (JSON download)",
        description=(
            "Everything Regulars holds about the member: profile, consents, "
            "visits, devices, messages, points and vouchers. Sent as an "
            "attachment `regulars-export-<id>.json`."
        ),
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 429)},
    )
    def get(self, request):
        member = Member.objects.select_related("registration_location").get(
            pk=self.member.pk
        )
        data = privacy.member_export(member=member)
        filename = f"regulars-export-{member.pk}.json"
        return Response(
            data, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
