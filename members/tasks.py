"""Celery tasks of the members app: thin wrappers around services."""

import logging

from celery import shared_task

from members import services
from members.messaging import tasks as messaging_tasks  # noqa: F401  (autodiscovery)

logger = logging.getLogger(__name__)


@shared_task(name="members.tasks.member_stats_reconcile_task")
def member_stats_reconcile_task() -> int:
    """Nightly: repair members whose cached visit stats drifted. Idempotent."""
    repaired = services.member_stats_reconcile()
    if repaired:
        logger.warning("Repaired cached visit stats of %d member(s)", repaired)
    return repaired
