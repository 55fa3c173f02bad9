"""The members app's figures for ``/metrics`` (``core.metrics``): today's
visits (the checkouts) and the outbox."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.db.models import Count, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from members.models import Message, Visit


def today_start() -> datetime:
    """Local midnight of today (the program's time zone)."""
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


def collect():
    visits = GaugeMetricFamily(
        "regulars_visits_today",
        "Visits (checkouts) paid since local midnight, by their status now.",
        labels=["status"],
    )
    revenue = GaugeMetricFamily(
        "regulars_revenue_today",
        "Money paid for visits since local midnight (still paid), in the currency.",
    )
    rows = (
        Visit.objects.filter(paid_at__gte=today_start())
        .values("status")
        .annotate(n=Count("id"), money=Sum("amount_paid"))
        .order_by()
    )
    by_status = {row["status"]: row for row in rows}
    for status in Visit.Status.values:
        visits.add_metric([status], by_status.get(status, {}).get("n", 0))
    paid = by_status.get(Visit.Status.PAID, {}).get("money") or 0
    revenue.add_metric([], float(paid))
    yield visits
    yield revenue

    outbox = GaugeMetricFamily(
        "regulars_outbox_messages",
        "Messages waiting to be sent (queued), and those that failed in the last 24 h.",
        labels=["state"],
    )
    outbox.add_metric(
        ["queued"], Message.objects.filter(status=Message.Status.QUEUED).count()
    )
    since = timezone.now() - timedelta(hours=24)
    outbox.add_metric(
        ["failed_24h"],
        Message.objects.filter(
            status=Message.Status.FAILED, created_at__gte=since
        ).count(),
    )
    yield outbox
