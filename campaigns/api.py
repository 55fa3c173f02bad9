"""/api/v1/me/offers: the promotions a member can use now and soon (the app).

Only the signed-in member's view: promotions whose conditions about them hold,
with the public code where one is needed, or the member's own personal code
(a campaign's offer) — never a code of a batch given to others.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from campaigns.offers import Offer, offers_for
from members.api.auth import MemberAPIView
from members.api.common import error_responses


class OfferSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="rule.id")
    name = serializers.CharField(source="rule.name")
    description = serializers.CharField(source="rule.description")
    when = serializers.ChoiceField(
        choices=["now", "soon"],
        help_text="`now`: applies at this hour and day; `soon`: starts within "
        "a week, or applies at another hour or day.",
    )
    effect = serializers.CharField(help_text="What it gives, in words.")
    conditions = serializers.ListField(
        child=serializers.CharField(),
        help_text="Its conditions in words, in the request's language.",
    )
    code = serializers.CharField(
        help_text="The promo code to give at the desk, or empty: none needed."
    )
    personal = serializers.BooleanField(
        help_text="The code is the member's own (a campaign's offer): "
        "single-use, not to be shared."
    )
    code_valid_until = serializers.DateTimeField(
        allow_null=True, help_text="Until when the code can be used, if it expires."
    )
    starts_at = serializers.DateTimeField(source="rule.starts_at", allow_null=True)
    ends_at = serializers.DateTimeField(source="rule.ends_at", allow_null=True)


class OffersSerializer(serializers.Serializer):
    offers = OfferSerializer(many=True)


class OffersView(MemberAPIView):
    serializer_class = OffersSerializer

    @extend_schema(
        tags=["Member: offers"],
        operation_id="me_offers",
        summary="Promotions the member can use now and soon",
        responses={200: OffersSerializer, **error_responses(401, 403, 429)},
    )
    def get(self, request):
        offers: list[Offer] = offers_for(member=self.member)
        return Response(OffersSerializer({"offers": offers}).data)


urlpatterns = [
    path("me/offers", OffersView.as_view(), name="api-me-offers"),
]
