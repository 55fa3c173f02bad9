"""Phone sign-in: one-time codes sent by SMS, and the brute-force lock.

Security rests on the database, not on throttling (which is per process cache
and easy to spread over many IPs):

- every request and every verification of a phone first locks its ``OtpGuard``
  row, so parallel guesses are counted one by one;
- a code allows ``OTP_MAX_ATTEMPTS`` wrong tries, then it is burnt;
- ``OTP_LOCK_AFTER`` wrong codes in a row lock the phone for
  ``OTP_LOCK_MINUTES``: no code is accepted, not even the right one;
- sending is capped per phone and per IP per hour by counting the codes sent.

Codes are kept only as HMAC-SHA256(SECRET_KEY, phone:code). Phones listed in
``OTP_TEST_NUMBERS`` get their fixed code and no SMS, and skip the resend wait
and hourly caps (they cost nothing to send), never the lock.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from members import access, member_flow
from members.messaging.services import message_send
from members.models import Member, MemberToken, Message, OtpChallenge, OtpGuard
from members.services import member_register, phone_normalize

HOUR = timedelta(hours=1)


class OtpRefused(Exception):
    """A sign-in step refused, with a stable ``code``.

    ``phone_locked``, ``otp_too_soon``, ``otp_rate_limited`` (wait
    ``retry_after`` seconds), ``otp_invalid`` (wrong code; ``attempts_left``),
    ``otp_expired`` (no live code: expired, used, burnt or never sent) and
    ``member_blocked``.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        attempts_left: int | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.attempts_left = attempts_left


@dataclass(frozen=True)
class OtpRequestResult:
    phone: str  # E.164
    expires_in: int  # seconds the code stays valid
    resend_in: int  # seconds before another code may be requested


@dataclass(frozen=True)
class OtpVerifyResult:
    member: Member
    token: MemberToken
    raw_token: str  # shown once
    created: bool  # a new member signed up
    # What the apps above did with a referral code ({} without one): the
    # referrals app says registered / held / rejected / invalid_code.
    referral: dict | None = None


def code_hash(phone: str, code: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{phone}:{code}".encode(), hashlib.sha256
    ).hexdigest()


def _code_new() -> str:
    length = settings.OTP_LENGTH
    return str(secrets.randbelow(10**length)).zfill(length)


def _test_code(phone: str) -> str | None:
    """The fixed code of a test number (keys may be written in any format)."""
    for number, code in settings.OTP_TEST_NUMBERS.items():
        try:
            if phone_normalize(number) == phone:
                return str(code).strip()
        except ValidationError:
            continue
    return None


def _ip_or_none(ip: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((ip or "").strip()))
    except ValueError:
        return None


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def _guard_lock(phone: str) -> OtpGuard:
    """The phone's guard row, created if missing, locked until commit.

    ``get_or_create`` is race-safe: a parallel creator makes the insert fail
    (after waiting for it) and the row is read again, locked.
    """
    guard, _created = OtpGuard.objects.select_for_update().get_or_create(phone=phone)
    return guard


def _locked(guard: OtpGuard, now: datetime) -> OtpRefused | None:
    if guard.locked_until is not None and guard.locked_until > now:
        return OtpRefused(
            "phone_locked",
            _("Too many wrong codes. Try again later."),
            retry_after=_seconds_until(guard.locked_until, now),
        )
    return None


# --- Request ----------------------------------------------------------------


