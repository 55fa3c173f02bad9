"""Endpoints, the events they get, each delivery and every attempt.

An ``Event`` is written in the transaction of the change it reports, with one
``Delivery`` per subscribed endpoint; the worker sends due deliveries and logs
each try as an ``Attempt``. Events are immutable; a replay is a new delivery
of the same event.
"""

from __future__ import annotations

import secrets
import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from webhooks.events import EVENT_TYPES

# The ``core_stamp`` row bumped (by triggers, webhooks/migrations/0001) when an
# endpoint is added, deleted, or its url, events, secret or active flag change.
# ``core.models.Stamp`` uses 1 (CONFIG) and 2 (CREDENTIALS).
SUBSCRIPTIONS_STAMP = 3


def secret_new() -> str:
    return secrets.token_urlsafe(32)


class Endpoint(models.Model):
    """Where events go: an URL, the key of its signature and what it wants."""

    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    secret = models.CharField(
        _("signing secret"),
        max_length=200,
        default=secret_new,
        help_text=_(
            "The key of the HMAC-SHA256 signature of every request. Give it to "
            "the receiver; change it to rotate."
        ),
    )
    events = models.JSONField(
        _("events"),
        default=list,
        blank=True,
        help_text=_("The event types this endpoint receives."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    failing_since = models.DateTimeField(
        _("failing since"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("The first failed attempt since the last successful one."),
    )
    last_success_at = models.DateTimeField(
        _("last success"), null=True, blank=True, editable=False
    )
    disabled_at = models.DateTimeField(
        _("disabled"), null=True, blank=True, editable=False
    )
    disabled_reason = models.CharField(
        _("why disabled"), max_length=255, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["url", "id"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.description or self.url

    def clean(self) -> None:
        super().clean()
        events = self.events
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ValidationError(
                {"events": _("Give the event types as a list.")}, code="invalid"
            )
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if unknown:
            raise ValidationError(
                {
                    "events": _("Unknown event type(s): %(types)s.")
                    % {"types": ", ".join(unknown)}
                },
                code="unknown_event_type",
            )


class Event(models.Model):
    """Something that happened, as the receivers see it. Never changed."""

    id = models.UUIDField(_("event id"), primary_key=True, default=uuid.uuid4)
    type = models.CharField(_("type"), max_length=40)
    occurred_at = models.DateTimeField(_("occurred"), default=timezone.now)
    data = models.JSONField(_("data"), default=dict)

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        indexes = [models.Index(fields=["occurred_at"], name="webhook_event_at_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class Delivery(models.Model):
    """One event to one endpoint, tried until delivered or given up."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed, will retry")
        GAVE_UP = "gave_up", _("Gave up")

    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("event"),
    )
    endpoint = models.ForeignKey(
        Endpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("endpoint"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(
        _("next attempt"), null=True, blank=True, default=timezone.now
    )
    last_status_code = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    # A plain id, not a foreign key: pruning the original must not touch it.
    replay_of = models.BigIntegerField(_("replay of delivery"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        permissions = [("replay_delivery", _("Can replay a webhook delivery"))]
        indexes = [
            # The worker's "what is due" scan reads only open deliveries.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "failed"]),
                name="webhook_delivery_due_idx",
            ),
            models.Index(
                fields=["status", "created_at"], name="webhook_delivery_st_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.status}"


class Attempt(models.Model):
    """One HTTP try of a delivery: what came back, or what went wrong."""

    delivery = models.ForeignKey(
        Delivery,
        on_delete=models.CASCADE,
        related_name="attempt_log",
        verbose_name=_("delivery"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    duration_ms = models.PositiveIntegerField(_("duration, ms"), default=0)
    status_code = models.PositiveSmallIntegerField(
        _("HTTP status"), null=True, blank=True
    )
    response_excerpt = models.CharField(
        _("response (start)"), max_length=1024, blank=True
    )
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error[:40]}"
