"""Writes for members: enrolment, profile changes and consents."""

from __future__ import annotations

import re
from datetime import date, datetime

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from phonenumber_field.phonenumber import PhoneNumber, to_python

from core.errors import field_error
from members import member_flow
from members.access import tokens_revoke_for_member
from members.hashing import e164_hash
from members.models import Location, Member, MemberPhone
from webhooks.services import event_emit

CONSENT_CHANNELS = ("sms", "email", "push")


def phone_normalize(raw: str | PhoneNumber) -> str:
    """Return ``raw`` in E.164 ("+79161234567") or raise ``ValidationError``.

    Numbers without a country code are read in PHONENUMBER_DEFAULT_REGION, so a
    front desk in Moscow may type "8 916 123-45-67".
    """
    if not isinstance(raw, PhoneNumber) and re.search(r"[^\W\d_]", str(raw)):
        # libphonenumber reads letters as keypad digits ("8459XGTCS4" would
        # become a valid number): a phone typed with letters is a typo.
        raise field_error(
            "phone",
            _("Enter a valid phone number, e.g. +7 916 123-45-67."),
            "invalid_phone",
        )
    number = raw if isinstance(raw, PhoneNumber) else to_python(str(raw).strip())
    if not isinstance(number, PhoneNumber) or not number.is_valid():
        raise field_error(
            "phone",
            _("Enter a valid phone number, e.g. +7 916 123-45-67."),
            "invalid_phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@transaction.atomic
def member_register(
    *,
    phone: str,
    first_name: str,
    last_name: str = "",
    email: str = "",
    birthday: date | None = None,
    registration_location: Location | None = None,
    preferences: str = "",
    consents: dict[str, bool] | None = None,
    registered_at: datetime | None = None,
    referral_code: str = "",
    channel: str = "admin",
    joined_via: str = "",
    device_id: str = "",
    ip: str | None = None,
    actor=None,
    outcome: dict | None = None,
) -> Member:
    """Enrol a new member. A phone belongs to one member only.

    ``joined_via`` (``Member.JoinedVia``) follows from ``channel`` unless given
    (an import registers through the admin channel); a friend's
    ``referral_code`` makes it a referral whatever the channel.

    The phone goes into the member's phone history (salted). The apps above
    hear of the sign-up in this transaction (``member_flow``): a friend's
    ``referral_code`` is theirs to register, and they may refuse it with a
    ``ValidationError`` that undoes the enrolment. What they did is put in
    ``outcome`` when given.
    """
    now = timezone.now()
    referral_code = (referral_code or "").strip()[:32]
    member = Member(
        joined_via=joined_via_of(
            channel=channel, joined_via=joined_via, referral_code=referral_code
        ),
        phone=phone_normalize(phone),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip().lower(),
        birthday=birthday,
        registration_location=registration_location,
        preferences=preferences,
        registered_at=registered_at or now,
    )
    for consent_channel, granted in (consents or {}).items():
        _consent_set(member, consent_channel, granted, now)
    _member_validate(member)
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise _phone_taken() from exc
    phone_history_add(member=member, at=member.registered_at)
    if referral_code:
        member.signup_referral_code = referral_code
        Member.objects.filter(pk=member.pk).update(signup_referral_code=referral_code)
    event = member_flow.MemberRegistered(
        member=member,
        channel=channel,
        referral_code=referral_code,
        device_id=(device_id or "").strip()[:128],
        ip=ip,
        actor=actor,
        outcome=outcome if outcome is not None else {},
    )
    member_flow.member_registered(event)
    event_emit(type="member.created", data=lambda: member_webhook_data(member))
    return member


_JOINED_VIA_BY_CHANNEL = {
    member_flow.Channel.APP: Member.JoinedVia.APP,
    member_flow.Channel.POS: Member.JoinedVia.TILL,
    member_flow.Channel.ADMIN: Member.JoinedVia.TILL,
}


def joined_via_of(
    *, channel: str, joined_via: str = "", referral_code: str = ""
) -> str:
    """How a member signing up through ``channel`` joined: a referral if they
    gave a friend's code, else ``joined_via`` if given, else the channel's."""
    if referral_code:
        return Member.JoinedVia.REFERRAL
    if joined_via:
        return Member.JoinedVia(joined_via)
    return _JOINED_VIA_BY_CHANNEL.get(channel, Member.JoinedVia.TILL)


def member_webhook_data(member: Member) -> dict:
    """A member in webhook events (member.created, member.updated)."""
    return {
        "member_id": member.pk,
        "phone": getattr(member.phone, "as_e164", None) or str(member.phone or ""),
        "first_name": member.first_name,
        "last_name": member.last_name,
        "email": member.email,
        "status": member.status,
    }


def member_signup_code_set(*, member: Member, code: str) -> None:
    """Note the friend's code a member joined with, if none is noted yet.

    The referrals app sets it when a member who signed up without one brings
    one later (signing in to the app with a friend's link); a set code is
    what tells the visit flow to look for a referral at all. It does not
    change ``joined_via``: the member joined before, by other means.
    """
    Member.objects.filter(pk=member.pk, signup_referral_code="").update(
        signup_referral_code=code[:32]
    )
    if not member.signup_referral_code:
        member.signup_referral_code = code[:32]


def phone_history_add(*, member: Member, at: datetime | None = None) -> None:
    """Remember the member's current phone (salted) among the phones they had."""
    MemberPhone.objects.bulk_create(
        [
            MemberPhone(
                member=member,
                # E.164, as ``privacy.phone_hash`` (erasure) hashes it: str()
                # of a phone is its display format (PHONENUMBER_DEFAULT_FORMAT).
                phone_hash=e164_hash(phone_normalize(member.phone)),
                since=at or timezone.now(),
            )
        ],
        ignore_conflicts=True,
    )


@transaction.atomic
def member_update(*, member: Member, actor=None, **fields) -> Member:
    """Change a member's profile. ``consents`` ({channel: bool}) stamps changes.
    Blocking signs the member out everywhere (``actor``: the staff user).

    Visit stats are not editable here: they follow from the visits.
    """
    editable = {
        "phone",
        "first_name",
        "last_name",
        "email",
        "birthday",
        "language",
        "registered_at",
        "registration_location",
        "preferences",
        "status",
    }
    member = Member.objects.select_for_update().get(pk=member.pk)
    if "status" in fields:
        _status_change_check(member, fields["status"])
    now = timezone.now()
    for name, value in fields.items():
        if name == "consents":
            for channel, granted in value.items():
                _consent_set(member, channel, granted, now)
        elif name in editable:
            if name == "phone":
                value = phone_normalize(value)
            elif name == "email":
                value = value.strip().lower()
            setattr(member, name, value)
        else:
            raise ValueError(f"member_update cannot change {name!r}")
    _member_validate(member)
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError as exc:
        raise _phone_taken() from exc
    if "phone" in fields:
        phone_history_add(member=member, at=now)
    if fields.get("status") == Member.Status.BLOCKED:
        # Signed out everywhere: unblocking does not bring the tokens back.
        tokens_revoke_for_member(member=member, actor=actor)
    event_emit(
        type="member.updated",
        data=lambda: {**member_webhook_data(member), "changed": sorted(fields)},
    )
    return member


def _status_change_check(member: Member, status: str) -> None:
    """Erasure is not a status to set: it is ``members.privacy.member_erase``,
    which also wipes the personal data; and an erased member stays erased."""
    if status == member.status:
        return
    if member.status == Member.Status.ERASED:
        raise field_error(
            "status",
            _("This member's personal data was erased; the status stays Erased."),
            "member_erased",
        )
    if status == Member.Status.ERASED:
        raise field_error(
            "status",
            _(
                "Erase a member's personal data with the erasure action, not the status."
            ),
            "erase_through_erasure",
        )


def _consent_set(member: Member, channel: str, granted: bool, now: datetime) -> None:
    if channel not in CONSENT_CHANNELS:
        raise field_error(
            "consents",
            _("Unknown consent channel “%(channel)s”.") % {"channel": channel},
            "invalid_consent_channel",
        )
    if getattr(member, f"consent_{channel}") != bool(granted) or member.pk is None:
        setattr(member, f"consent_{channel}", bool(granted))
        setattr(member, f"consent_{channel}_at", now)


def _member_validate(member: Member) -> None:
    # A first name may be blank: signing up in the app asks for the phone only.
    # The front desk's forms (admin, POS) ask for one.
    if Member.objects.filter(phone=member.phone).exclude(pk=member.pk).exists():
        raise _phone_taken()
    member.full_clean(exclude=["phone"], validate_unique=False)


def _phone_taken() -> ValidationError:
    return field_error(
        "phone", _("A member with this phone number already exists."), "phone_taken"
    )
