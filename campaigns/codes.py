"""Promo codes: normalised, read and checked for a checkout, generated in batches.

Codes are case-insensitive and use the vouchers' read-aloud alphabet (no 0/O,
1/I/L): what a member types is upper-cased and stripped of spaces and dashes.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from campaigns.models import PromoCode, Promotion
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


def _random_code(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


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


def codes_personal(
    *,
    promotion: Promotion,
    member_ids: list[int],
    batch: str,
    valid_until: datetime | None,
) -> dict[int, PromoCode]:
    """One single-use code of ``promotion`` for each member, theirs only (a
    campaign's offer): member id → code. A few statements for any number."""
    made: dict[int, PromoCode] = {}
    while len(made) < len(member_ids):
        wanted = [m for m in member_ids if m not in made]
        texts = {_random_code(BATCH_CODE_LENGTH) for _ in wanted}
        texts -= set(
            PromoCode.objects.filter(code__in=texts).values_list("code", flat=True)
        )
        rows = [
            PromoCode(promotion=promotion, code=text, batch=batch, max_uses=1,
                      valid_until=valid_until, member_id=member)
            for member, text in zip(wanted, sorted(texts), strict=False)
        ]  # fmt: skip
        try:
            with transaction.atomic():
                for row in PromoCode.objects.bulk_create(rows, batch_size=1000):
                    made[row.member_id] = row
        except IntegrityError:  # a code made meanwhile elsewhere: draw again
            continue
    return made
