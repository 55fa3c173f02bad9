"""/api/v1/me/referrals…: a member's referral code, link and QR, the program's
terms, and the friends they invited (the mobile app).

Every view subclasses ``MemberAPIView``: a signed-in, active member, their own
invites only. The code is made the first time it is asked for
(``referral_code_for``). Friends are named as ``friend_name`` names them (first
name and initial), never by phone.
"""

from __future__ import annotations

from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from core.api_fields import Money
from members.api.auth import MemberAPIView
from members.api.common import error_responses
from members.api.member import MemberQrView
from referrals import selectors
from referrals.models import Referral, ReferralEvent, ReferralProgram, reason_label
from referrals.services import friend_name, referral_code_for
from referrals.terms import reward_text

TAG = "Member: referrals"
# The summary carries the newest invites; the rest are paged at me/referrals/invites.
LATEST_INVITES = 50

Reason = ReferralEvent.Reason


# --- Serializers ----------------------------------------------------------------


class RewardTermSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=ReferralProgram.RewardKind.values,
        help_text="`points`: a fixed number of points; `percent`: a percent of "
        "what the friend paid for their first visit, in points.",
    )
    value = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        coerce_to_string=True,
        help_text="Points (kind points) or a percent (kind percent).",
    )
    text = serializers.CharField(
        help_text="The reward in words, in the request's language."
    )


class ProgramTermsSerializer(serializers.Serializer):
    active = serializers.BooleanField(
        help_text="False: the program is paused; new invites earn nothing."
    )
    referrer_reward = RewardTermSerializer(help_text="What the member gets.")
    friend_reward = RewardTermSerializer(help_text="What the friend gets.")
    min_first_visit_amount = Money(
        help_text="The friend's first paid visit must be at least this (0: any)."
    )
    bonus_validity_days = serializers.IntegerField(
        help_text="Referral points expire this many days after crediting."
    )
    monthly_cap = serializers.IntegerField(
        help_text="Rewarded invites per calendar month; friends beyond it earn "
        "nothing for either side."
    )
    stacks_with_first_visit = serializers.BooleanField(
        help_text="False: the friend gets the better of the welcome reward and "
        "the first-visit discount."
    )


class ReferralStatsSerializer(serializers.Serializer):
    invited = serializers.IntegerField(help_text="Friends who signed up with the code.")
    rewarded = serializers.IntegerField(help_text="Invites that paid out.")
    points_earned = serializers.IntegerField(
        help_text="Points earned for invites (rewards taken back not counted)."
    )
    rewarded_this_month = serializers.IntegerField()
    cap_remaining = serializers.IntegerField(
        help_text="Invites that can still be rewarded this month."
    )


class InviteSerializer(serializers.Serializer):
    """One friend who signed up with the member's code."""

    id = serializers.IntegerField()
    friend = serializers.SerializerMethodField(
        help_text="First name and initial (or the phone's last digits)."
    )
    status = serializers.ChoiceField(
        choices=Referral.Status.values,
        help_text="registered → qualified → rewarded; or held (being checked), "
        "annulled (the first visit was cancelled or refunded), rejected.",
    )
    status_label = serializers.SerializerMethodField(
        help_text="The status in words, in the request's language."
    )
    reason = serializers.ChoiceField(
        choices=Reason.values,
        allow_blank=True,
        help_text="Why the invite is in its status (a stable code).",
    )
    reason_label = serializers.SerializerMethodField()
    registered_at = serializers.DateTimeField()
    qualified_at = serializers.DateTimeField(allow_null=True)
    rewarded_at = serializers.DateTimeField(allow_null=True)
    points = serializers.SerializerMethodField(
        help_text="Points the member earned for this friend (0 unless rewarded: "
        "an annulled invite's points were taken back)."
    )

    def get_friend(self, referral: Referral) -> str:
        return friend_name(referral.referee)

    def get_status_label(self, referral: Referral) -> str:
        return str(referral.get_status_display())

    def get_reason_label(self, referral: Referral) -> str:
        return reason_label(referral.reason) if referral.reason else ""

    def get_points(self, referral: Referral) -> int:
        # The same rule as stats.points_earned, so the invites add up to it.
        if referral.status != Referral.Status.REWARDED:
            return 0
        return referral.referrer_points


class ReferralsSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The member's personal code.")
    link = serializers.CharField(
        help_text="The link to share: the landing page, or REFERRAL_LINK_TEMPLATE."
    )
    qr_png_url = serializers.URLField(help_text="The link as a QR code (PNG).")
    qr_svg_url = serializers.URLField(help_text="The link as a QR code (SVG).")
    program = ProgramTermsSerializer()
    stats = ReferralStatsSerializer()
    invites = InviteSerializer(
        many=True,
        help_text=f"The {LATEST_INVITES} newest invites; all of them, paginated, "
        "at me/referrals/invites.",
    )


