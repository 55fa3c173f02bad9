"""Promo codes: normalised, read and checked for a checkout, generated in batches.

Codes are case-insensitive and use the vouchers' read-aloud alphabet (no 0/O,
1/I/L): what a member types is upper-cased and stripped of spaces and dashes.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import PromoCode, Promotion
from core.bulk import rows_copy
from core.errors import field_error
from rewards.services.vouchers import CODE_ALPHABET

MAX_CODES = 5  # in one checkout
BATCH_CODE_LENGTH = 8
MAX_BATCH = 100_000


def code_normalize(code) -> str:
    return "".join(str(code or "").split()).replace("-", "").upper()


def code_error(code: str, message: str):
    return field_error("promo_codes", message, code)


def codes_read(typed, *, at: datetime, member_id: int) -> list[PromoCode]:
    """The promo codes a checkout typed, each usable now (else a ``promo_codes``
    error with a stable code). One query, none without codes."""
    codes = [c for c in map(code_normalize, typed or []) if c]
    if not codes:
        return []
    if len(codes) > MAX_CODES:
        raise code_error(
            "promo_code_too_many",
            _("At most %(n)d promo codes in one visit.") % {"n": MAX_CODES},
        )
    if len(set(codes)) != len(codes):
        raise code_error(
            "promo_code_duplicate", _("The same promo code is entered twice.")
        )
    found = {
        c.code: c
        for c in PromoCode.objects.select_related("promotion").filter(code__in=codes)
    }
    result, promotions = [], set()
    for text in codes:
        code = found.get(text)
        if code is not None and code.member_id and code.member_id != member_id:
            code = None  # another member's personal code: as if it did not exist
        if code is None:
            raise code_error(
                "promo_code_not_found", _("No promo code %(code)s.") % {"code": text}
            )
        if (
            (code.valid_from and at < code.valid_from)
            or (code.valid_until and at >= code.valid_until)
            or code.promotion.status in (Promotion.Status.ENDED, Promotion.Status.DRAFT)
            or (code.promotion.ends_at is not None and at >= code.promotion.ends_at)
        ):
            raise code_error(
                "promo_code_expired",
                _("Promo code %(code)s is not valid now.") % {"code": text},
            )
        if code.max_uses is not None and code.uses >= code.max_uses:
            raise code_error(
                "promo_code_used_up",
                _("Promo code %(code)s has been used up.") % {"code": text},
            )
        if code.promotion_id in promotions:
            raise code_error(
                "promo_code_duplicate",
                _("Two codes of one promotion: %(code)s.") % {"code": text},
            )
        promotions.add(code.promotion_id)
        result.append(code)
    return result


_UNBIASED = 256 - 256 % len(CODE_ALPHABET)  # bytes at or above it are drawn again


def _random_code(length: int) -> str:
    """``length`` characters of the alphabet, uniformly (one ``urandom`` read,
    not one per character: a campaign draws 100,000 codes)."""
    out: list[str] = []
    while len(out) < length:
        out.extend(
            CODE_ALPHABET[b % len(CODE_ALPHABET)]
            for b in secrets.token_bytes(length + 4)
            if b < _UNBIASED
        )
    return "".join(out[:length])


def codes_generate(
    *,
    promotion: Promotion,
    count: int,
    batch: str,
    prefix: str = "",
    valid_until: datetime | None = None,
) -> list[PromoCode]:
    """``count`` unique single-use codes for ``promotion`` in one batch."""
    if not 1 <= count <= MAX_BATCH:
        raise ValueError(f"count must be 1…{MAX_BATCH}")
    prefix = code_normalize(prefix)
    created: list[PromoCode] = []
    while len(created) < count:
        wanted = count - len(created)
        texts = {prefix + _random_code(BATCH_CODE_LENGTH) for _ in range(wanted)}
        taken = set(
            PromoCode.objects.filter(code__in=texts).values_list("code", flat=True)
        )
        rows = [
            PromoCode(
                promotion=promotion, code=text, batch=batch, max_uses=1,
                valid_until=valid_until,
            )
            for text in sorted(texts - taken)
        ]  # fmt: skip
        try:
            with transaction.atomic():
                created.extend(PromoCode.objects.bulk_create(rows))
        except IntegrityError:  # a code made meanwhile elsewhere: draw again
            continue
    return created


class PersonalCode(NamedTuple):
    pk: int
    code: str


PERSONAL_COLUMNS = (
    "promotion_id", "member_id", "code", "batch", "max_uses", "uses",
    "valid_from", "valid_until", "created_at",
)  # fmt: skip


def codes_personal(
    *,
    promotion: Promotion,
    member_ids: list[int],
    batch: str,
    valid_until: datetime | None,
) -> dict[int, PersonalCode]:
    """One single-use code of ``promotion`` for each member, theirs only (a
    campaign's offer): member id → (code id, code). One ``rows_copy`` for any
    number; a code drawn twice (here or by anyone meanwhile) is turned away
    by the unique index and drawn again for that member."""
    made: dict[int, PersonalCode] = {}
    now = timezone.now()
    while len(made) < len(set(member_ids)):
        rows = [
            (promotion.pk, member, _random_code(BATCH_CODE_LENGTH), batch, 1, 0,
             None, valid_until, now)
            for member in dict.fromkeys(member_ids) if member not in made
        ]  # fmt: skip
        for pk, member, code in rows_copy(
            PromoCode, PERSONAL_COLUMNS, rows, returning=("id", "member_id", "code")
        ):
            made[member] = PersonalCode(pk, code)
    return made
