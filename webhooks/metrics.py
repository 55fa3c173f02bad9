"""The webhooks' figures for ``/metrics`` (``core.metrics``): deliveries not
delivered yet (pending, failing and retrying) and given up in the last 24 h."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from webhooks.models import Delivery


def collect():
    deliveries = GaugeMetricFamily(
        "regulars_webhook_deliveries",
        "Webhook deliveries waiting (pending), failing and to be retried (failed), "
        "and given up in the last 24 h (gave_up_24h).",
        labels=["state"],
    )
    Status = Delivery.Status
    for state in (Status.PENDING, Status.FAILED):
        deliveries.add_metric([state], Delivery.objects.filter(status=state).count())
    since = timezone.now() - timedelta(hours=24)
    gave_up = Delivery.objects.filter(status=Status.GAVE_UP, created_at__gte=since)
    deliveries.add_metric(["gave_up_24h"], gave_up.count())
    yield deliveries