def _reward(kind: str, value) -> dict:
    return {"kind": kind, "value": value, "text": reward_text(kind, value)}


def program_terms(program: ReferralProgram) -> dict:
    return {
        "active": program.is_active,
        "referrer_reward": _reward(
            program.referrer_reward_kind, program.referrer_reward_value
        ),
        "friend_reward": _reward(
            program.friend_reward_kind, program.friend_reward_value
        ),
        "min_first_visit_amount": program.min_first_visit_amount,
        "bonus_validity_days": program.bonus_validity_days,
        "monthly_cap": program.monthly_cap,
        "stacks_with_first_visit": program.stacks_with_first_visit,
    }


# --- Views ----------------------------------------------------------------------


class ReferralsView(MemberAPIView):
    """A fixed number of queries whatever the number of invites: the code,
    the program, one aggregate for the stats, one page of invites."""

    @extend_schema(
        tags=[TAG],
        summary="My referral code, link and QR, the terms, my invites",
        description=(
            "Everything the app's *Invite a friend* screen needs: the member's "
            "code (made on first use), the link to share and its QR images, "
            "the program's terms (also when paused: `program.active` false), "
            "what the invites brought, and the "
            f"{LATEST_INVITES} newest invites. Error codes: `not_authenticated`, "
            "`invalid_token` (401), `throttled` (429)."
        ),
        responses={200: ReferralsSerializer, **error_responses(401, 429)},
    )
    def get(self, request):
        member = self.member
        code = referral_code_for(member=member).code
        stats = selectors.referrer_stats(member=member)
        invites = list(selectors.referrals_made(member=member)[:LATEST_INVITES])
        data = {
            "code": code,
            "link": selectors.referral_link(code, request=request),
            "qr_png_url": request.build_absolute_uri(reverse("api-me-referrals-png")),
            "qr_svg_url": request.build_absolute_uri(reverse("api-me-referrals-svg")),
            "program": program_terms(selectors.program()),
            "stats": {
                "invited": stats.invited,
                "rewarded": stats.rewarded,
                "points_earned": stats.points_earned,
                "rewarded_this_month": stats.rewarded_this_month,
                "cap_remaining": stats.cap_remaining,
            },
            "invites": invites,
        }
        return Response(ReferralsSerializer(data).data)


class ReferralInvitesView(MemberAPIView):
    serializer_class = InviteSerializer

    @extend_schema(
        tags=[TAG],
        summary="All my invites, newest first",
        description=(
            "Every friend who signed up with the member's code, paginated "
            "(?page, ?page_size). Error codes: `not_authenticated`, "
            "`invalid_token` (401), `not_found` (404: a page past the last), "
            "`throttled` (429)."
        ),
        responses={200: InviteSerializer(many=True), **error_responses(401, 404, 429)},
    )
    def get(self, request):
        page = self.paginate_queryset(selectors.referrals_made(member=self.member))
        return self.get_paginated_response(InviteSerializer(page, many=True).data)


class _ReferralQrView(MemberQrView):
    """The member's link as a QR image, drawn like the card's."""

    def qr_text(self, request) -> str:
        code = referral_code_for(member=self.member).code
        return selectors.referral_link(code, request=request)


class ReferralQrPngView(_ReferralQrView):
    image = "png"

    @extend_schema(
        tags=[TAG],
        summary="My referral link's QR code (PNG)",
        operation_id="me_referrals_qr_png",
        description="Error codes: `not_authenticated`, `invalid_token` (401), "
        "`throttled` (429).",
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            **error_responses(401, 429),
        },
    )
    def get(self, request):
        return super().get(request)


class ReferralQrSvgView(_ReferralQrView):
    image = "svg"

    @extend_schema(
        tags=[TAG],
        summary="My referral link's QR code (SVG)",
        operation_id="me_referrals_qr_svg",
        description="Error codes: `not_authenticated`, `invalid_token` (401), "
        "`throttled` (429).",
        responses={
            (200, "image/svg+xml"): OpenApiTypes.BINARY,
            **error_responses(401, 429),
        },
    )
    def get(self, request):
        return super().get(request)


urlpatterns = [
    path("me/referrals", ReferralsView.as_view(), name="api-me-referrals"),
    path(
        "me/referrals/invites",
        ReferralInvitesView.as_view(),
        name="api-me-referral-invites",
    ),
    path(
        "me/referrals/qr.png", ReferralQrPngView.as_view(), name="api-me-referrals-png"
    ),
    path(
        "me/referrals/qr.svg", ReferralQrSvgView.as_view(), name="api-me-referrals-svg"
    ),
]
