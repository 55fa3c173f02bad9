"""Celery tasks of the platform itself."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task

from core.retention import retention_purge

logger = logging.getLogger(__name__)


@shared_task(name="core.tasks.retention_purge_task")
def retention_purge_task(now: str | None = None) -> dict:
    """Nightly: purge what is kept only for a while (``core.retention``);
    ``now`` (ISO) purges as of another moment."""
    counts = retention_purge(now=datetime.fromisoformat(now) if now else None)
    logger.info("Retention purge: %s", counts)
    return counts
