"""The daily jobs of the rewards app: what runs, in which order, once per date.

Beat is known to fire a job twice, late, or once after days of downtime. So:

* every run is recorded per (job, business date) in ``JobRun`` (unique): a date
  that is done is skipped unless forced; a failed or abandoned run is retried;
* on PostgreSQL a session advisory lock per job makes a concurrent second run
  skip at once (on SQLite the ``JobRun`` row's compare-and-set decides);
* ``daily_jobs_run`` catches up the dates missed since each job's last done
  date, oldest first, at most ``CATCH_UP_DAYS`` back;
* the jobs themselves (``rewards.services.batch``) select by state, so even a
  forced re-run changes nothing that is already done.
"""

from __future__ import annotations

import hashlib
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rewards.models import JobRun
from rewards.services import batch

logger = logging.getLogger(__name__)

CATCH_UP_DAYS = 62
# On SQLite (no advisory lock) a "running" row older than this is taken for a
# crashed run and retried. On PostgreSQL the lock tells for sure.
STALE_AFTER = timedelta(hours=2)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[..., dict]
    description: str
    label: str = ""  # what staff read; ``name`` is for the command line

    @property
    def title(self) -> str:
        return str(self.label or self.name)


# In this order: points activate before anything reads balances, lots expire
# before the notices look at what is left, tiers are reviewed before the
# monthly perks go to whoever holds a tier today.
JOBS: dict[str, Job] = {
    job.name: job
    for job in [
        Job(
            "activate_pending",
            batch.lots_activate,
            gettext_lazy("Pending points whose pending period ended become spendable."),
            gettext_lazy("Activate pending points"),
        ),
        Job(
            "expire_points",
            batch.lots_expire,
            gettext_lazy(
                "Points past their expiry date expire; inactive members' points burn."
            ),
            gettext_lazy("Expire points"),
        ),
        Job(
            "expire_vouchers",
            batch.vouchers_expire_due,
            gettext_lazy("Unused vouchers past their validity expire."),
            gettext_lazy("Expire vouchers"),
        ),
        Job(
            "review_tiers",
            batch.tiers_review,
            gettext_lazy(
                "Nightly tier review: upgrades, at-risk marks, downgrades after grace."
            ),
            gettext_lazy("Review tiers"),
        ),
        Job(
            "issue_tier_perks",
            batch.tier_perks_issue,
            gettext_lazy("On the 1st: the monthly perk voucher of each member's tier."),
            gettext_lazy("Issue monthly tier perks"),
        ),
        Job(
            "queue_expiry_notices",
            batch.expiry_notices_queue,
            gettext_lazy("Queue “your points expire soon” notices."),
            gettext_lazy("Queue expiry notices"),
        ),
        Job(
            "send_expiry_notices",
            batch.expiry_notices_send,
            gettext_lazy("Hand the queued expiry notices to the outbox."),
            gettext_lazy("Send expiry notices"),
        ),
    ]
}


# What the jobs' results count, as staff read it (``JobRun.result``).
RESULT_LABELS = {
    "activated": gettext_lazy("points activated"),
    "lots": gettext_lazy("lots"),
    "members": gettext_lazy("members"),
    "points": gettext_lazy("points"),
    "vouchers": gettext_lazy("vouchers"),
    "upgraded": gettext_lazy("upgraded"),
    "downgraded": gettext_lazy("downgraded"),
    "at_risk": gettext_lazy("below the threshold"),
    "recovered": gettext_lazy("back above it"),
    "wallets_created": gettext_lazy("wallets created"),
    "overrides_ended": gettext_lazy("manual tiers ended"),
    "changed_after_override": gettext_lazy("changed after a manual tier"),
    "expires_on": gettext_lazy("expiring on"),
    "notices": gettext_lazy("notices"),
    "notices_sent": gettext_lazy("notices sent"),
    "notices_skipped": gettext_lazy("notices skipped"),
    "messages": gettext_lazy("messages"),
    "skipped": gettext_lazy("skipped"),
}
# Reasons a job gives for doing nothing, as staff read them.
SKIP_REASONS = {
    "no tiers": gettext_lazy("no tiers"),
    "not the 1st of the month": gettext_lazy("not the 1st of the month"),
}


def job_title(name: str) -> str:
    job = JOBS.get(name)
    return job.title if job else name


def result_text(result: dict) -> str:
    """A run's result as a sentence of counts: "upgraded 12 · downgraded 3"."""
    parts = []
    for key, value in (result or {}).items():
        label = RESULT_LABELS.get(key, key.replace("_", " "))
        if isinstance(value, bool):
            value = "✓" if value else "—"
        elif isinstance(value, int):
            value = number_format(value, force_grouping=True)
        elif isinstance(value, str):
            value = SKIP_REASONS.get(value, value)
        parts.append(f"{label}: {value}")
    return " · ".join(parts)


class UnknownJob(ValueError):
    pass


