"""The points' figures for ``/metrics`` (``core.metrics``): points issued and
redeemed today, and each daily job's last success, its duration and recent
failures."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from rewards.models import JobRun, LedgerEntry
from rewards.selectors.program import day_start

Kind = LedgerEntry.Kind
# The daily jobs are a handful: their last runs are among the latest rows.
RECENT_RUNS = 500


def collect():
    today = timezone.localdate()
    got = LedgerEntry.objects.filter(created_at__gte=day_start(today)).aggregate(
        issued=Sum("amount", filter=Q(kind__in=[Kind.EARN, Kind.BONUS])),
        redeemed=Sum("amount", filter=Q(kind=Kind.SPEND)),
    )
    points = GaugeMetricFamily(
        "regulars_points_today",
        "Points earned or given as bonuses, and points spent, since local midnight.",
        labels=["movement"],
    )
    points.add_metric(["issued"], got["issued"] or 0)
    points.add_metric(["redeemed"], -(got["redeemed"] or 0))
    yield points

    last_success = GaugeMetricFamily(
        "regulars_job_last_success_timestamp_seconds",
        "When each daily job last finished successfully (Unix time).",
        labels=["job"],
    )
    duration = GaugeMetricFamily(
        "regulars_job_last_duration_seconds",
        "How long each daily job's last successful run took.",
        labels=["job"],
    )
    latest: dict[str, JobRun] = {}
    done = JobRun.objects.filter(status=JobRun.Status.DONE, finished_at__isnull=False)
    for run in done.order_by("-finished_at")[:RECENT_RUNS]:
        latest.setdefault(run.job, run)
    for job, run in sorted(latest.items()):
        last_success.add_metric([job], run.finished_at.timestamp())
        duration.add_metric([job], (run.finished_at - run.started_at).total_seconds())
    yield last_success
    yield duration

    failed = GaugeMetricFamily(
        "regulars_job_failed_runs_7d",
        "Failed runs of each daily job over the last 7 business days.",
        labels=["job"],
    )
    rows = (
        JobRun.objects.filter(
            status=JobRun.Status.FAILED, business_date__gte=today - timedelta(days=7)
        )
        .values("job")
        .annotate(n=Count("id"))
        .order_by("job")
    )
    for row in rows:
        failed.add_metric([row["job"]], row["n"])
    yield failed
