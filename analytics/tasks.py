"""Celery tasks of the analytics app: thin wrappers around
``analytics.aggregates``. Both re-run safely (a refresh replaces its days'
rows) and take a past date from the CLI (``manage.py analytics_refresh``)."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from analytics.aggregates import aggregates_refresh

logger = logging.getLogger(__name__)


@shared_task(name="analytics.tasks.analytics_refresh_today_task")
def analytics_refresh_today_task() -> dict:
    """Hourly: today's figures only (the earlier days wait for the night)."""
    today = timezone.localdate()
    result = aggregates_refresh(today, today, reach_back=False, cohorts=False)
    logger.info("Analytics for %s refreshed in %.1fs", today, result.seconds)
    return result.as_dict()


@shared_task(name="analytics.tasks.analytics_refresh_nightly_task")
def analytics_refresh_nightly_task(on: str | None = None) -> dict:
    """Nightly: the day before ``on`` (YYYY-MM-DD; default today), the days
    its events changed, the open 30-day retention windows and the cohorts."""
    day = date.fromisoformat(on) if on else timezone.localdate()
    yesterday = day - timedelta(days=1)
    result = aggregates_refresh(yesterday, yesterday)
    logger.info(
        "Analytics for %s refreshed (%d days) in %.1fs",
        yesterday,
        len(result.days),
        result.seconds,
    )
    return result.as_dict()
