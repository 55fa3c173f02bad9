"""The member's points, tier, reward catalogue and vouchers (the mobile app).

Every view reads only ``self.member``'s rows: an object of another member is
answered exactly like one that does not exist (404), so ids cannot be probed.
Views are thin: selectors read, ``rewards.services`` act, serializers shape.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from members.api.auth import MemberAPIView
from members.api.common import REPLAYED_HEADER, ApiError, error_responses
from rewards import selectors
from rewards.api.serializers import (
    CatalogueRewardSerializer,
    LedgerEntrySerializer,
    PointsSerializer,
    TierStatusSerializer,
    VoucherDetailSerializer,
    VoucherFilterSerializer,
    VoucherResultSerializer,
    VoucherSerializer,
    tier_status_data,
)
from rewards.models import Reward, Voucher
from rewards.services.vouchers import reward_redeem_once, voucher_cancel

TAG = "Member: points and rewards"
IDEMPOTENCY_KEY_MAX = 100

IDEMPOTENCY_KEY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": IDEMPOTENCY_KEY_MAX,
        "pattern": "^[ -~]+$",
    },
    OpenApiParameter.HEADER,
    required=True,
    description=(
        "A key the app makes up for this redemption (a UUID, say), 1–100 "
        "printable ASCII characters. Sending the same request again with the "
        "same key returns the first response and buys nothing twice; the same "
        "key for another reward is a 409 `idempotency_key_reused`."
    ),
)


def idempotency_key(request) -> str:
    """The request's ``Idempotency-Key``, or a 400 with a stable code."""
    key = request.headers.get("Idempotency-Key", "")
    if not key:
        raise ApiError(
            400,
            "idempotency_key_required",
            _("Send an Idempotency-Key header with this request."),
        )
    if len(key) > IDEMPOTENCY_KEY_MAX or not all(" " <= ch <= "~" for ch in key):
        raise ApiError(
            400,
            "idempotency_key_invalid",
            _("The Idempotency-Key must be 1–100 printable ASCII characters."),
        )
    return key


# The hottest screen's output serializer, built once per process: DRF
# deep-copies a serializer's fields for every new instance.
POINTS_OUT = PointsSerializer()


class MemberView(MemberAPIView):
    # No OPTIONS metadata: DRF's describes the POST input from
    # ``serializer_class``, which these views have none of (they take no body),
    # and fails with a 500. OPTIONS answers 405 like any other unlisted method.
    metadata_class = None


# --- Points -------------------------------------------------------------------


class PointsView(MemberView):
    """Available, pending and debt points, their money value, and what expires
    when: the total within the program's warning days and the next dates."""

    @extend_schema(
        tags=[TAG],
        summary="My points: balances, their value, what expires when",
        responses={200: PointsSerializer, **error_responses(401, 429)},
    )
    def get(self, request):
        # The id is enough: no member row is read (one query, settings cached).
        overview = selectors.points_overview(member=self.member_id)
        return Response(POINTS_OUT.to_representation(overview))


class TransactionsView(MemberView):
    """Every movement of the member's points, newest first, with a sentence
    explaining it in the request's language (Accept-Language)."""

    serializer_class = LedgerEntrySerializer

    @extend_schema(
        tags=[TAG],
        summary="My points history, newest first, each entry explained",
        responses={
            200: LedgerEntrySerializer(many=True),
            **error_responses(401, 404, 429),
        },
    )
    def get(self, request):
        entries = (
            selectors.member_ledger(member=self.member)
            .select_related(None)
            .order_by("-seq")
        )
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(LedgerEntrySerializer(page, many=True).data)


# --- Tier ---------------------------------------------------------------------


class TierView(MemberView):
    """The current tier and its benefits, whether the member is at risk of
    dropping (and when, to which tier), progress to the next tier in the
    qualification window, and every tier with its thresholds."""

    @extend_schema(
        tags=[TAG],
        summary="My tier: benefits, at-risk warning, progress, every tier",
        responses={200: TierStatusSerializer, **error_responses(401, 429)},
    )
    def get(self, request):
        overview = selectors.tier_overview(member=self.member)
        return Response(TierStatusSerializer(tier_status_data(overview)).data)


# --- Rewards ------------------------------------------------------------------


class RewardsView(MemberView):
    """Rewards on offer now. `can_redeem` and `reason` say whether a
    redemption would succeed now, and if not the error code it would get."""

    serializer_class = CatalogueRewardSerializer

    @extend_schema(
        tags=[TAG],
        summary="The reward catalogue, with whether I can redeem each now",
        responses={
            200: CatalogueRewardSerializer(many=True),
            **error_responses(401, 404, 429),
        },
    )
    def get(self, request):
        now = timezone.now()
        rewards = selectors.rewards_catalogue_for(member=self.member, now=now)
        page = self.paginate_queryset(rewards)
        # One wallet read for the whole page: the reason of each reward is
        # computed in memory, so the query count does not grow with the page.
        state = selectors.redeemer_state(member=self.member)
        refusals = {
            reward.pk: selectors.reward_refusal(reward, state=state, now=now)
            for reward in page
        }
        data = CatalogueRewardSerializer(
            page, many=True, context={"refusals": refusals}
        ).data
        return self.get_paginated_response(data)


