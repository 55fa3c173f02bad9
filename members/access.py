"""Issuing, checking and revoking the API's credentials.

Member tokens come from phone sign-in (``members.otp``); POS keys from
``manage.py issue_api_key``. Both are random strings shown once and stored as
SHA-256 hashes; a revoked credential stops working on its next request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from members.models import ApiKey, Location, Member, MemberToken, OtpGuard

TOKEN_PREFIX = "rgm_"
API_KEY_PREFIX = "rgk_"
# ``last_used_at`` is refreshed at most this often, so reads stay reads.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _secret_new(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


@transaction.atomic
def token_issue(
    *, member: Member, device: str = "", device_id: str = "", ip: str | None = None
) -> tuple[MemberToken, str]:
    """A new bearer token for ``member``: (the row, the token shown once).

    ``device_id`` and ``ip`` say where the sign-in came from (fraud checks).
    """
    raw = _secret_new(TOKEN_PREFIX)
    token = MemberToken.objects.create(
        member=member,
        key_hash=secret_hash(raw),
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        device=device[:200],
        device_id=(device_id or "").strip()[:128],
        ip=ip or None,
    )
    return token, raw


def token_revoke(*, token: MemberToken, actor=None) -> MemberToken:
    """Revoke a token (sign-out, or staff). Revoking twice changes nothing."""
    MemberToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )
    token.refresh_from_db()
    return token


def tokens_revoke_for_member(*, member: Member, actor=None) -> int:
    """Sign a member out everywhere (blocking, erasure)."""
    return MemberToken.objects.filter(member=member, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )


def token_authenticate(raw: str) -> MemberToken | None:
    """The live token for ``raw`` with its member, or None. One query."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        MemberToken.objects.select_related("member")
        .filter(key_hash=secret_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or token.member.status != Member.Status.ACTIVE:
        return None
    _touch(MemberToken, token)
    return token


@transaction.atomic
def api_key_issue(
    *, location: Location, name: str = "", actor=None
) -> tuple[ApiKey, str]:
    """A new POS key for ``location``: (the row, the key shown once)."""
    raw = _secret_new(API_KEY_PREFIX)
    key = ApiKey.objects.create(
        location=location,
        name=name[:120],
        key_hash=secret_hash(raw),
        prefix=raw[: len(API_KEY_PREFIX) + 6],
        created_by=actor,
    )
    return key, raw


def api_key_revoke(*, key: ApiKey, actor=None) -> ApiKey:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )
    key.refresh_from_db()
    return key


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The live key for ``raw`` with its location, or None. One query."""
    if not raw.startswith(API_KEY_PREFIX):
        return None
    key = (
        ApiKey.objects.select_related("location")
        .filter(key_hash=secret_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if key is None or not key.location.is_active:
        return None
    _touch(ApiKey, key)
    return key


def otp_guard_unlock(*, guard: OtpGuard, actor=None) -> OtpGuard:
    """Let a locked-out phone try codes again (staff, after checking who calls).

    Clears the wrong-code counter and the lock; unlocking twice changes nothing.
    """
    OtpGuard.objects.filter(pk=guard.pk).update(failures=0, locked_until=None)
    guard.refresh_from_db()
    return guard


def _touch(model, obj) -> None:
    now = timezone.now()
    if obj.last_used_at is None or now - obj.last_used_at > LAST_USED_RESOLUTION:
        model.objects.filter(pk=obj.pk).update(last_used_at=now)
        obj.last_used_at = now
