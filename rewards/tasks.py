"""Celery tasks of the rewards app: thin wrappers around the daily jobs."""

import logging

from celery import shared_task
from django.utils import timezone

from rewards.jobs import JobOutcome, daily_jobs_run

logger = logging.getLogger(__name__)


@shared_task(name="rewards.tasks.daily_jobs_task")
def daily_jobs_task(only: list[str] | None = None) -> list[dict]:
    """Nightly: run the daily jobs for today, catching up missed dates first.

    Safe however beat fires it (twice, late, after downtime): each (job, date)
    runs once. A failed job is logged and retried by the next run.
    """
    outcomes = daily_jobs_run(timezone.localdate(), only)
    for outcome in outcomes:
        if outcome.status == JobOutcome.FAILED:
            logger.error(
                "Daily job %s for %s failed: %s",
                outcome.job,
                outcome.business_date,
                outcome.note,
            )
    return [outcome.as_dict() for outcome in outcomes]