def otp_request(
    *, phone: str, ip: str | None = None, language: str | None = None
) -> OtpRequestResult:
    """Send a new sign-in code to ``phone`` (by SMS, through the outbox).

    The answer does not depend on whether the phone belongs to a member. The
    phone's earlier live codes stop working. Refused (``OtpRefused``) while the
    phone is locked, within ``OTP_RESEND_SECONDS`` of the last code, and past
    the hourly caps per phone and per IP. ``language`` (the app's) is used for
    someone who is not a member yet or has no language set.
    """
    phone = phone_normalize(phone)
    ip = _ip_or_none(ip)
    test_code = _test_code(phone)
    ttl = settings.OTP_TTL_SECONDS
    with transaction.atomic():
        now = timezone.now()
        guard = _guard_lock(phone)
        if refusal := _locked(guard, now):
            raise refusal
        if test_code is None:
            _request_limits_check(phone=phone, ip=ip, now=now)

        OtpChallenge.objects.filter(
            phone=phone, used_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
        code = test_code or _code_new()
        OtpChallenge.objects.create(
            phone=phone,
            code_hash=code_hash(phone, code),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
            ip=ip,
        )
        if test_code is None:
            member = Member.objects.filter(phone=phone).first()
            message_send(
                channel=Message.Channel.SMS,
                template_key="otp_code",
                to=phone,
                member=member,
                context={"code": code, "minutes": max(1, math.ceil(ttl / 60))},
                kind=Message.Kind.TRANSACTIONAL,
                language=(member.language if member else "") or language or None,
            )
    return OtpRequestResult(
        phone=phone, expires_in=ttl, resend_in=settings.OTP_RESEND_SECONDS
    )


def _request_limits_check(*, phone: str, ip: str | None, now: datetime) -> None:
    live = (
        OtpChallenge.objects.filter(
            phone=phone,
            used_at__isnull=True,
            expires_at__gt=now,
            attempts__lt=settings.OTP_MAX_ATTEMPTS,
        )
        .order_by("-created_at")
        .first()
    )
    resend = timedelta(seconds=settings.OTP_RESEND_SECONDS)
    if live is not None and live.created_at + resend > now:
        resend_at = live.created_at + resend
        raise OtpRefused(
            "otp_too_soon",
            _("A code was sent a moment ago. Wait before asking for another."),
            retry_after=_seconds_until(resend_at, now),
        )
    # Counted under the phone's guard lock: parallel requests for one phone
    # cannot both slip under its cap. The IP cap is not serialised (a few over
    # at worst); it limits the spread over many phones.
    caps = [({"phone": phone}, settings.OTP_MAX_PER_PHONE_HOUR)]
    if ip:
        caps.append(({"ip": ip}, settings.OTP_MAX_PER_IP_HOUR))
    for match, cap in caps:
        sent = OtpChallenge.objects.filter(created_at__gt=now - HOUR, **match)
        times = list(
            sent.order_by("-created_at").values_list("created_at", flat=True)[:cap]
        )
        if len(times) >= cap:
            raise OtpRefused(
                "otp_rate_limited",
                _("Too many codes were requested. Try again later."),
                retry_after=_seconds_until((times[-1] if times else now) + HOUR, now),
            )


# --- Verify -----------------------------------------------------------------


def otp_verify(
    *,
    phone: str,
    code: str,
    referral_code: str = "",
    device: str = "",
    device_id: str = "",
    ip: str | None = None,
) -> OtpVerifyResult:
    """Check a sign-in code; on success sign the member in (or up).

    A wrong code is counted on the code and on the phone's guard, and that
    count is committed even though the request fails (the refusal is raised
    after the transaction). The right code is used once; the member with the
    phone is signed in, or a new member is enrolled; a ``referral_code`` is
    handed to the apps above (``member_flow``), which never refuse a sign-in
    for it: they report what they did in ``referral``. Raises ``OtpRefused``.
    """
    phone = phone_normalize(phone)
    code = "".join((code or "").split())
    with transaction.atomic():
        now = timezone.now()
        guard = _guard_lock(phone)
        refusal = _code_check(guard=guard, phone=phone, code=code, now=now)
        if refusal is None:
            # Raises member_blocked: the code stays unused (rolled back).
            result = _sign_in(
                phone=phone,
                referral_code=referral_code,
                device=device,
                device_id=device_id,
                ip=_ip_or_none(ip),
            )
    if refusal is not None:
        raise refusal
    return result


def _code_check(
    *, guard: OtpGuard, phone: str, code: str, now: datetime
) -> OtpRefused | None:
    """Compare ``code`` with the phone's live code; count a wrong one.

    Runs with the guard row locked. Returns the refusal (not raised, so the
    counting commits) or None when the code is right (then it is used).
    """
    if refusal := _locked(guard, now):
        return refusal
    fields = ["failures", "locked_until", "updated_at"]
    if guard.locked_until is not None:  # a lock that ran out: a fresh start
        guard.failures, guard.locked_until = 0, None
        guard.save(update_fields=fields)

    challenge = (
        OtpChallenge.objects.select_for_update()
        .filter(phone=phone, used_at__isnull=True)
        .order_by("-created_at", "-pk")
        .first()
    )
    max_attempts = settings.OTP_MAX_ATTEMPTS
    if (
        challenge is None
        or challenge.expires_at <= now
        or challenge.attempts >= max_attempts
    ):
        return OtpRefused(
            "otp_expired",
            _("This code has expired or was already used. Ask for a new one."),
        )

    if code and hmac.compare_digest(challenge.code_hash, code_hash(phone, code)):
        challenge.used_at = now
        challenge.save(update_fields=["used_at"])
        if guard.failures:
            guard.failures = 0
            guard.save(update_fields=fields)
        return None

    OtpChallenge.objects.filter(pk=challenge.pk).update(attempts=F("attempts") + 1)
    guard.failures += 1  # exact: the row is locked
    if guard.failures >= settings.OTP_LOCK_AFTER:
        guard.locked_until = now + timedelta(minutes=settings.OTP_LOCK_MINUTES)
    guard.save(update_fields=fields)
    return OtpRefused(
        "otp_invalid",
        _("The code is not correct."),
        attempts_left=max(0, max_attempts - challenge.attempts - 1),
    )


def _sign_in(
    *, phone: str, referral_code: str, device: str, device_id: str, ip: str | None
) -> OtpVerifyResult:
    member = Member.objects.filter(phone=phone).first()
    created = False
    outcome: dict = {}
    referral_code = (referral_code or "").strip()[:32]
    device_id = (device_id or "").strip()[:128]
    if member is None:
        try:
            member = member_register(
                phone=phone,
                first_name="",
                referral_code=referral_code,
                channel=member_flow.Channel.APP,
                device_id=device_id,
                ip=ip,
                outcome=outcome,
            )
            created = True
        except ValidationError as exc:
            # Registered at a till a moment ago: the phone is taken, sign in.
            member = Member.objects.filter(phone=phone).first()
            if member is None:
                raise exc from None
    if member.status != Member.Status.ACTIVE:
        raise OtpRefused(
            "member_blocked",
            _("This account is blocked. Please contact the salon."),
        )
    if not created:
        member_flow.member_signed_in(
            member_flow.MemberSignedIn(
                member=member,
                referral_code=referral_code,
                device_id=device_id,
                ip=ip,
                outcome=outcome,
            )
        )
    token, raw = access.token_issue(
        member=member, device=device, device_id=device_id, ip=ip
    )
    return OtpVerifyResult(
        member=member,
        token=token,
        raw_token=raw,
        created=created,
        referral=outcome.get("referral"),
    )
