"""A member's rights over their data: a copy of everything (export) and erasure.

Erasure removes what identifies the person and keeps what the business's books
need: visits, their amounts and the points ledger stay, tied to a member row
that no longer says who it was. The phone is kept only as a salted hash
(``erased_phone_hash``) so a returning number is still recognised (referrals:
only genuinely new clients count) without being readable.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from phonenumber_field.phonenumber import PhoneNumber

from audit.history import redact
from members import access, member_flow
from members.hashing import e164_hash
from members.models import (
    Member,
    MemberToken,
    Message,
    OtpChallenge,
    OtpGuard,
    Visit,
    VisitLine,
)
from members.services import phone_normalize
from webhooks import services as webhooks

# An erased member's phone column holds "+0-erased-<id>": unique (the id), kept
# as typed by the phone field (no country code starts with 0, so it never
# parses as a number), and never equal to a real number in E.164.
ERASED_PHONE_PREFIX = "+0-erased-"

EXPORT_FORMAT = "regulars-member-export/1"


def phone_hash(phone: str | PhoneNumber) -> str:
    """HMAC-SHA256 of a phone in E.164 with ``PHONE_HASH_SALT``, in hex.

    Any way of writing the number gives the same hash ("8 916 …" is read in
    PHONE_REGION). The salt must never change once set: every stored hash
    would stop matching.
    """
    try:
        e164 = phone_normalize(phone)
    except ValidationError:
        e164 = str(phone)
    return e164_hash(e164)


def phone_text(phone) -> str:
    """A member's phone as stored: E.164, or an erased member's placeholder."""
    if isinstance(phone, PhoneNumber) and phone.is_valid():
        return phone.as_e164
    return str(phone or "")


def erased_phone_placeholder(member_id: int) -> str:
    return f"{ERASED_PHONE_PREFIX}{member_id}"


@transaction.atomic
def member_erase(*, member: Member, actor=None) -> Member:
    """Erase a member's personal data; keep their visits, amounts and points.

    In one transaction, with the member row locked: the phone becomes a
    placeholder (its salted hash is kept), names, email, birthday, preferences,
    card code and consents are cleared, every token is revoked, and the texts
    and recipients of the messages sent to them are wiped, as are their
    sign-in codes. Erasing an erased member changes nothing. Signing in later
    with the same phone makes a new member.
    """
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status == Member.Status.ERASED:
        return member
    phone = phone_text(member.phone)
    # Recipients may have been written E.164 or formatted ("+7 916 …").
    recipients = {phone, str(member.phone)}
    now = timezone.now()

    member.erased_phone_hash = phone_hash(phone)
    member.phone = erased_phone_placeholder(member.pk)
    member.first_name = member.last_name = member.email = ""
    member.birthday = None
    member.preferences = ""
    member.card_code = None
    member.language = ""
    for channel in ("sms", "email", "push"):
        setattr(member, f"consent_{channel}", False)
        setattr(member, f"consent_{channel}_at", None)
    member.status = Member.Status.ERASED
    member.erased_at = now
    member.save()

    access.tokens_revoke_for_member(member=member, actor=actor)
    MemberToken.objects.filter(member=member).update(device="", device_id="", ip=None)
    # Messages to the phone before it became a member (its sign-in codes) too.
    Message.objects.filter(Q(member=member) | Q(recipient__in=recipients)).update(
        recipient="", subject="", body="", context={}
    )
    OtpChallenge.objects.filter(phone=phone).delete()
    OtpGuard.objects.filter(phone=phone).delete()
    member_flow.member_erased(member_flow.MemberErased(member=member, actor=actor))
    # Earlier member.created/updated events carry the phone and names: redacted
    # too, so a delivery still waiting sends nothing personal.
    webhooks.events_redact_member(member_id=member.pk)
    webhooks.event_emit(type="member.erased", data={"member_id": member.pk})
    # The audit trail keeps who changed which of the member's fields when, not
    # the values (names, phone, birthday) of the versions before.
    redact(Member, member.pk)
    return member


# --- Export -----------------------------------------------------------------


@functools.cache
def _section_functions(paths: tuple[str, ...]) -> tuple:
    return tuple(import_string(path) for path in paths)


def member_export(*, member: Member) -> dict:
    """Everything Regulars holds about ``member``, as JSON-ready data.

    The sections come from ``REGULARS_MEMBER_EXPORT_SECTIONS`` (each a function
    ``member -> dict``), merged in order, so every app adds what it stores.
    """
    data: dict = {
        "format": EXPORT_FORMAT,
        "generated_at": _iso(timezone.now()),
        "member_id": member.pk,
    }
    paths = tuple(settings.REGULARS_MEMBER_EXPORT_SECTIONS)
    for section in _section_functions(paths):
        data.update(section(member))
    return data


def export_section(member: Member) -> dict:
    """The members app's part of an export: profile, consents, visits, devices,
    messages and sign-in codes (never a secret's hash)."""
    visits = (
        Visit.objects.filter(member=member)
        .select_related("location")
        .prefetch_related(
            Prefetch("lines", queryset=VisitLine.objects.select_related("service")),
            "refunds",
        )
        .order_by("paid_at", "pk")
    )
    tokens = MemberToken.objects.filter(member=member).order_by("created_at", "pk")
    messages = Message.objects.filter(member=member).order_by("created_at", "pk")
    phone = phone_text(member.phone)
    codes = (
        OtpChallenge.objects.filter(phone=phone).order_by("created_at", "pk")
        if member.status != Member.Status.ERASED
        else OtpChallenge.objects.none()
    )
    return {
        "profile": {
            "id": member.pk,
            "phone": phone,
            "first_name": member.first_name,
            "last_name": member.last_name,
            "email": member.email,
            "birthday": _iso(member.birthday),
            "language": member.language,
            "preferences": member.preferences,
            "card_code": member.card_code,
            "status": member.status,
            "registered_at": _iso(member.registered_at),
            "registration_location": (
                member.registration_location.name
                if member.registration_location_id
                else None
            ),
            "signup_referral_code": member.signup_referral_code,
            "joined_via": member.joined_via,
            "erased_at": _iso(member.erased_at),
            "visits_count": member.visits_count,
            "total_spent": _money(member.total_spent),
            "first_visit_at": _iso(member.first_visit_at),
            "last_visit_at": _iso(member.last_visit_at),
        },
        "consents": {
            channel: {
                "granted": getattr(member, f"consent_{channel}"),
                "changed_at": _iso(getattr(member, f"consent_{channel}_at")),
            }
            for channel in ("sms", "email", "push")
        },
        "visits": [
            {
                "id": visit.pk,
                "paid_at": _iso(visit.paid_at),
                "location": visit.location.name,
                "status": visit.status,
                "source": visit.source,
                "total": _money(visit.total),
                "amount_paid": _money(visit.amount_paid),
                "amount_refunded": _money(visit.amount_refunded),
                "payment_method": visit.payment_method,
                "status_changed_at": _iso(visit.status_changed_at),
                "lines": [
                    {
                        "service": line.service.name,
                        "quantity": line.quantity,
                        "price": _money(line.price),
                        "refunded_quantity": line.refunded_quantity,
                    }
                    for line in visit.lines.all()
                ],
                "partial_refunds": [
                    {
                        "amount": _money(refund.amount),
                        "refunded_at": _iso(refund.created_at),
                    }
                    for refund in visit.refunds.all()
                ],
            }
            for visit in visits
        ],
        "devices": [
            {
                "token_prefix": token.prefix,
                "device": token.device,
                "created_at": _iso(token.created_at),
                "last_used_at": _iso(token.last_used_at),
                "revoked_at": _iso(token.revoked_at),
            }
            for token in tokens
        ],
        "messages": [
            {
                "channel": message.channel,
                "kind": message.kind,
                "template": message.template_key,
                "recipient": message.recipient,
                "subject": message.subject,
                "body": message.body,
                "status": message.status,
                "created_at": _iso(message.created_at),
                "sent_at": _iso(message.sent_at),
                "read_at": _iso(message.read_at),
            }
            for message in messages
        ],
        "sign_in_codes": [
            {
                "requested_at": _iso(code.created_at),
                "ip": code.ip,
                "used_at": _iso(code.used_at),
            }
            for code in codes
        ],
    }


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Decimal) -> str:
    return f"{value:.2f}"
