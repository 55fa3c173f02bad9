"""Writes of the campaigns app that are not plain edits of a promotion's terms:
copying a promotion, moving it through its statuses, making promo codes.

The checkout's own writes (redemptions, usage, code uses) live in
``campaigns.flow``; a promotion's terms are edited in the admin's form.
"""

from __future__ import annotations

import string
import time
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import codes, segments
from campaigns.benefits import KIND
from campaigns.models import PromoCode, Promotion, Segment
from campaigns.rules import PREFETCH, previewing, rule_of
from core.errors import field_error
from members.models import Location, Member, Service
from members.services import VisitLineInput
from rewards.services import checkout_quote
from rewards.services.vouchers import CODE_ALPHABET

Status = Promotion.Status

# Where each status may go. "Ended" is final: a promotion to run again is
# duplicated, so its redemptions and budget stay with the one that gave them.
STATUS_MOVES: dict[str, frozenset[str]] = {
    Status.DRAFT: frozenset({Status.ACTIVE, Status.ENDED}),
    Status.ACTIVE: frozenset({Status.PAUSED, Status.ENDED}),
    Status.PAUSED: frozenset({Status.ACTIVE, Status.ENDED}),
    Status.ENDED: frozenset(),
}

# Codes a person types: the voucher alphabet, and for public codes chosen by
# marketing ("SUMMER10") any Latin letter or digit; nothing else survives
# a till's keyboard or an SMS reliably.
CODE_CHARACTERS = frozenset(CODE_ALPHABET) | frozenset(
    string.digits + string.ascii_uppercase
)
CODE_MIN_LENGTH = 3
CODE_MAX_LENGTH = PromoCode._meta.get_field("code").max_length
PREFIX_MAX_LENGTH = CODE_MAX_LENGTH - codes.BATCH_CODE_LENGTH


def status_move_allowed(current: str, new: str) -> bool:
    """Whether a promotion in ``current`` may be put in ``new`` (staying put is)."""
    return current == new or new in STATUS_MOVES.get(current, frozenset())


@transaction.atomic
def promotion_duplicate(*, promotion: Promotion, actor=None) -> Promotion:
    """A draft copy of ``promotion``: the same terms and condition lists, named
    "… (copy)", with no codes, redemptions or usage of its own."""
    copy = Promotion.objects.get(pk=promotion.pk)
    copy.pk = None
    copy._state.adding = True
    name_max = Promotion._meta.get_field("name").max_length
    suffix = _(" (copy)")
    copy.name = copy.name[: name_max - len(suffix)] + suffix
    copy.status = Status.DRAFT
    copy.save()
    for field in Promotion._meta.many_to_many:
        getattr(copy, field.name).set(getattr(promotion, field.name).all())
    return copy


@transaction.atomic
def promotion_status_set(*, promotion: Promotion, status: str, actor=None) -> Promotion:
    """Move ``promotion`` to ``status`` along ``STATUS_MOVES``; the same status
    again changes nothing. Anything else is refused with
    ``promotion_status_not_allowed``."""
    row = Promotion.objects.select_for_update().get(pk=promotion.pk)
    if status not in Status.values or not status_move_allowed(row.status, status):
        raise field_error(
            "status",
            _("A promotion that is %(current)s cannot be made %(new)s.")
            % {
                "current": row.get_status_display(),
                "new": Status(status).label if status in Status.values else status,
            },
            "promotion_status_not_allowed",
        )
    if row.status != status:
        row.status = status
        row.save(update_fields=["status", "updated_at"])
    promotion.status = row.status
    return row


def _code_characters_check(text: str, field: str) -> None:
    wrong = sorted(set(text) - CODE_CHARACTERS)
    if wrong:
        raise field_error(
            field,
            _("Only Latin letters and digits, not %(chars)s.")
            % {"chars": " ".join(wrong)},
            "promo_code_bad_characters",
        )


@transaction.atomic
def promo_codes_generate(
    *,
    promotion: Promotion,
    count: int,
    batch: str,
    prefix: str = "",
    valid_until: datetime | None = None,
) -> list[PromoCode]:
    """``count`` new single-use codes of ``promotion``, all or none."""
    if not 1 <= count <= codes.MAX_BATCH:
        raise field_error(
            "count",
            _("From 1 to %(max)d codes at a time.") % {"max": codes.MAX_BATCH},
            "promo_code_batch_size",
        )
    prefix = codes.code_normalize(prefix)
    _code_characters_check(prefix, "prefix")
    if len(prefix) > PREFIX_MAX_LENGTH:
        raise field_error(
            "prefix",
            _("At most %(n)d characters.") % {"n": PREFIX_MAX_LENGTH},
            "promo_code_prefix_too_long",
        )
    return codes.codes_generate(
        promotion=promotion,
        count=count,
        batch=batch.strip(),
        prefix=prefix,
        valid_until=valid_until,
    )


