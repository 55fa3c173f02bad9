"""Reads of the webhooks app."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from webhooks.models import Delivery, Endpoint


def deliveries_due_ids(*, limit: int = 200) -> list[int]:
    """Open deliveries due now to active endpoints, the longest waiting first."""
    return list(
        Delivery.objects.filter(
            status__in=[Delivery.Status.PENDING, Delivery.Status.FAILED],
            next_attempt_at__lte=timezone.now(),
            endpoint__is_active=True,
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def endpoint_recent_deliveries(*, endpoint: Endpoint, limit: int = 20) -> QuerySet:
    return (
        Delivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .order_by("-created_at", "-pk")[:limit]
    )
