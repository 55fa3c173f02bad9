"""Celery tasks of the campaigns app: thin wrappers around services."""

import logging
from datetime import date

from celery import shared_task

from campaigns.scores import scores_refresh

logger = logging.getLogger(__name__)


@shared_task(name="campaigns.tasks.scores_refresh_task")
def scores_refresh_task(on: str | None = None) -> dict:
    """Nightly: recompute every member's scores for ``on`` (YYYY-MM-DD; default
    today in the program's time zone). Set-based; a second run writes nothing."""
    result = scores_refresh(date.fromisoformat(on) if on else None)
    logger.info(
        "Member scores for %s: %d scored, %d written, %d deleted in %.1fs",
        result.on,
        result.scored,
        result.written,
        result.deleted,
        result.seconds,
    )
    return result.as_dict()
