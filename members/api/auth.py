"""How API callers prove who they are.

- The mobile app: ``Authorization: Bearer <token>`` (a member token).
- A booking/POS system: ``Authorization: Api-Key <key>`` (or ``X-Api-Key``),
  a key that acts for one location.

``request.user`` is then a ``MemberUser`` or a ``PosClient``; views read
``request.user.member_id`` (no query) or ``request.user.member`` (loaded on
first access), or ``request.user.location``. Credentials are checked against
the per-process cache of ``members.access``.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.generics import GenericAPIView

from core import callers
from members import access
from members.api.common import MemberThrottle, PosThrottle
from members.models import ApiKey, Member, MemberToken


class MemberUser:
    """A signed-in member, as ``request.user``."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, token: MemberToken):
        self.token = token
        self.member_id = self.pk = self.id = token.member_id

    @property
    def member(self) -> Member:
        """The member row, read on first access (one query), then kept.

        Read per request, never from a cache: views that need only the id
        use ``member_id``.
        """
        return self.token.member

    def __str__(self) -> str:
        return f"member {self.member_id}"


class PosClient:
    """A booking/POS system, as ``request.user``: it acts for one location."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.location = api_key.location
        self.pk = self.id = None

    def __str__(self) -> str:
        return f"POS key {self.api_key.prefix}"


def _credential(request, scheme: str) -> str | None:
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() != scheme.lower().encode():
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed(
            _("Malformed Authorization header."), code="invalid_credentials"
        )
    try:
        return parts[1].decode()
    except UnicodeError as exc:
        raise exceptions.AuthenticationFailed(
            _("Malformed Authorization header."), code="invalid_credentials"
        ) from exc


class MemberTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        raw = _credential(request, self.keyword)
        if raw is None:
            return None
        try:
            token = access.token_authenticate(raw)
        except access.TokenExpired as exc:
            raise exceptions.AuthenticationFailed(
                _("The token has expired: sign in again."), code="token_expired"
            ) from exc
        if token is None:
            raise exceptions.AuthenticationFailed(
                _("The token is not valid or was revoked."), code="invalid_token"
            )
        return MemberUser(token), token

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        raw = _credential(request, self.keyword) or request.headers.get("X-Api-Key")
        if not raw:
            return None
        key = access.api_key_authenticate(raw.strip())
        if key is None:
            raise exceptions.AuthenticationFailed(
                _("The API key is not valid or was revoked."), code="invalid_api_key"
            )
        return PosClient(key), key

    def authenticate_header(self, request):
        return self.keyword


class IsMember(permissions.BasePermission):
    message = _("Sign in first.")
    code = "not_authenticated"

    def has_permission(self, request, view):
        return isinstance(request.user, MemberUser)


class IsPosClient(permissions.BasePermission):
    message = _("A POS API key is required.")
    code = "not_authenticated"

    def has_permission(self, request, view):
        return isinstance(request.user, PosClient)


class MemberTokenScheme(OpenApiAuthenticationExtension):
    target_class = MemberTokenAuthentication
    name = "memberToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Member token from POST /api/v1/auth/otp/verify.",
        }


class ApiKeySchemeExt(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "posApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Api-Key",
            "description": (
                "Per-location POS key from `manage.py issue_api_key`; also "
                "accepted as `Authorization: Api-Key <key>`."
            ),
        }


# --- Base views ---------------------------------------------------------------
# Every endpoint subclasses one of these, so authentication, permission and
# throttling are never forgotten on a new view.


class MemberAPIView(GenericAPIView):
    """An endpoint of the mobile app: a signed-in member, their own data only."""

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]
    throttle_classes = [MemberThrottle]

    @property
    def member(self) -> Member:
        return self.request.user.member

    @property
    def member_id(self) -> int:
        return self.request.user.member_id


class PosAPIView(GenericAPIView):
    """An endpoint of the POS integration: one location's key."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsPosClient]
    throttle_classes = [PosThrottle]

    @property
    def location(self):
        return self.request.user.location

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # The key is the caller of this request (``core.callers``): what is
        # counted per caller — a promo code guessed wrong — counts per key.
        key = getattr(request.user, "api_key", None)
        if key is not None:
            self._caller_token = callers.caller_set(f"pos-key:{key.pk}")

    def finalize_response(self, request, response, *args, **kwargs):
        token = getattr(self, "_caller_token", None)
        if token is not None:
            callers.caller_reset(token)
            self._caller_token = None
        return super().finalize_response(request, response, *args, **kwargs)