@dataclass(frozen=True)
class JobOutcome:
    """What one ``job_run`` call did: ``done``, ``skipped`` or ``failed``."""

    job: str
    business_date: date
    status: str
    result: dict = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""

    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"

    def as_dict(self) -> dict:
        data = asdict(self)
        data["business_date"] = self.business_date.isoformat()
        return data


def job_names(only=None) -> list[str]:
    """Job names in run order, restricted to ``only``; unknown names refused."""
    if not only:
        return list(JOBS)
    unknown = sorted(set(only) - set(JOBS))
    if unknown:
        raise UnknownJob(
            _("Unknown job(s): %(names)s. Known: %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join(JOBS)}
        )
    return [name for name in JOBS if name in only]


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(f"regulars.rewards.job:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _advisory_lock(name: str) -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(name)])
        return bool(cur.fetchone()[0])


def _advisory_unlock(name: str) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(name)])


def _claim(name: str, on: date, *, force: bool) -> tuple[bool, str]:
    """Mark (job, date) running if it is ours to run: (claimed, why not)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            JobRun.objects.create(
                job=name, business_date=on, status=JobRun.Status.RUNNING, started_at=now
            )
        return True, ""
    except IntegrityError:
        pass
    run = JobRun.objects.get(job=name, business_date=on)
    if run.status == JobRun.Status.DONE and not force:
        return False, "already done"
    # On PostgreSQL we hold the job's advisory lock: a row still "running" was
    # left by a crashed run. On SQLite only its age tells.
    if (
        run.status == JobRun.Status.RUNNING
        and connection.vendor != "postgresql"
        and run.started_at > now - STALE_AFTER
    ):
        return False, "running elsewhere"
    # Compare-and-set on what we read: of two callers, one wins.
    claimed = JobRun.objects.filter(
        pk=run.pk, status=run.status, started_at=run.started_at
    ).update(
        status=JobRun.Status.RUNNING,
        started_at=now,
        finished_at=None,
        error="",
    )
    return bool(claimed), "" if claimed else "running elsewhere"


def job_run(name: str, on: date, *, force: bool = False) -> JobOutcome:
    """Run one job for one business date, at most once at a time, recorded.

    Returns the outcome; a job's exception is recorded on its ``JobRun``
    (status failed, retried by the next run) and reported, not raised.
    """
    job = JOBS.get(name)
    if job is None:
        raise UnknownJob(_("Unknown job: %(name)s.") % {"name": name})
    if on > timezone.localdate():
        # Expiring tomorrow's lots today would take points still valid.
        raise ValueError(
            _("The business date %(date)s has not begun yet.") % {"date": on}
        )
    if not _advisory_lock(name):
        return JobOutcome(name, on, JobOutcome.SKIPPED, note="running elsewhere")
    try:
        claimed, why = _claim(name, on, force=force)
        if not claimed:
            return JobOutcome(name, on, JobOutcome.SKIPPED, note=why)
        started = time.monotonic()
        try:
            result = job.run(on=on)
        except Exception as exc:  # noqa: BLE001 - recorded, retried next run
            seconds = round(time.monotonic() - started, 3)
            logger.exception("Daily job %s for %s failed", name, on)
            JobRun.objects.filter(job=name, business_date=on).update(
                status=JobRun.Status.FAILED,
                finished_at=timezone.now(),
                error=traceback.format_exc()[-4000:],
            )
            return JobOutcome(
                name, on, JobOutcome.FAILED, seconds=seconds, note=str(exc)
            )
        seconds = round(time.monotonic() - started, 3)
        JobRun.objects.filter(job=name, business_date=on).update(
            status=JobRun.Status.DONE,
            finished_at=timezone.now(),
            result={**result, "seconds": seconds},
        )
        return JobOutcome(name, on, JobOutcome.DONE, result, seconds)
    finally:
        _advisory_unlock(name)


def catch_up_dates(name: str, today: date) -> list[date]:
    """Dates to run ``name`` for: after its last done date up to ``today``.

    Never run: today only. At most ``CATCH_UP_DAYS`` back. Today is always
    included (an already done today is then reported as skipped).
    """
    last = JobRun.objects.filter(
        job=name, status=JobRun.Status.DONE, business_date__lte=today
    ).aggregate(last=Max("business_date"))["last"]
    if last is None:
        return [today]
    start = max(last + timedelta(days=1), today - timedelta(days=CATCH_UP_DAYS))
    days = (today - start).days
    return [start + timedelta(days=i) for i in range(days)] + [today]


def daily_jobs_run(today: date, only=None, *, force: bool = False) -> list[JobOutcome]:
    """Run every job (or ``only`` those) for the dates it missed, oldest first.

    A job that fails on a date stops there (its later dates wait for the next
    run, so dates never run out of order); the other jobs go on.
    """
    outcomes = []
    for name in job_names(only):
        for on in catch_up_dates(name, today):
            outcome = job_run(name, on, force=force)
            outcomes.append(outcome)
            if outcome.status == JobOutcome.FAILED:
                break
    return outcomes
