"""Import jobs: upload, columns, dry run, real run — the admin page's logic.

The admin views and the Celery task call these; nothing else writes
``ImportJob``. Each step that starts a run moves the job's status with one
compare-and-set ``UPDATE … WHERE status IN (…)``, so a double click, two tabs
or a task delivered twice never start the same run twice. The run itself is
the importer's (``imports.kinds.KINDS[kind].run``), which is idempotent: a run
started again after a worker died changes nothing it already did.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from imports import reading, selectors
from imports.kinds import KINDS
from imports.models import ImportJob
from imports.selectors import PROGRESS_FILE, REPORT_NAMES
from members.models import Location

logger = logging.getLogger(__name__)

Status = ImportJob.Status

# The progress file is rewritten at most this often (seconds).
PROGRESS_INTERVAL = 1.0

# A run may be asked for from these states (compare-and-set guards).
DRY_RUN_FROM = (Status.UPLOADED, Status.CHECKED, Status.FAILED)
MAPPING_FROM = DRY_RUN_FROM
RUN_FROM = (Status.CHECKED,)


# --- Upload -------------------------------------------------------------------


@transaction.atomic
def job_create(
    *,
    kind: str,
    upload: UploadedFile,
    location: Location | None,
    actor,
) -> ImportJob:
    """Store an uploaded file in its job's folder and read its columns.

    Raises ValidationError (and keeps neither row nor file) when the file is
    not a CSV/XLSX with a header row.
    """
    suffix = Path(upload.name or "").suffix.lower()
    if not selectors.kind_available(kind):
        raise ValidationError(
            _("This kind of import is not available yet."), code="kind"
        )
    if suffix not in selectors.EXTENSIONS:
        raise ValidationError(
            _("The file must end in .csv or .xlsx."), code="extension"
        )
    if not upload.size:
        raise ValidationError(_("The file is empty."), code="empty")
    if upload.size > settings.IMPORTS_MAX_UPLOAD_BYTES:
        raise ValidationError(
            _("The file is larger than %(limit)d MB.")
            % {"limit": settings.IMPORTS_MAX_UPLOAD_BYTES // 1024**2},
            code="too_large",
        )
    job = ImportJob.objects.create(
        kind=kind,
        file_name=Path(upload.name).name[:255],
        file_size=upload.size,
        location=location,
        created_by=actor,
    )
    # Our own file name: the original one may hold anything.
    job.file_path = f"{job.pk}/upload{suffix}"
    folder = job.folder
    shutil.rmtree(folder, ignore_errors=True)  # a leftover of a rolled-back job
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with open(job.path, "wb") as fh:
            for chunk in upload.chunks():
                fh.write(chunk)
        preview = selectors.file_preview(job.path, rows=1)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if not any(preview.headers):
        shutil.rmtree(folder, ignore_errors=True)
        raise ValidationError(
            _("The file's first row must name its columns."), code="no_headers"
        )
    job.mapping = selectors.mapping_detect(kind=KINDS[kind], headers=preview.headers)
    job.rows_estimate = selectors.rows_estimate(job.path)
    job.save(update_fields=["file_path", "mapping", "rows_estimate"])
    return job


# --- Runs ---------------------------------------------------------------------


def _enqueue(job_id: int, dry_run: bool) -> None:
    from imports.tasks import import_job_run

    def enqueue():
        try:
            import_job_run.delay(job_id, dry_run)
        except Exception:
            # The broker is down: the job waits, shows as stalled after
            # IMPORTS_STALL_MINUTES, and "Run again" enqueues it anew.
            logger.exception("Could not enqueue import job %s", job_id)

    transaction.on_commit(enqueue)


@transaction.atomic
def job_check(*, job: ImportJob, mapping: dict[str, str], actor=None) -> bool:
    """Save the columns and start a dry run; False when one is already under way
    or the file was already imported."""
    selectors.columns_check(job=job, mapping=mapping)
    mapping = reading.mapping_check(mapping, KINDS[job.kind].fields)
    started = ImportJob.objects.filter(pk=job.pk, status__in=DRY_RUN_FROM).update(
        mapping=mapping,
        run_by=actor or job.created_by,
        status=Status.DRY_RUNNING,
        queued_at=timezone.now(),
        started_at=None,
        finished_at=None,
        dry_counts=None,
        dry_problems=0,
        unknown={},
        error="",
    )
    if started:
        _progress_clear(job)
        _enqueue(job.pk, True)
    job.refresh_from_db()
    return bool(started)


@transaction.atomic
def job_start(*, job: ImportJob, actor=None) -> bool:
    """Start the real run of a checked job; False when it is not checked (a run
    under way, done already, or the columns changed since the dry run)."""
    started = ImportJob.objects.filter(pk=job.pk, status__in=RUN_FROM).update(
        run_by=actor or job.created_by,
        status=Status.RUNNING,
        queued_at=timezone.now(),
        started_at=None,
        finished_at=None,
        error="",
    )
    if started:
        _progress_clear(job)
        _enqueue(job.pk, False)
    job.refresh_from_db()
    return bool(started)


@transaction.atomic
def job_restart(*, job: ImportJob, now: datetime | None = None) -> bool:
    """Start a stalled run again (its worker died or its task was lost).

    Safe because the importers are idempotent: rows the first try wrote are
    found unchanged. Refused unless the job is still stalled when asked.
    """
    now = now or timezone.now()
    if not selectors.job_stalled(job=job, now=now):
        return False
    restarted = ImportJob.objects.filter(
        pk=job.pk, status=job.status, queued_at=job.queued_at
    ).update(queued_at=now, started_at=None, error="")
    if restarted:
        _progress_clear(job)
        _enqueue(job.pk, job.status == Status.DRY_RUNNING)
    job.refresh_from_db()
    return bool(restarted)


def job_run(*, job_id: int, dry_run: bool) -> ImportJob | None:
    """Run a job's import (the Celery task's body). None when the run is not
    this call's to do: another worker took it, or it was not asked for."""
    running = Status.DRY_RUNNING if dry_run else Status.RUNNING
    claimed = ImportJob.objects.filter(
        pk=job_id, status=running, started_at__isnull=True
    ).update(started_at=timezone.now())
    if not claimed:
        return None
    job = ImportJob.objects.select_related("location", "created_by", "run_by").get(
        pk=job_id
    )
    kind = KINDS[job.kind]
    progress = ProgressWriter(job.folder / PROGRESS_FILE)
    try:
        summary = kind.run(
            job.path,
            dry_run=dry_run,
            location=job.location,
            mapping=reading.mapping_check(job.mapping, kind.fields) or None,
            actor=job.run_by or job.created_by,
            progress=progress.add,
        )
    except Exception as exc:
        progress.flush()
        if isinstance(exc, (reading.ImportFileError, OSError, ValueError)):
            error = str(exc)
        elif isinstance(exc, (NotImplementedError, ImportError)):
            error = _("This kind of import is not available yet.")
        else:
            logger.exception("Import job %s failed", job_id)
            error = _("The import stopped on an unexpected error: %(error)s") % {
                "error": f"{type(exc).__name__}: {exc}"
            }
        ImportJob.objects.filter(pk=job_id, status=running).update(
            status=Status.FAILED, finished_at=timezone.now(), error=error
        )
        job.refresh_from_db()
        return job
    progress.flush()
    report = reading.report_path(job.path)
    if report.exists():
        os.replace(report, job.folder / REPORT_NAMES[dry_run])
    counts: dict[str, Any] = {str(outcome): n for outcome, n in summary.counts.items()}
    # Records made beside the rows' outcomes, where an importer counts them
    # (visits: {"visits": n, "members": n, "services": n, "specialists": n}).
    records = getattr(summary, "created", None)
    if isinstance(records, dict):
        counts["records"] = {str(k): int(v) for k, v in records.items()}
    fields: dict[str, Any] = {"finished_at": timezone.now(), "error": ""}
    if dry_run:
        fields |= {
            "status": Status.CHECKED,
            "dry_counts": counts,
            "dry_problems": len(summary.problems),
            "unknown": summary.unknown or {},
        }
    else:
        fields |= {
            "status": Status.DONE,
            "counts": counts,
            "problems": len(summary.problems),
        }
    ImportJob.objects.filter(pk=job_id, status=running).update(**fields)
    job.refresh_from_db()
    return job


