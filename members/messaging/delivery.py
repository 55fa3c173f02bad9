"""Delivering the outbox: claim a due message, send it, record the outcome.

``message_deliver`` attempts one message (claim, send through the channel's
backend, record, with retries and backoff); ``messages_deliver_due`` is the
sweep behind the per-message tasks. ``services`` queues the messages and
re-exports these names, so ``services.message_deliver`` keeps working.

The consent and masking rules (``SkipReason``, ``_skip_reason``,
``_mask_secrets``) live in ``services`` with the queueing; they are imported
where they are used, because ``services`` imports this module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from members.messaging import backends
from members.models import Member, Message

logger = logging.getLogger(__name__)

# Backoff of temporary failures: 30 s, 1 min, 2 min, … at most an hour.
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 60 * 60


@dataclass(frozen=True)
class DeliveryResult:
    """What one ``message_deliver`` call did.

    ``attempted`` is False when the message was not due, not queued or claimed
    by another worker; ``retry_at`` is set after a temporary failure.
    """

    message: Message | None
    attempted: bool = False
    retry_at: datetime | None = None


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: 30 s × 2^(n-1), ≤ 1 h."""
    seconds = BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, BACKOFF_MAX_SECONDS))


def _lease() -> timedelta:
    # Longer than any backend may take (its timeout, with margin), so a lease
    # runs out only when the worker holding it died.
    return timedelta(seconds=max(120.0, 3 * settings.MESSAGE_WEBHOOK_TIMEOUT))


def _due(now: datetime) -> Q:
    return (
        Q(status=Message.Status.QUEUED)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    )


def message_deliver(*, message_id: int) -> DeliveryResult:
    """Attempt one due, queued message through its channel's backend.

    How a message is never sent twice at once: the attempt starts with a
    *claim* — in a short transaction the row is locked (``SELECT … FOR UPDATE
    SKIP LOCKED`` on PostgreSQL), checked to be queued and due, and updated
    with ``attempts + 1`` and ``next_attempt_at = now + lease``; that update is
    conditional on the attempts count read, so on SQLite (no row locks) the
    second of two racing claimers updates nothing. After the commit the message
    is no longer due for anyone else until the lease runs out, and no lock is
    held during the slow call to the provider. The outcome is then recorded
    with an update fenced on the same attempts count. A lease outlives the
    backend's timeout, so it expires only if the worker died mid-send; then the
    message is tried again (at-least-once: the webhook carries the message id
    for the provider to drop a duplicate).
    """
    from members.messaging.services import _mask_secrets

    now = timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("member")
            .filter(_due(now), pk=message_id)
            .first()
        )
        if message is None:
            return DeliveryResult(Message.objects.filter(pk=message_id).first())
        skip = _delivery_skip_reason(message)
        if skip:
            message.status = Message.Status.SKIPPED
            message.skip_reason = skip
            message.next_attempt_at = None
            _mask_secrets(message)
            message.save(
                update_fields=["status", "skip_reason", "next_attempt_at", "body"]
            )
            return DeliveryResult(message)
        claimed = Message.objects.filter(
            pk=message.pk, status=Message.Status.QUEUED, attempts=message.attempts
        ).update(attempts=F("attempts") + 1, next_attempt_at=now + _lease())
        if not claimed:
            return DeliveryResult(message)
    message.attempts += 1
    attempt = message.attempts

    try:
        provider_id = backends.backend_for(message.channel).send(message)
    except backends.PermanentDeliveryError as exc:
        return _record_failure(message, attempt, str(exc), permanent=True)
    except backends.TemporaryDeliveryError as exc:
        return _record_failure(message, attempt, str(exc), permanent=False)
    except Exception as exc:
        # A bug or an unforeseen error of a provider: retried like a temporary
        # failure, so a message is not lost to it; MESSAGE_MAX_ATTEMPTS caps it.
        logger.exception("Backend crashed delivering message %s", message.pk)
        return _record_failure(
            message, attempt, f"{type(exc).__name__}: {exc}", permanent=False
        )

    message.status = Message.Status.SENT
    message.sent_at = timezone.now()
    message.provider_id = str(provider_id or "")[:200]
    message.next_attempt_at = None
    _mask_secrets(message)
    _record(
        message,
        attempt,
        ["status", "sent_at", "provider_id", "next_attempt_at", "body"],
    )
    return DeliveryResult(message, attempted=True)


def _delivery_skip_reason(message: Message) -> str:
    """Whether a queued message may still go, now that it is due.

    A member erased since it was queued gets nothing more. A marketing message
    may have waited for hours (quiet hours, retries): consent and the member's
    status are checked again, so withdrawing consent overnight is honoured.
    """
    from members.messaging.services import SkipReason, _skip_reason

    member = message.member
    if member is None:
        return ""
    if member.status == Member.Status.ERASED:
        return SkipReason.MEMBER_ERASED
    if message.kind != Message.Kind.MARKETING:
        return ""
    return _skip_reason(
        member=member,
        channel=message.channel,
        kind=message.kind,
        recipient=message.recipient,
        to="",
    )


def _record_failure(
    message: Message, attempt: int, error: str, *, permanent: bool
) -> DeliveryResult:
    from members.messaging.services import _mask_secrets

    message.last_error = error[:2000]
    if permanent or attempt >= settings.MESSAGE_MAX_ATTEMPTS:
        message.status = Message.Status.FAILED
        message.next_attempt_at = None
        _mask_secrets(message)
        retry_at = None
    else:
        retry_at = timezone.now() + backoff(attempt)
        message.next_attempt_at = retry_at
    logger.warning(
        "Message %s attempt %s failed (%s): %s",
        message.pk,
        attempt,
        "permanent" if permanent else "temporary",
        error,
    )
    _record(message, attempt, ["status", "next_attempt_at", "last_error", "body"])
    return DeliveryResult(message, attempted=True, retry_at=retry_at)


def _record(message: Message, attempt: int, fields: list[str]) -> None:
    """Write an attempt's outcome unless another worker has claimed it since."""
    updated = Message.objects.filter(
        pk=message.pk, status=Message.Status.QUEUED, attempts=attempt
    ).update(**{name: getattr(message, name) for name in fields})
    if not updated:
        logger.warning(
            "Outcome of message %s attempt %s dropped: claimed again since",
            message.pk,
            attempt,
        )


def messages_deliver_due(*, limit: int = 500) -> int:
    """Attempt up to ``limit`` due queued messages, oldest first; how many tried.

    The safety net behind the per-message tasks (a lost task, a broker that was
    down, messages deferred by quiet hours); a message being delivered by a task
    right now is claimed and not tried twice.
    """
    from members.messaging.selectors import messages_due_ids

    attempted = 0
    for message_id in messages_due_ids(limit=limit):
        if message_deliver(message_id=message_id).attempted:
            attempted += 1
    return attempted
