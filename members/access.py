"""Issuing, checking and revoking the API's credentials.

Member tokens come from phone sign-in (``members.otp``); POS keys from
``manage.py issue_api_key``. Both are random strings shown once and stored as
SHA-256 hashes; a revoked credential stops working on its next request.

Checking a credential is on every API request, so each process keeps the live
ones it has seen in memory (``_tokens``, ``_api_keys``), keyed by the secret's
hash, for as long as the ``CREDENTIALS`` change stamp stands (``core.stamps``):
the database bumps it when a token or key is revoked or deleted and when a
member's status changes (blocking, erasure), so every process refuses the
credential on its next request. A key's location is checked against the
``CONFIG`` stamp too (a location can be deactivated). Refusals are not cached.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core import rows, stamps
from members.models import ApiKey, Location, Member, MemberToken, OtpGuard

TOKEN_PREFIX = "rgm_"
API_KEY_PREFIX = "rgk_"
# ``last_used_at`` is refreshed at most this often, so reads stay reads.
LAST_USED_RESOLUTION = timedelta(minutes=5)
# Live tokens (and, apart, keys) a process remembers; the least recently used
# go first. An entry is a few hundred bytes: 50,000 are ~25 MB per process.
CACHE_MAX_ENTRIES = 50_000


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _secret_new(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


# --- The per-process cache -----------------------------------------------------


class _Lru:
    """A bounded map, least recently used first; safe across threads."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: tuple) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)


def _new_lru() -> _Lru:
    return _Lru(CACHE_MAX_ENTRIES)


# One map per stamp value: when the stamp moves, the next access starts an
# empty one. An entry is written only after the stamp was read (the request's
# scope reads it first), so it is never older than the stamp it sits under.
_tokens = stamps.ProcessCache(_new_lru, stamp=stamps.CREDENTIALS)
_api_keys = stamps.ProcessCache(_new_lru, stamp=stamps.CREDENTIALS)


def _fields(model, names: set[str]) -> tuple[str, ...]:
    """``names`` in the model's field order (what ``Model.from_db`` expects)."""
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in names)


# A token is cached as these values only; the member, the device and the rest
# load on first access (``MemberUser.member``), never from a stale copy.
_TOKEN_FIELDS = _fields(
    MemberToken, {"id", "member_id", "created_at", "last_used_at", "revoked_at"}
)
_TOKEN_LAST_USED = _TOKEN_FIELDS.index("last_used_at")
_TOKEN_CREATED = _TOKEN_FIELDS.index("created_at")
_T, _M = MemberToken._meta.db_table, Member._meta.db_table
_TOKEN_WHERE = (
    f"{_T}.key_hash = %s AND {_T}.revoked_at IS NULL AND EXISTS "
    f"(SELECT 1 FROM {_M} m WHERE m.id = {_T}.member_id AND m.status = %s)"
)
_API_KEY_FIELDS = _fields(
    ApiKey,
    {"id", "location_id", "name", "prefix", "created_at", "last_used_at", "revoked_at"},
)
_API_KEY_LAST_USED = _API_KEY_FIELDS.index("last_used_at")
_LOCATION_FIELDS = tuple(f.attname for f in Location._meta.concrete_fields)


def _instance(model, names: tuple[str, ...], values: tuple):
    """A fresh instance per call, never shared between requests; the fields
    not in ``names`` load from the database on first access."""
    return model.from_db(model.objects.db, names, values)


# --- Member tokens -------------------------------------------------------------


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
    stamps.changed()
    token.refresh_from_db()
    return token


def tokens_revoke_for_member(*, member: Member, actor=None) -> int:
    """Sign a member out everywhere (blocking, erasure)."""
    revoked = MemberToken.objects.filter(member=member, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )
    stamps.changed()
    return revoked


class TokenExpired(Exception):
    """The token is live but unused for longer than MEMBER_TOKEN_TTL_DAYS."""


def token_ttl() -> timedelta:
    return timedelta(days=settings.MEMBER_TOKEN_TTL_DAYS)


def token_expires_at(token: MemberToken) -> datetime:
    """When ``token`` expires unless it is used (or refreshed) before."""
    return (token.last_used_at or token.created_at) + token_ttl()


def _expired(values: tuple, now: datetime) -> bool:
    used = values[_TOKEN_LAST_USED] or values[_TOKEN_CREATED]
    return used + token_ttl() < now


