"""Celery tasks of the webhooks: thin wrappers around ``webhooks.delivery``.

``webhooks_deliver_due_task`` is kicked after the commit of a transaction that
emitted events, and runs every minute from beat as the safety net (retries
after backoff, a kick lost with the broker). Every delivery is claimed before
it is sent, so overlapping runs never send one twice.
"""

import logging

from celery import shared_task
from django.utils import timezone

from webhooks import delivery

logger = logging.getLogger(__name__)

# A sweep stops after this long, so runs a minute apart barely overlap.
SWEEP_BUDGET_SECONDS = 50


@shared_task(name="webhooks.tasks.webhooks_deliver_due_task")
def webhooks_deliver_due_task(batch: int = 200) -> int:
    """Send due deliveries in batches for up to ~50 s; how many were tried."""
    started = timezone.now()
    total = 0
    while True:
        attempted = delivery.deliveries_deliver_due(limit=batch)
        total += attempted
        elapsed = (timezone.now() - started).total_seconds()
        if attempted < batch or elapsed > SWEEP_BUDGET_SECONDS:
            break
    if total:
        logger.info("Attempted %d webhook delivery(ies)", total)
    return total


@shared_task(name="webhooks.tasks.webhooks_prune_task")
def webhooks_prune_task() -> int:
    """Daily: delete finished deliveries and events past WEBHOOKS_KEEP_DAYS."""
    return delivery.deliveries_prune()