# --- Progress -----------------------------------------------------------------


class ProgressWriter:
    """Rows done, in a JSON file the web process reads while the worker runs.

    Written with ``os.replace`` (a reader sees the old file or the new one,
    never half of one) and at most once every PROGRESS_INTERVAL seconds.
    """

    def __init__(self, path: Path):
        self.path = path
        self.done = 0
        self._written_at = 0.0

    def add(self, n: int) -> None:
        self.done += n
        if time.monotonic() - self._written_at >= PROGRESS_INTERVAL:
            self.flush()

    def flush(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"done": self.done, "at": time.time()}))
        os.replace(tmp, self.path)
        self._written_at = time.monotonic()


def _progress_clear(job: ImportJob) -> None:
    (job.folder / PROGRESS_FILE).unlink(missing_ok=True)


# --- Clean-up -----------------------------------------------------------------


def job_files_clean(*, now: datetime | None = None) -> int:
    """Delete the files (upload, progress, reports) of jobs uploaded more than
    IMPORTS_KEEP_DAYS ago and not under way; the rows stay as the history.

    They hold clients' personal data, which is kept no longer than needed.
    A second run finds nothing to delete.
    """
    now = now or timezone.now()
    before = now - timedelta(days=settings.IMPORTS_KEEP_DAYS)
    old = ImportJob.objects.filter(created_at__lt=before).exclude(
        status__in=(Status.DRY_RUNNING, Status.RUNNING)
    )
    cleaned = 0
    for job in old.only("pk", "file_path").iterator():
        if job.folder.exists():
            shutil.rmtree(job.folder, ignore_errors=True)
            cleaned += 1
    return cleaned
