"""Writes of the outbox: queue a message, deliver it, resend it, mark it read.

Delivery (claiming, ``message_deliver``, ``messages_deliver_due``, backoff)
lives in ``members.messaging.delivery``; its names are re-exported here, so
``services.message_deliver`` and friends keep working.

Invariants:

- One call of ``message_send`` is one ``Message`` row; with a ``dedupe_key`` a
  second call (a retried job, a race) returns the first row instead.
- A message is *attempted* only by whoever claimed it (see ``message_deliver``),
  so two workers never send the same row at the same time.
- Statuses move only forward: queued → sent | failed | skipped.

Decisions about kinds (``Message.Kind``):

- Transactional — sent without asking for channel consent, and at any hour: the
  sign-in code (``otp_code``), "your voucher is ready" (``voucher_issued``) and
  "your points expire on …" (``points_expiring``). The last is a notice about
  the member's own account balance, not an offer, so it is transactional; it
  is still sent only on the channels the member opted into, and always to the
  in-app inbox (``member_channels``, used by the nightly
  ``rewards.services.batch.expiry_notices_send``).
- Marketing — campaigns (later): need the member's consent for the channel and
  respect quiet hours (deferred or skipped, ``MESSAGE_QUIET_HOURS_ACTION``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.bulk import rows_copy
from members.messaging import rendering

# Re-exported: delivery moved to ``delivery``; callers still use these names here.
from members.messaging.delivery import BACKOFF_BASE_SECONDS as BACKOFF_BASE_SECONDS
from members.messaging.delivery import BACKOFF_MAX_SECONDS as BACKOFF_MAX_SECONDS
from members.messaging.delivery import DeliveryResult as DeliveryResult
from members.messaging.delivery import _delivery_skip_reason as _delivery_skip_reason
from members.messaging.delivery import _due as _due
from members.messaging.delivery import _lease as _lease
from members.messaging.delivery import _record as _record
from members.messaging.delivery import _record_failure as _record_failure
from members.messaging.delivery import backoff as backoff
from members.messaging.delivery import message_deliver as message_deliver
from members.messaging.delivery import messages_deliver_due as messages_deliver_due
from members.models import Member, Message
from members.models.messaging import Channel

logger = logging.getLogger(__name__)

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

CONSENT_CHANNELS = frozenset({Channel.SMS, Channel.EMAIL, Channel.PUSH})


class SkipReason:
    """Why a message was not sent (``Message.skip_reason``); stable strings."""

    NO_CONSENT = "no_consent"
    NO_RECIPIENT = "no_recipient"
    MEMBER_BLOCKED = "member_blocked"
    MEMBER_ERASED = "member_erased"
    QUIET_HOURS = "quiet_hours"


# --- Queueing -----------------------------------------------------------------


def _recipient_of(member: Member | None, channel: str) -> str:
    if member is None or channel == Channel.IN_APP:
        return ""
    if channel == Channel.EMAIL:
        return member.email or ""
    phone = member.phone  # sms, push: E.164, whatever PHONENUMBER_DEFAULT_FORMAT is
    if phone is None or isinstance(phone, str):
        return phone or ""
    raw = getattr(phone, "raw_input", "")
    if raw and _E164.match(raw):
        # As read from the database (stored as E.164): no formatting, and no
        # ``not phone``, which formats and validates (a batch has 100,000).
        return raw
    if not phone:
        return ""
    return getattr(phone, "as_e164", None) or str(phone)


def _skip_reason(
    *, member: Member | None, channel: str, kind: str, recipient: str, to: str
) -> str:
    """Why this message must not go out, or "" if it may."""
    transactional = kind == Message.Kind.TRANSACTIONAL
    # A transactional message to an explicit address still goes to a blocked or
    # erased member: signing in again (an OTP to a number typed at sign-in).
    inactive = member is not None and member.status != Member.Status.ACTIVE
    if inactive and not (transactional and to):
        if member.status == Member.Status.ERASED:
            return SkipReason.MEMBER_ERASED
        return SkipReason.MEMBER_BLOCKED
    if channel == Channel.IN_APP:
        if member is None:
            return SkipReason.NO_RECIPIENT
    elif not recipient:
        return SkipReason.NO_RECIPIENT
    # The inbox inside the member's own app needs no consent.
    needs_consent = not transactional and channel in CONSENT_CHANNELS
    if needs_consent and not (
        member is not None and getattr(member, f"consent_{channel}", False)
    ):
        return SkipReason.NO_CONSENT
    return ""


@dataclass(frozen=True)
class OutgoingMessage:
    """One message for ``messages_queue_bulk``; the fields of ``message_send``."""

    channel: str
    template_key: str
    context: dict = field(default_factory=dict)
    member: Member | None = None
    to: str = ""
    kind: str = Message.Kind.TRANSACTIONAL
    language: str | None = None
    dedupe_key: str | None = None


def message_send(
    *,
    channel: str,
    template_key: str,
    context: dict | None = None,
    member: Member | None = None,
    to: str = "",
    kind: str = Message.Kind.TRANSACTIONAL,
    language: str | None = None,
    dedupe_key: str | None = None,
) -> Message:
    """Queue one message and enqueue its delivery after the current commit.

    The subject and body are rendered now from the ``MessageTemplate`` for
    ``template_key``/``channel`` in the message's language (``language``, else
    the member's, else LANGUAGE_CODE), falling back to LANGUAGE_CODE and then
    English. The recipient is ``to`` or the member's phone (SMS, push) or email.

    Never raises for a message that cannot go out; the row records why:
    ``skipped`` (no consent for a marketing message, no recipient, a blocked or
    erased member, quiet hours with the "skip" action) or ``failed`` (no
    template, a broken template). With a ``dedupe_key`` the first message with
    that key is returned and nothing new is queued.
    """
    if dedupe_key:
        existing = Message.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    message = _message_build(
        OutgoingMessage(
            channel=channel,
            template_key=template_key,
            context=dict(context or {}),
            member=member,
            to=str(to or ""),
            kind=kind,
            language=language,
            dedupe_key=dedupe_key or None,
        ),
        now=timezone.now(),
    )
    try:
        # A savepoint, so a lost dedupe race does not break the caller's
        # transaction; the winner's row is committed (or we waited on its lock).
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        if not dedupe_key:
            raise
        return Message.objects.get(dedupe_key=dedupe_key)

    if message.status == Message.Status.QUEUED and message.next_attempt_at is None:
        _enqueue_delivery(message.pk)
    # A deferred message (quiet hours) has next_attempt_at set: the minute sweep
    # (``messages_deliver_due``) sends it when it is due, so no long-countdown
    # task sits in the broker all night.
    return message


# The columns ``messages_queue_many`` writes, as ``Message`` attnames.
MESSAGE_COLUMNS = tuple(
    f.attname
    for f in Message._meta.concrete_fields
    if f is not Message._meta.auto_field
)


@dataclass
class Queued:
    """What ``messages_queue_many`` did: rows inserted, and the id of each
    message with a ``dedupe_key`` (inserted now or there before)."""

    inserted: int
    ids: dict[str, int]


def messages_queue_bulk(*, messages: Iterable[OutgoingMessage]) -> int:
    """Queue many messages in a few statements; how many new rows were inserted.

    See ``messages_queue_many``.
    """
    return messages_queue_many(messages=messages).inserted


def messages_queue_many(*, messages: Iterable[OutgoingMessage]) -> Queued:
    """Queue many messages in a few statements.

    Each message is decided and rendered exactly as ``message_send`` would
    (templates are looked up once per key, channel and language; quiet hours
    once per call). The rows go in by ``core.bulk.rows_copy``: those whose
    ``dedupe_key`` exists already are left out, so a re-run queues nothing
    twice. Delivery is not enqueued per message: one sweep
    (``messages_deliver_due_task``) is enqueued after commit, and the minute
    sweep continues where it stops.
    """
    now = timezone.now()
    memo: dict = {}
    with translation.override(settings.LANGUAGE_CODE):  # most render in it
        rows = [_message_build(m, now=now, templates=memo) for m in messages]
    if not rows:
        return Queued(0, {})
    made = rows_copy(
        Message,
        MESSAGE_COLUMNS,
        ([getattr(row, name) for name in MESSAGE_COLUMNS] for row in rows),
        returning=("id", "dedupe_key"),
    )
    ids = {key: pk for pk, key in made if key}
    missing = [r.dedupe_key for r in rows if r.dedupe_key and r.dedupe_key not in ids]
    if missing:  # there before: a re-run
        ids.update(
            Message.objects.filter(dedupe_key__in=missing).values_list(
                "dedupe_key", "pk"
            )
        )
    if any(row.status == Message.Status.QUEUED for row in rows):
        _enqueue_sweep()
    return Queued(len(made), ids)


def _message_build(
    out: OutgoingMessage, *, now: datetime, templates: dict | None = None
) -> Message:
    """The unsaved row for ``out``: recipient, status, rendered text, timing."""
    if out.channel not in Channel.values:
        raise ValueError(f"unknown channel {out.channel!r}")
    if out.kind not in Message.Kind.values:
        raise ValueError(f"unknown kind {out.kind!r}")
    member = out.member
    language = (
        out.language or (member.language if member is not None else "")
    ) or settings.LANGUAGE_CODE
    recipient = out.to or _recipient_of(member, out.channel)
    message = Message(
        member=member,
        channel=out.channel,
        kind=out.kind,
        recipient=recipient[:254],
        template_key=out.template_key,
        language=language,
        context=rendering.json_safe(
            rendering.masked_context(out.template_key, out.context)
        ),
        dedupe_key=out.dedupe_key or None,
        created_at=now,
    )
    skip = _skip_reason(
        member=member,
        channel=out.channel,
        kind=out.kind,
        recipient=recipient,
        to=out.to,
    )
    if skip:
        message.status = Message.Status.SKIPPED
        message.skip_reason = skip
    _render_into(message, out.context, member=member, templates=templates)
    if message.status == Message.Status.QUEUED and out.kind == Message.Kind.MARKETING:
        _apply_quiet_hours(message, now, templates)
    if message.status != Message.Status.QUEUED:
        _mask_secrets(message)
    return message


def _template(message: Message, templates: dict | None):
    """``template_find`` for the message, memoised in ``templates`` if given."""
    key = (message.template_key, message.channel, message.language)
    if templates is not None and key in templates:
        found = templates[key]
    else:
        try:
            found = rendering.template_find(key=key[0], channel=key[1], language=key[2])
        except rendering.TemplateMissing as exc:
            found = exc
        if templates is not None:
            templates[key] = found
    if isinstance(found, rendering.TemplateMissing):
        raise found
    return found


def _render_into(
    message: Message,
    context: dict,
    *,
    member: Member | None,
    templates: dict | None = None,
) -> None:
    try:
        template = _template(message, templates)
        rendered = rendering.render(
            template, context, member=member, language=template.language
        )
    except rendering.TemplateMissing as exc:
        _render_failed(message, f"no template: {exc}")
        return
    except Exception as exc:  # a broken template an operator saved
        logger.exception("Message template %s failed to render", message.template_key)
        _render_failed(message, f"template error: {exc}")
        return
    message.subject = rendered.subject
    message.body = rendered.body
    message.language = rendered.language


def _render_failed(message: Message, error: str) -> None:
    # A skipped message stays skipped (nothing would have been sent anyway).
    if message.status == Message.Status.QUEUED:
        message.status = Message.Status.FAILED
    message.last_error = error


def _apply_quiet_hours(message: Message, now: datetime, memo: dict | None) -> None:
    if memo is None:
        end = rendering.quiet_hours_end(now)
    else:  # one batch: one ``now``, one answer
        if ("quiet", now) not in memo:
            memo["quiet", now] = rendering.quiet_hours_end(now)
        end = memo["quiet", now]
    if end is None:
        return
    if settings.MESSAGE_QUIET_HOURS_ACTION == "skip":
        message.status = Message.Status.SKIPPED
        message.skip_reason = SkipReason.QUIET_HOURS
    else:  # "defer": held back, not dropped
        message.not_before = end
        message.next_attempt_at = end


def _mask_secrets(message: Message) -> None:
    """Replace a sign-in code in the stored body once it no longer has to go out.

    The stored context is masked already; rendering it again gives the body
    with the code masked.
    """
    if message.template_key not in rendering.SENSITIVE_TEMPLATES or not message.body:
        return
    try:
        template = rendering.template_find(
            key=message.template_key,
            channel=message.channel,
            language=message.language,
        )
        message.body = rendering.render(
            template, rendering.revive(message.context), language=template.language
        ).body
    except Exception:  # noqa: BLE001 - never keep the secret because of a bad template
        message.body = rendering.MASK


def _enqueue_sweep() -> None:
    from members.messaging.tasks import messages_deliver_due_task

    def enqueue():
        try:
            messages_deliver_due_task.delay()
        except Exception:
            logger.exception("Could not enqueue the outbox sweep")

    transaction.on_commit(enqueue)


def member_channels(member: Member) -> list[str]:
    """The channels a service notice goes out on for ``member``.

    The in-app inbox always; SMS, push and email only where the member opted in
    and has an address. Used for transactional notices that are not urgent
    (points expiring): they need no consent by law, but we do not text people
    who did not ask for texts.
    """
    channels = [Channel.IN_APP.value]
    for channel in (Channel.SMS, Channel.PUSH, Channel.EMAIL):
        if getattr(member, f"consent_{channel}", False) and _recipient_of(
            member, channel
        ):
            channels.append(channel.value)
    return channels


def _enqueue_delivery(message_id: int, countdown: float | None = None) -> None:
    from members.messaging.tasks import message_deliver_task

    def enqueue():
        try:
            message_deliver_task.apply_async((message_id,), countdown=countdown)
        except Exception:
            # The broker is down: the minute sweep delivers the message later.
            logger.exception("Could not enqueue delivery of message %s", message_id)

    transaction.on_commit(enqueue)


# --- Staff actions and the inbox ----------------------------------------------


@transaction.atomic
def message_resend(*, message: Message, actor=None) -> Message:
    """Queue a fresh copy of ``message`` now; the original row stays as history.

    The copy goes to the same recipient (or, if there was none, the member's
    current one) with the same text, re-rendered only if the original had none.
    Consent and the member's status are checked again, so a resend never
    reaches someone who said no; quiet hours are not (staff chose to send it
    now). A sign-in code is never resent: it is masked in the outbox and would
    be stale anyway.
    """
    if message.template_key in rendering.SENSITIVE_TEMPLATES:
        raise ValidationError(
            _("A sign-in code cannot be resent; ask the member to request a new one."),
            code="message_not_resendable",
        )
    member = message.member
    recipient = message.recipient or _recipient_of(member, message.channel)
    copy = Message(
        member=member,
        channel=message.channel,
        kind=message.kind,
        recipient=recipient,
        template_key=message.template_key,
        language=message.language,
        context=message.context,
        subject=message.subject,
        body=message.body,
        created_at=timezone.now(),
    )
    skip = _skip_reason(
        member=member,
        channel=copy.channel,
        kind=copy.kind,
        recipient=recipient,
        to=recipient if member is None else "",
    )
    if skip:
        copy.status = Message.Status.SKIPPED
        copy.skip_reason = skip
    if not copy.body:
        _render_into(copy, rendering.revive(copy.context), member=member)
    copy.save(force_insert=True)
    logger.info(
        "Message %s resent as %s (%s) by %s",
        message.pk,
        copy.pk,
        copy.status,
        actor or "system",
    )
    if copy.status == Message.Status.QUEUED:
        _enqueue_delivery(copy.pk)
    return copy


def message_mark_read(*, message: Message, member: Member) -> Message:
    """Mark an in-app message of ``member`` read (idempotent: the first time stays).

    Raises ``Message.DoesNotExist`` for another member's message or one that is
    not in the inbox, so callers answer 404 without telling the two apart.
    """
    if (
        message.member_id != member.pk
        or message.channel != Channel.IN_APP
        or message.status != Message.Status.SENT
    ):
        raise Message.DoesNotExist
    if message.read_at is None:
        now = timezone.now()
        Message.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=now)
        message.refresh_from_db(fields=["read_at"])
    return message
