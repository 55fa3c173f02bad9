"""Celery tasks of the imports app: thin wrappers around ``imports.services``."""

from celery import shared_task
from django.conf import settings

from imports import services
from imports.keys import keys_restore_abandoned


@shared_task(
    name="imports.tasks.import_job_run",
    time_limit=settings.IMPORTS_TASK_TIME_LIMIT + 60,
    soft_time_limit=settings.IMPORTS_TASK_TIME_LIMIT,
)
def import_job_run(job_id: int, dry_run: bool) -> str | None:
    """Run an import job (dry or real). Delivered twice, it runs once: the
    service claims the job with a compare-and-set first."""
    job = services.job_run(job_id=job_id, dry_run=dry_run)
    return job.status if job is not None else None


@shared_task(name="imports.tasks.import_files_clean")
def import_files_clean() -> int:
    """Nightly: delete the files of old imports (IMPORTS_KEEP_DAYS), and put
    back any foreign keys an import that died had set aside."""
    keys_restore_abandoned()
    return services.job_files_clean()
