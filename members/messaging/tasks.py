"""Celery tasks of the outbox: thin wrappers around ``services``.

``message_deliver_task`` is enqueued (after commit) for every queued message and
re-enqueues itself for the next attempt after a temporary failure;
``messages_deliver_due_task`` runs every minute as the safety net (lost tasks, a
broker that was down, messages held back by quiet hours).
"""

import logging

from celery import shared_task
from django.utils import timezone

from members.messaging import services

logger = logging.getLogger(__name__)

# One sweep stops after this long so runs a minute apart barely overlap (and an
# overlap is harmless: every message is claimed before it is attempted).
SWEEP_BUDGET_SECONDS = 50


@shared_task(name="members.messaging.tasks.message_deliver_task")
def message_deliver_task(message_id: int) -> str:
    """Attempt one message; after a temporary failure, schedule the next attempt."""
    result = services.message_deliver(message_id=message_id)
    if result.attempted and result.retry_at is not None:
        countdown = max((result.retry_at - timezone.now()).total_seconds(), 0)
        message_deliver_task.apply_async((message_id,), countdown=countdown)
    message = result.message
    return message.status if message is not None else "missing"


@shared_task(name="members.messaging.tasks.messages_deliver_due_task")
def messages_deliver_due_task(batch: int = 200) -> int:
    """Every minute: attempt due queued messages, in batches, for up to ~50 s."""
    started = timezone.now()
    total = 0
    while True:
        attempted = services.messages_deliver_due(limit=batch)
        total += attempted
        elapsed = (timezone.now() - started).total_seconds()
        if attempted < batch or elapsed > SWEEP_BUDGET_SECONDS:
            break
    if total:
        logger.info("Delivered or retried %d due message(s)", total)
    return total
