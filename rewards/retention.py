"""What the retention job (``core.retention``) purges of the points jobs:
the records of daily job runs older than RETENTION_JOB_RUNS_DAYS (the runs
themselves are idempotent per business date), except each job's latest."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Max

from core.retention import delete_in_batches, older_than
from rewards.models import JobRun


def purge(*, now: datetime) -> dict[str, int]:
    cutoff = older_than(now, settings.RETENTION_JOB_RUNS_DAYS)
    old = JobRun.objects.exclude(status=JobRun.Status.RUNNING).filter(
        started_at__lt=cutoff
    )
    # Each job's latest run stays: the catch-up counts from it.
    for last in JobRun.objects.values("job").annotate(day=Max("business_date")):
        old = old.exclude(job=last["job"], business_date=last["day"])
    return {"job_runs": delete_in_batches(old)}