def promo_code_public_check(code: str) -> str:
    """``code`` normalised, or a ``code`` error if it cannot be a new code."""
    text = codes.code_normalize(code)
    _code_characters_check(text, "code")
    if not CODE_MIN_LENGTH <= len(text) <= CODE_MAX_LENGTH:
        raise field_error(
            "code",
            _("From %(min)d to %(max)d characters.")
            % {"min": CODE_MIN_LENGTH, "max": CODE_MAX_LENGTH},
            "promo_code_length",
        )
    if PromoCode.objects.filter(code=text).exists():
        raise field_error(
            "code",
            _("The code %(code)s is taken.") % {"code": text},
            "promo_code_taken",
        )
    return text


def promo_code_public_create(
    *,
    promotion: Promotion,
    code: str,
    max_uses: int | None = None,
    valid_until: datetime | None = None,
    valid_from: datetime | None = None,
) -> PromoCode:
    """One code chosen by people ("SUMMER10"), normalised as the till reads it;
    ``max_uses`` None is unlimited. A taken code is ``promo_code_taken``."""
    text = promo_code_public_check(code)
    try:
        with transaction.atomic():
            return PromoCode.objects.create(
                promotion=promotion,
                code=text,
                max_uses=max_uses,
                valid_from=valid_from,
                valid_until=valid_until,
            )
    except IntegrityError:  # made meanwhile by someone else
        raise field_error(
            "code",
            _("The code %(code)s is taken.") % {"code": text},
            "promo_code_taken",
        ) from None


@dataclass
class Preview:
    quote: object  # rewards.services.pricing.Quote
    applied: list  # the promotion's benefits on this bill
    reason: str | None  # what kept it from applying (None: it applied)


def promotion_preview(
    *,
    promotion: Promotion,
    member: Member,
    location: Location,
    services: list[Service],
    promo_codes: list[str] = (),
) -> Preview:
    """What ``member`` would pay for ``services`` at ``location`` now, with
    every benefit and why — the promotion weighed as if active (a draft, a
    paused one, or one being edited), the others as they are. Writes nothing."""
    promotion = (
        Promotion.objects.select_related("group", "reward")
        .prefetch_related(*PREFETCH)
        .get(pk=promotion.pk)
    )
    rule = rule_of(promotion)
    with previewing(rule) as notes:
        quote = checkout_quote(
            member=member,
            location=location,
            lines=[VisitLineInput(service=s) for s in services],
            **({"promo_codes": list(promo_codes)} if promo_codes else {}),
        )
    applied = [
        b for b in quote.benefits
        if b.kind == KIND and b.params.get("promotion") == promotion.pk
    ]  # fmt: skip
    reason = None
    if not applied:
        reason = notes.get("reason") or _(
            "Another promotion of its group, or an exclusive one, gives more."
        )
    return Preview(quote=quote, applied=applied, reason=reason)


# --- segments --------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentPreview:
    count: int
    sample: list
    seconds: float


def segment_preview(*, definition: dict, sample_size: int = 20) -> SegmentPreview:
    """How many active members the rules hold now, and a few of them (the
    editor's live count). Raises ``ValidationError`` for rules that cannot be
    evaluated."""
    errors = segments.definition_errors(definition)
    if errors:
        raise ValidationError(errors[0], code="invalid_segment")
    started = time.monotonic()
    count = segments.segment_count(definition)
    sample = segments.segment_sample(definition, sample_size) if count else []
    return SegmentPreview(count, sample, time.monotonic() - started)


def segment_recount(*, segment: Segment) -> int:
    """Count the segment's members now and keep the figure on the segment."""
    count = segments.segment_count(segment.definition)
    Segment.objects.filter(pk=segment.pk).update(
        last_count=count, counted_at=timezone.now()
    )
    segment.last_count = count
    return count


def segments_recount() -> int:
    """Recount every segment (nightly, after the scores): one COUNT each."""
    done = 0
    for segment in Segment.objects.order_by("pk"):
        if not segments.definition_errors(segment.definition):
            segment_recount(segment=segment)
            done += 1
    return done
