"""The member's in-app inbox (the mobile app): ``me/messages``.

The inbox is the member's delivered in-app messages (``Message`` rows on the
``in_app`` channel with status sent). Another member's message is answered
exactly like one that does not exist (404).
"""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from members.api.auth import MemberAPIView
from members.api.common import ApiError, error_responses
from members.messaging import selectors, services
from members.models import Message

TAG = "Member: inbox"


class InboxMessageSerializer(serializers.ModelSerializer):
    title = serializers.CharField(
        source="subject", help_text="Short title; may be empty."
    )
    template = serializers.CharField(
        source="template_key",
        help_text="What the message is about, e.g. voucher_issued, points_expiring.",
    )

    class Meta:
        model = Message
        fields = ["id", "template", "title", "body", "created_at", "sent_at", "read_at"]
        read_only_fields = fields


class InboxFilterSerializer(serializers.Serializer):
    unread = serializers.BooleanField(
        required=False,
        default=None,
        allow_null=True,
        help_text="true: only messages not read yet; false: only read ones.",
    )


class InboxView(MemberAPIView):
    serializer_class = InboxMessageSerializer

    @extend_schema(
        tags=[TAG],
        summary="My in-app messages, newest first",
        description=(
            "The member's inbox: messages delivered to the app (a reward ready, "
            "points about to expire, …), paginated. `?unread=true` lists only "
            "the ones not marked read, so `count` is the badge number."
        ),
        parameters=[InboxFilterSerializer],
        responses={
            200: InboxMessageSerializer(many=True),
            **error_responses(400, 401, 429),
        },
    )
    def get(self, request):
        params = InboxFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        messages = selectors.inbox_for(self.member)
        unread = params.validated_data.get("unread")
        if unread is not None:
            messages = messages.filter(read_at__isnull=unread)
        page = self.paginate_queryset(messages)
        return self.get_paginated_response(InboxMessageSerializer(page, many=True).data)


class InboxMessageReadView(MemberAPIView):
    serializer_class = InboxMessageSerializer

    @extend_schema(
        tags=[TAG],
        summary="Mark one of my messages read",
        description="Marking a read message again changes nothing (its read_at stays).",
        request=None,
        responses={200: InboxMessageSerializer, **error_responses(401, 404, 429)},
    )
    def post(self, request, pk: int):
        message = selectors.inbox_for(self.member).filter(pk=pk).first()
        if message is None:
            raise ApiError(404, "not_found", _("No such message."))
        message = services.message_mark_read(message=message, member=self.member)
        return Response(InboxMessageSerializer(message).data)


urlpatterns = [
    path("me/messages", InboxView.as_view(), name="api-me-messages"),
    path(
        "me/messages/<int:pk>/read",
        InboxMessageReadView.as_view(),
        name="api-me-message-read",
    ),
]
