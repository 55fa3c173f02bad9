"""The worker's side: send due deliveries, retry with backoff, give up, disable.

How a delivery is never sent twice at once (as the outbox does it,
``members.messaging.delivery``): an attempt starts with a *claim* — in a short
transaction the row is locked (``SELECT … FOR UPDATE SKIP LOCKED`` on
PostgreSQL), checked to be open and due, and updated with ``attempts + 1`` and
``next_attempt_at = now + lease``, conditional on the attempts count read (so
on SQLite, without row locks, the second of two claimers updates nothing).
No lock is held during the HTTP call. The outcome is written with an update
fenced on the same count. A lease outlives the timeout, so it runs out only if
the worker died mid-send; then the delivery is tried again (at-least-once: the
receiver drops a duplicate by the event id). A delivered one is never sent
again by the worker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from webhooks import selectors
from webhooks.models import Attempt, Delivery, Endpoint, Event

logger = logging.getLogger(__name__)

USER_AGENT = "Regulars-Webhooks/1"
# The staff group told when an endpoint is disabled (``members.roles.MANAGER``;
# webhooks may not import members, a test keeps the two equal).
MANAGER_GROUP = "Manager"
EXCERPT_MAX = 1024


# --- The request ------------------------------------------------------------------


def body_of(event: Event) -> bytes:
    """The exact bytes POSTed for ``event``: the same on every attempt."""
    from webhooks.services import iso

    payload = {
        "id": str(event.id),
        "type": event.type,
        "created_at": iso(event.occurred_at),
        "data": event.data,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``."""
    digest = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return f"v1={digest}"


def headers_for(delivery: Delivery, event: Event, secret: str, body: bytes) -> dict:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Regulars-Event": event.type,
        "X-Regulars-Delivery": str(delivery.pk),
        "X-Regulars-Timestamp": timestamp,
        "X-Regulars-Signature": signature(secret, timestamp, body),
    }


# --- Backoff ----------------------------------------------------------------------


def backoff(attempt: int) -> timedelta:
    """Wait after the ``attempt``-th failure: the schedule, its last step repeating."""
    schedule = list(settings.WEBHOOKS_RETRY_SCHEDULE) or [60]
    return timedelta(seconds=schedule[min(attempt, len(schedule)) - 1])


def _lease() -> timedelta:
    return timedelta(seconds=max(60.0, 3 * settings.WEBHOOKS_TIMEOUT))


# --- One delivery -----------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    delivery: Delivery | None
    attempted: bool = False


def _due(now: datetime) -> Q:
    return (
        Q(status__in=[Delivery.Status.PENDING, Delivery.Status.FAILED])
        & Q(next_attempt_at__lte=now)
        & Q(endpoint__is_active=True)
    )


