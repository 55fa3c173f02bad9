"""The member's sessions: the devices signed in with their tokens, refreshing
this one, signing one out.

A token expires MEMBER_TOKEN_TTL_DAYS after its last use (each request, or
``POST auth/refresh``, starts the period again); an expired token answers
401 ``token_expired``, so the app asks the member to sign in again.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from members import access
from members.api.auth import MemberAPIView
from members.api.common import error_responses
from members.models import MemberToken

SIGN_IN = ["Sign-in"]
ME = ["Me"]


class SessionSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField(
        help_text="True for the token of this request."
    )
    expires_at = serializers.SerializerMethodField(
        help_text="When it expires unless used before."
    )

    class Meta:
        model = MemberToken
        fields = [
            "id",
            "device",
            "ip",
            "created_at",
            "last_used_at",
            "expires_at",
            "current",
        ]

    def get_current(self, token: MemberToken) -> bool:
        return token.pk == self.context["request"].user.token.pk

    def get_expires_at(self, token: MemberToken) -> str:
        return serializers.DateTimeField().to_representation(
            access.token_expires_at(token)
        )


class RefreshView(MemberAPIView):
    serializer_class = serializers.Serializer  # no body (OPTIONS describes it)

    @extend_schema(
        tags=SIGN_IN,
        summary="Keep this token signed in",
        description=(
            "Starts the token's expiry period again (every request does too) "
            "and says when it now expires. An expired token cannot be "
            "refreshed: it answers 401 `token_expired`, and the member signs "
            "in again."
        ),
        request=None,
        responses={
            200: inline_serializer(
                name="TokenRefresh",
                fields={"expires_at": serializers.DateTimeField()},
            ),
            **error_responses(401, 429),
        },
    )
    def post(self, request):
        expires_at = access.token_refresh(token=request.user.token)
        return Response(
            {"expires_at": serializers.DateTimeField().to_representation(expires_at)}
        )


class SessionListView(mixins.ListModelMixin, MemberAPIView):
    serializer_class = SessionSerializer

    def get_queryset(self):
        return access.member_sessions(member=self.member)

    @extend_schema(
        tags=ME,
        summary="My signed-in devices",
        description=(
            "The tokens that still work, the last used first: the device the "
            "app named at sign-in, where it signed in from, when it was last "
            "used (to within minutes) and when it expires; paginated."
        ),
        responses={
            200: SessionSerializer(many=True),
            **error_responses(401, 404, 429),
        },
    )
    def get(self, request):
        return self.list(request)


class SessionDetailView(MemberAPIView):
    serializer_class = serializers.Serializer

    @extend_schema(
        tags=ME,
        summary="Sign a device out",
        description=(
            "Revokes one of my tokens (this one too, if its id is given). "
            "Signing out a device already signed out changes nothing (204); "
            "another member's session is 404 `not_found`."
        ),
        request=None,
        responses={204: None, **error_responses(401, 404, 429)},
    )
    def delete(self, request, pk: int):
        token = MemberToken.objects.filter(pk=pk, member_id=self.member_id).first()
        if token is None:
            raise NotFound
        access.token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