class RewardRedeemView(MemberView):
    """Buy a reward with points."""

    @extend_schema(
        tags=[TAG],
        summary="Buy a reward with points (idempotent by Idempotency-Key)",
        description=(
            "Deducts the reward's points and issues a voucher, atomically. A retry "
            "with the same key answers 201 with the same voucher (as it stands "
            "now) and the header `Idempotent-Replayed: true`, and changes "
            "nothing. Refusals (400) carry the reason code the "
            "catalogue shows: `reward_not_available`, `tier_too_low`, "
            "`limit_reached`, "
            "`points_insufficient`, `out_of_stock`."
        ),
        request=None,
        parameters=[
            IDEMPOTENCY_KEY_HEADER,
            OpenApiParameter(
                REPLAYED_HEADER,
                str,
                OpenApiParameter.HEADER,
                response=[201],
                description="`true` when this key had redeemed the reward before.",
            ),
        ],
        responses={
            201: VoucherResultSerializer,
            **error_responses(400, 401, 404, 409, 429),
        },
    )
    def post(self, request, pk: int):
        key = idempotency_key(request)
        # Any reward that exists, active or not: a retry of a redemption made
        # before the reward was withdrawn must still get its voucher back, and
        # the service refuses new redemptions of an inactive one.
        reward = Reward.objects.filter(pk=pk).first()
        if reward is None:
            raise ApiError(404, "not_found", _("No such reward."))
        redemption = reward_redeem_once(
            member=self.member, reward=reward, idempotency_key=key
        )
        response = Response(
            VoucherResultSerializer({"voucher": redemption.voucher}).data,
            status=status.HTTP_201_CREATED,
        )
        if redemption.replayed:
            response[REPLAYED_HEADER] = "true"
        return response


# --- Vouchers -----------------------------------------------------------------


def _voucher_filter(queryset, wanted: str | None, now):
    """Filter by the status the member sees (an active voucher past its date
    reads as expired)."""
    if not wanted:
        return queryset
    active, expired = Voucher.Status.ACTIVE, Voucher.Status.EXPIRED
    if wanted == active:
        return queryset.filter(status=active, valid_until__gt=now)
    if wanted == expired:
        return queryset.filter(status__in=[active, expired]).exclude(
            status=active, valid_until__gt=now
        )
    return queryset.filter(status=wanted)


class MemberVoucherMixin:
    def voucher_of_member(self, pk: int) -> Voucher:
        voucher = selectors.member_vouchers(member=self.member).filter(pk=pk).first()
        if voucher is None:
            raise ApiError(404, "not_found", _("No such voucher."))
        return voucher


class VouchersView(MemberView):
    """The member's vouchers, newest first. An active voucher past its date
    is shown (and filtered) as expired."""

    serializer_class = VoucherSerializer

    @extend_schema(
        tags=[TAG],
        summary="My vouchers, newest first",
        parameters=[VoucherFilterSerializer],
        responses={
            200: VoucherSerializer(many=True),
            **error_responses(400, 401, 404, 429),
        },
    )
    def get(self, request):
        params = VoucherFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        vouchers = _voucher_filter(
            selectors.member_vouchers(member=self.member),
            params.validated_data.get("status"),
            timezone.now(),
        ).order_by("-issued_at", "-id")
        page = self.paginate_queryset(vouchers)
        return self.get_paginated_response(VoucherSerializer(page, many=True).data)


class VoucherView(MemberVoucherMixin, MemberView):
    """One voucher of the member's, with its code as a QR image (inline SVG)
    to show at the front desk. Another member's voucher is a 404."""

    @extend_schema(
        tags=[TAG],
        summary="One of my vouchers, with its QR code",
        responses={200: VoucherDetailSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request, pk: int):
        voucher = self.voucher_of_member(pk)
        return Response(VoucherDetailSerializer(voucher).data)


class VoucherCancelView(MemberVoucherMixin, MemberView):
    """Cancel an unused voucher."""

    @extend_schema(
        tags=[TAG],
        summary="Cancel an unused voucher: its points come back",
        description=(
            "The voucher's points come back, paying off a points debt first. "
            "Cancelling a cancelled voucher again answers 200 and changes nothing. "
            "A used or expired voucher is a 400 `voucher_not_active`."
        ),
        request=None,
        responses={
            200: VoucherResultSerializer,
            **error_responses(400, 401, 404, 429),
        },
    )
    def post(self, request, pk: int):
        voucher = self.voucher_of_member(pk)
        if (
            voucher.status == Voucher.Status.ACTIVE
            and voucher.valid_until <= timezone.now()
        ):
            # Past its date but not yet marked by the nightly job: it is
            # expired for the member, and an expired voucher gives nothing back.
            raise ValidationError(
                _("Voucher %(code)s has expired and cannot be cancelled.")
                % {"code": voucher.code},
                code="voucher_not_active",
            )
        voucher = voucher_cancel(voucher=voucher)
        return Response(VoucherResultSerializer({"voucher": voucher}).data)