def delivery_attempt(*, delivery_id: int) -> AttemptResult:
    """Claim one due delivery, POST it, record the attempt and the outcome."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "endpoint")
            .filter(_due(now), pk=delivery_id)
            .first()
        )
        if delivery is None:
            return AttemptResult(Delivery.objects.filter(pk=delivery_id).first())
        claimed = Delivery.objects.filter(
            pk=delivery.pk,
            status__in=[Delivery.Status.PENDING, Delivery.Status.FAILED],
            attempts=delivery.attempts,
        ).update(attempts=F("attempts") + 1, next_attempt_at=now + _lease())
        if not claimed:
            return AttemptResult(delivery)
    delivery.attempts += 1
    event, endpoint = delivery.event, delivery.endpoint

    body = body_of(event)
    started = time.monotonic()
    at = timezone.now()
    status_code, excerpt, error = None, "", ""
    try:
        response = requests.post(
            endpoint.url,
            data=body,
            headers=headers_for(delivery, event, endpoint.secret, body),
            timeout=settings.WEBHOOKS_TIMEOUT,
            allow_redirects=False,
        )
        status_code = response.status_code
        excerpt = response.content[:EXCERPT_MAX].decode("utf-8", "replace")
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    if not ok and not error:
        error = f"HTTP {status_code}"
    _record(
        delivery,
        ok=ok,
        attempt=Attempt(
            delivery=delivery,
            at=at,
            duration_ms=duration_ms,
            status_code=status_code,
            response_excerpt=excerpt[:EXCERPT_MAX],
            error=error[:500],
        ),
    )
    return AttemptResult(delivery, attempted=True)


@transaction.atomic
def _record(delivery: Delivery, *, ok: bool, attempt: Attempt) -> None:
    """Log the attempt; write the outcome unless another worker claimed it since."""
    now = timezone.now()
    attempt.save()
    fields = {"last_status_code": attempt.status_code, "last_error": attempt.error}
    if ok:
        fields |= {
            "status": Delivery.Status.DELIVERED,
            "delivered_at": now,
            "next_attempt_at": None,
        }
    else:
        retry_at = now + backoff(delivery.attempts)
        # From the delivery's creation: the event's time, or a replay's.
        limit = delivery.created_at + timedelta(hours=settings.WEBHOOKS_RETRY_FOR_HOURS)
        if retry_at > limit:
            fields |= {"status": Delivery.Status.GAVE_UP, "next_attempt_at": None}
        else:
            fields |= {"status": Delivery.Status.FAILED, "next_attempt_at": retry_at}
    updated = Delivery.objects.filter(
        pk=delivery.pk,
        status__in=[Delivery.Status.PENDING, Delivery.Status.FAILED],
        attempts=delivery.attempts,
    ).update(**fields)
    if not updated:
        logger.warning(
            "Outcome of webhook delivery %s attempt %s dropped: claimed since",
            delivery.pk,
            delivery.attempts,
        )
        return
    for name, value in fields.items():
        setattr(delivery, name, value)
    if ok:
        Endpoint.objects.filter(pk=delivery.endpoint_id).update(
            last_success_at=now, failing_since=None
        )
    else:
        Endpoint.objects.filter(
            pk=delivery.endpoint_id, failing_since__isnull=True
        ).update(failing_since=attempt.at)
        logger.warning(
            "Webhook delivery %s to endpoint %s failed (attempt %s): %s",
            delivery.pk,
            delivery.endpoint_id,
            delivery.attempts,
            attempt.error,
        )


def deliveries_deliver_due(*, limit: int = 200) -> int:
    """Attempt up to ``limit`` due deliveries, oldest due first; how many tried.

    Endpoints failing for WEBHOOKS_DISABLE_AFTER_DAYS are disabled first.
    """
    endpoints_disable_failing()
    attempted = 0
    for delivery_id in selectors.deliveries_due_ids(limit=limit):
        if delivery_attempt(delivery_id=delivery_id).attempted:
            attempted += 1
    return attempted


# --- Failing endpoints --------------------------------------------------------------


def endpoints_disable_failing(*, now: datetime | None = None) -> list[Endpoint]:
    """Disable active endpoints with only failures for WEBHOOKS_DISABLE_AFTER_DAYS.

    Tells the managers by email once per endpoint (the conditional update
    makes a second run, or a second worker, do nothing).
    """
    now = now or timezone.now()
    days = settings.WEBHOOKS_DISABLE_AFTER_DAYS
    cutoff = now - timedelta(days=days)
    disabled = []
    for endpoint in Endpoint.objects.filter(is_active=True, failing_since__lte=cutoff):
        reason = _("Every delivery failed for %(days)s days (since %(since)s).") % {
            "days": days,
            "since": endpoint.failing_since.isoformat(timespec="minutes"),
        }
        with transaction.atomic():
            done = Endpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
                is_active=False, disabled_at=now, disabled_reason=reason[:255]
            )
            if not done:
                continue
            endpoint.is_active, endpoint.disabled_at = False, now
            endpoint.disabled_reason = reason[:255]
            transaction.on_commit(lambda e=endpoint: _notify_disabled(e))
        logger.warning("Webhook endpoint %s disabled: %s", endpoint.pk, reason)
        disabled.append(endpoint)
    if disabled:
        from webhooks.subscriptions import forget

        forget()
    return disabled


def managers_emails() -> list[str]:
    users = (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True, groups__name=MANAGER_GROUP)
        .exclude(email="")
    )
    return sorted(set(users.values_list("email", flat=True)))


def _notify_disabled(endpoint: Endpoint) -> None:
    recipients = managers_emails()
    if not recipients:
        logger.warning("Webhook endpoint %s disabled; no manager to tell", endpoint.pk)
        return
    subject = _("Webhook endpoint disabled: %(url)s") % {"url": endpoint.url}
    body = _(
        "Regulars stopped sending events to %(url)s: %(reason)s\n\n"
        "Events for it are kept and wait. When the receiver works again, "
        "select the endpoint in the admin (Webhooks → Webhook endpoints), "
        "choose “Re-enable”, then “Send a test ping”."
    ) % {"url": endpoint.url, "reason": endpoint.disabled_reason}
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        logger.exception("Could not email managers about endpoint %s", endpoint.pk)


# --- Pruning -----------------------------------------------------------------------


def deliveries_prune(*, now: datetime | None = None) -> int:
    """Delete finished deliveries and events older than WEBHOOKS_KEEP_DAYS.

    Set-based: attempts, then deliveries (delivered or given up), then events
    with no delivery left. Open deliveries and their events are kept. Returns
    how many deliveries went.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.WEBHOOKS_KEEP_DAYS)
    done = [Delivery.Status.DELIVERED, Delivery.Status.GAVE_UP]
    old = Delivery.objects.filter(status__in=done, created_at__lt=cutoff)
    with transaction.atomic():
        Attempt.objects.filter(delivery__in=old.values("pk")).delete()
        at = connection.ops.adapt_datetimefield_value(cutoff)
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {Delivery._meta.db_table} "
                "WHERE status IN (%s, %s) AND created_at < %s",
                [*done, at],
            )
            pruned = cursor.rowcount
            cursor.execute(
                f"DELETE FROM {Event._meta.db_table} WHERE occurred_at < %s "
                f"AND NOT EXISTS (SELECT 1 FROM {Delivery._meta.db_table} d "
                f"WHERE d.event_id = {Event._meta.db_table}.id)",
                [at],
            )
    return pruned
