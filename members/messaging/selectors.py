"""Reads of the outbox: the in-app inbox and the messages due for delivery."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from members.models import Member, Message
from members.models.messaging import Channel


def inbox_for(member: Member) -> QuerySet[Message]:
    """The member's in-app inbox: delivered in-app messages, newest first."""
    return Message.objects.filter(
        member=member, channel=Channel.IN_APP, status=Message.Status.SENT
    ).order_by("-created_at", "-pk")


def messages_due_ids(*, limit: int, now=None) -> list[int]:
    """Ids of queued messages whose (next) attempt is due, oldest first."""
    now = now or timezone.now()
    return list(
        Message.objects.filter(status=Message.Status.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
