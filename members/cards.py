"""Members' card codes: the short code printed on a card and shown as a QR code.

A card code is assigned the first time it is needed (the app shows the card,
staff print one) and never changes afterwards, so a printed card keeps working.
Front desks and POS systems find the member by it (``member_by_card_code``).
"""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction

from members.models import Member

# No 0/O, 1/I/L: codes are read aloud at the front desk and typed by hand (the
# same alphabet as voucher codes).
CARD_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CARD_CODE_LENGTH = 10  # 31^10 ≈ 8e14: not guessable at any realistic rate
_ASSIGN_TRIES = 5


def code_new(length: int = CARD_CODE_LENGTH) -> str:
    """A random code in the read-aloud alphabet (cards, referral codes)."""
    return "".join(secrets.choice(CARD_CODE_ALPHABET) for _ in range(length))


def card_code_new() -> str:
    return code_new(CARD_CODE_LENGTH)


def card_code_normalize(code: str) -> str:
    """What a scanner or a person typed ("ab3k-7q…") as a stored code ("AB3K7Q…")."""
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def card_code_of(term: str) -> str | None:
    """The stored card code ``term`` could be (typed or scanned, any case, with
    dashes or spaces), or None when it cannot be one (a phone, a name…)."""
    code = card_code_normalize(term)
    if len(code) == CARD_CODE_LENGTH and all(ch in CARD_CODE_ALPHABET for ch in code):
        return code
    return None


def member_card_code(member: Member) -> str:
    """The member's card code, assigning one now if they have none.

    The assignment is a conditional ``UPDATE … WHERE card_code IS NULL``: two
    parallel first calls agree on one code (the loser reads the winner's). A
    clash with another member's code (unique index) draws again.
    """
    if member.card_code:
        return member.card_code
    for _attempt in range(_ASSIGN_TRIES):
        code = card_code_new()
        try:
            with transaction.atomic():
                assigned = Member.objects.filter(
                    pk=member.pk, card_code__isnull=True
                ).update(card_code=code)
        except IntegrityError:  # another member holds this code: draw again
            continue
        if not assigned:  # a parallel call assigned one first
            code = Member.objects.values_list("card_code", flat=True).get(pk=member.pk)
        if code:
            member.card_code = code
            return code
    raise RuntimeError("could not assign a unique card code")  # pragma: no cover


def member_by_card_code(code: str) -> Member | None:
    """The member holding card ``code`` (any case, dashes and spaces ignored)."""
    code = card_code_normalize(code)
    if not code:
        return None
    return Member.objects.filter(card_code=code).first()
