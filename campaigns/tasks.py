"""Celery tasks of the campaigns app: thin wrappers around services."""

import logging
from datetime import date

from celery import shared_task

from campaigns.journeys import campaigns_run
from campaigns.scores import scores_refresh
from campaigns.services import segments_recount

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


@shared_task(name="campaigns.tasks.campaigns_run_task")
def campaigns_run_task() -> dict:
    """Every few minutes: exit, enroll and send for every live campaign
    (``campaigns.journeys.campaigns_run``). Idempotent; catches up after
    downtime within each campaign's catch-up days."""
    result = campaigns_run()
    return {
        "paused": result.paused,
        "seconds": round(result.seconds, 2),
        "campaigns": [vars(run) for run in result.campaigns],
    }


@shared_task(name="campaigns.tasks.segments_recount_task")
def segments_recount_task() -> int:
    """Nightly, after the scores: every segment's member count, for the list."""
    return segments_recount()