def token_authenticate(raw: str) -> MemberToken | None:
    """The live token for ``raw``, or None; ``TokenExpired`` when it is live
    but has not been used for MEMBER_TOKEN_TTL_DAYS.

    Live: not revoked, and its member is active. Answered from the process's
    cache while the credentials stamp stands, else one query. The token comes
    with ``member_id`` only: ``token.member`` is one query on first access.
    Each use slides the expiry (``last_used_at``, written at most every
    LAST_USED_RESOLUTION).
    """
    if not raw.startswith(TOKEN_PREFIX):
        return None
    key_hash = secret_hash(raw)
    cache = _tokens.get()
    cached = values = cache.get(key_hash)
    now = timezone.now()
    if values is not None and _expired(values, now):
        # Another process may have seen it used since: ask the database.
        cached = values = None
    if values is None:
        # A statement written once per process (core.rows): a cold token is
        # every member's first request to each worker after a stamp moved.
        token = rows.row_find(
            MemberToken, _TOKEN_WHERE, [key_hash, Member.Status.ACTIVE]
        )
        if token is None:
            return None  # refusals are not cached: a new token is live at once
        values = tuple(getattr(token, name) for name in _TOKEN_FIELDS)
        if _expired(values, now):
            raise TokenExpired
    values = _touch(MemberToken, values, _TOKEN_LAST_USED)
    if values is not cached:
        cache.put(key_hash, values)
    return _instance(MemberToken, _TOKEN_FIELDS, values)


def token_refresh(*, token: MemberToken) -> datetime:
    """Start the token's expiry period again now (POST auth/refresh): returns
    when it expires. Refreshing twice only moves the time on."""
    now = timezone.now()
    MemberToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
    return token_expires_at(token)


def member_sessions(*, member: Member):
    """The member's live tokens (signed-in devices), the last used first."""
    since = timezone.now() - token_ttl()
    return (
        MemberToken.objects.filter(member=member, revoked_at__isnull=True)
        .filter(
            Q(last_used_at__gte=since)
            | Q(last_used_at__isnull=True, created_at__gte=since)
        )
        .order_by(F("last_used_at").desc(nulls_last=True), "-created_at")
    )


# --- POS keys --------------------------------------------------------------------


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
    stamps.changed()
    key.refresh_from_db()
    return key


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The live key for ``raw`` with its location, or None.

    Live: not revoked, and its location is active. Answered from the
    process's cache while the credentials and config stamps stand, else one
    query.
    """
    if not raw.startswith(API_KEY_PREFIX):
        return None
    key_hash = secret_hash(raw)
    with stamps.scope():  # both stamps from one read
        cache = _api_keys.get()
        config = stamps.current().get(stamps.CONFIG)
    # The location's row is cached with the key: good while the config stamp
    # (locations are config) is the one it was read under.
    entry = cache.get(key_hash)
    if entry is not None and entry[0] == config:
        _config, cached, location_values = entry
        values = cached
    else:
        cached = None
        key = (
            ApiKey.objects.select_related("location")
            .filter(
                key_hash=key_hash, revoked_at__isnull=True, location__is_active=True
            )
            .first()
        )
        if key is None:
            return None
        values = tuple(getattr(key, name) for name in _API_KEY_FIELDS)
        location_values = tuple(getattr(key.location, n) for n in _LOCATION_FIELDS)
    values = _touch(ApiKey, values, _API_KEY_LAST_USED)
    if values is not cached:
        cache.put(key_hash, (config, values, location_values))
    key = _instance(ApiKey, _API_KEY_FIELDS, values)
    key.location = Location.from_db(
        Location.objects.db, _LOCATION_FIELDS, location_values
    )
    return key


def otp_guard_unlock(*, guard: OtpGuard, actor=None) -> OtpGuard:
    """Let a locked-out phone try codes again (staff, after checking who calls).

    Clears the wrong-code counter and the lock; unlocking twice changes nothing.
    """
    OtpGuard.objects.filter(pk=guard.pk).update(failures=0, locked_until=None)
    guard.refresh_from_db()
    return guard


def _touch(model, values: tuple, index: int) -> tuple:
    """Record the credential's use, at most every ``LAST_USED_RESOLUTION``.

    ``values`` are the cached row (pk first); returns them with the new time.
    The row is written only if no process wrote it within the resolution, and
    ``last_used_at`` bumps no stamp (the triggers watch ``revoked_at``).
    """
    now = timezone.now()
    last_used_at = values[index]
    if last_used_at is not None and now - last_used_at <= LAST_USED_RESOLUTION:
        return values
    model.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION),
        pk=values[0],
    ).update(last_used_at=now)
    return (*values[:index], now, *values[index + 1 :])
