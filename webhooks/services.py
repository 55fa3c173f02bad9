"""Writes of the webhooks app: emit events, manage endpoints, replay, ping.

Delivery (the worker's side: claiming, sending, retries, giving up, disabling
failing endpoints, pruning) lives in ``webhooks.delivery``.

Invariants:

- An event is written in the transaction of the change it reports, with one
  ``Delivery`` per active endpoint subscribed to its type: a rolled-back change
  leaves nothing to send, a committed one is never lost (the minute sweep finds
  whatever the after-commit kick missed).
- ``event_emit`` costs no query when no active endpoint subscribes to the type
  (``webhooks.subscriptions``), and the payload is only built then: callers
  may pass a function that makes it.
- Events never change; a replay is a new delivery of the same event, so the
  receiver sees the same event id and can drop a duplicate.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from webhooks import subscriptions
from webhooks.events import EVENT_TYPES, PING
from webhooks.models import Delivery, Endpoint, Event

logger = logging.getLogger(__name__)

Data = dict | Callable[[], dict]

_muted: ContextVar[bool] = ContextVar("webhooks_muted", default=False)


# --- Payload helpers --------------------------------------------------------------


def money(value: Decimal | int | str | None) -> str | None:
    """Money in a payload: a string with two decimals ("1500.00"), never a float."""
    if value is None:
        return None
    return str(Decimal(value).quantize(Decimal("0.01")))


def iso(value: datetime | None) -> str | None:
    """A moment in a payload: ISO 8601 in UTC with a "Z"."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _json_safe(data: dict) -> dict:
    # Dates and Decimals that slipped through become strings, as the docs say.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


# --- Emitting ---------------------------------------------------------------------


@contextmanager
def events_muted() -> Iterator[None]:
    """Emit nothing inside this block (bulk imports, demo data, backfills)."""
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)


def event_subscribed(type: str) -> bool:
    """Whether an active endpoint wants ``type`` (no query within the TTL).

    For batch jobs: read what they wrote for the events only when it is wanted.
    """
    return not _muted.get() and bool(subscriptions.subscribers(type))


def event_emit(*, type: str, data: Data) -> Event | None:
    """Record an event for every active endpoint subscribed to ``type``.

    Call it inside the transaction of the change. ``data`` is the event's
    payload, or a function returning it (called only when someone
    subscribes). No subscriber: returns None having run no query. Otherwise
    two statements (the event, its deliveries in one INSERT … SELECT) and,
    once per transaction, an after-commit kick of the delivery task.
    """
    if _muted.get():
        return None
    endpoint_ids = subscriptions.subscribers(type)
    if not endpoint_ids:
        return None
    payload = _json_safe(data() if callable(data) else data)
    event = Event(id=uuid.uuid4(), type=type, occurred_at=timezone.now(), data=payload)
    event.save(force_insert=True)
    _deliveries_insert(event, endpoint_ids)
    _kick_after_commit()
    return event


def events_emit_bulk(*, type: str, data_rows: Iterable[dict]) -> int:
    """``event_emit`` for many events of one type, in a few statements.

    For set-based batch jobs: the active subscribed endpoints are read once,
    then events and deliveries are inserted with ``bulk_create``. Returns how
    many events were written (0, and no query at all, when nobody subscribes).
    """
    if _muted.get():
        return 0
    endpoint_ids = subscriptions.subscribers(type)
    if not endpoint_ids:
        return 0
    active = list(
        Endpoint.objects.filter(pk__in=endpoint_ids, is_active=True).values_list(
            "pk", flat=True
        )
    )
    if not active:
        return 0
    now = timezone.now()
    events = [
        Event(id=uuid.uuid4(), type=type, occurred_at=now, data=_json_safe(row))
        for row in data_rows
    ]
    if not events:
        return 0
    Event.objects.bulk_create(events, batch_size=500)
    Delivery.objects.bulk_create(
        (
            Delivery(event=event, endpoint_id=pk, next_attempt_at=now, created_at=now)
            for event in events
            for pk in active
        ),
        batch_size=500,
    )
    _kick_after_commit()
    return len(events)


_DELIVERIES_SQL = (
    f"INSERT INTO {Delivery._meta.db_table} "
    "(event_id, endpoint_id, status, attempts, next_attempt_at, last_error, "
    "created_at) "
    "SELECT %s, id, %s, 0, %s, '', %s "
    f"FROM {Endpoint._meta.db_table} WHERE is_active = %s AND id IN ({{ids}})"
)


def _deliveries_insert(event: Event, endpoint_ids: Iterable[int]) -> None:
    """One delivery per endpoint among ``endpoint_ids`` that exists and is active.

    The ids come from a cache that may be a few seconds old: selecting them
    again in the INSERT keeps a deleted or disabled endpoint out.
    """
    ids = [int(pk) for pk in endpoint_ids]
    at = connection.ops.adapt_datetimefield_value(event.occurred_at)
    event_id = Delivery._meta.get_field("event").get_db_prep_value(event.id, connection)
    sql = _DELIVERIES_SQL.format(ids=", ".join(["%s"] * len(ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [event_id, Delivery.Status.PENDING, at, at, True, *ids])


def _kick() -> None:
    from webhooks.tasks import webhooks_deliver_due_task

    try:
        webhooks_deliver_due_task.delay()
    except Exception:
        # The broker is down: the minute sweep delivers them later.
        logger.exception("Could not enqueue the webhook delivery task")


def _kick_after_commit() -> None:
    """Enqueue the delivery task once after this transaction commits.

    One kick per transaction however many events it emits: a kick already
    registered (and not dropped with a rolled-back savepoint) is enough.
    """
    conn = transaction.get_connection()
    if conn.in_atomic_block and any(
        func is _kick for _sids, func, _robust in conn.run_on_commit
    ):
        return
    transaction.on_commit(_kick)


MEMBER_TYPES_WITH_PERSONAL_DATA = ("member.created", "member.updated")


def events_redact_member(*, member_id: int) -> int:
    """Strip the personal data from a member's earlier member.* events.

    Called by the erasure (in its transaction): an event still waiting to be
    delivered, or replayed later, then carries only the member id. One UPDATE;
    how many events were redacted.
    """
    return Event.objects.filter(
        type__in=MEMBER_TYPES_WITH_PERSONAL_DATA, data__member_id=member_id
    ).update(data={"member_id": member_id, "redacted": True})


# --- Endpoints ------------------------------------------------------------------


@transaction.atomic
def endpoint_save(*, endpoint: Endpoint) -> Endpoint:
    """Validate and save an endpoint (new or changed).

    Events are kept in the registry's order, without duplicates. Switching a
    disabled endpoint back on is ``endpoint_enable``. This process sees the
    change at once; the others within WEBHOOKS_SUBSCRIPTIONS_TTL.
    """
    endpoint.events = [t for t in EVENT_TYPES if t in set(endpoint.events or ())] + [
        t for t in dict.fromkeys(endpoint.events or ()) if t not in EVENT_TYPES
    ]
    endpoint.full_clean()
    was_active = (
        Endpoint.objects.filter(pk=endpoint.pk)
        .values_list("is_active", flat=True)
        .first()
        if endpoint.pk
        else None
    )
    endpoint.save()
    if was_active is False and endpoint.is_active:
        # Ticked back on in the form: as the "Re-enable" action does it.
        return endpoint_enable(endpoint=endpoint)
    _subscriptions_changed()
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint) -> None:
    """Delete an endpoint with its deliveries and their attempts."""
    endpoint.delete()
    _subscriptions_changed()


@transaction.atomic
def endpoint_enable(*, endpoint: Endpoint) -> Endpoint:
    """Switch a (disabled) endpoint back on.

    The failure clock starts afresh, and deliveries that waited while it was
    off are due now (those past WEBHOOKS_RETRY_FOR_HOURS give up at their next
    failure).
    """
    now = timezone.now()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        is_active=True, disabled_at=None, disabled_reason="", failing_since=None
    )
    Delivery.objects.filter(
        endpoint_id=endpoint.pk,
        status__in=[Delivery.Status.PENDING, Delivery.Status.FAILED],
    ).update(next_attempt_at=now)
    endpoint.refresh_from_db()
    _subscriptions_changed()
    _kick_after_commit()
    return endpoint


def _subscriptions_changed() -> None:
    subscriptions.forget()
    # And after commit: a reader in this process between now and the commit
    # could have cached the old state.
    transaction.on_commit(subscriptions.forget)


# --- Replay and ping ------------------------------------------------------------


@transaction.atomic
def deliveries_replay(*, deliveries: Iterable[Delivery]) -> list[Delivery]:
    """A new delivery of each one's event to the same endpoint, due now.

    Whatever the original's status (a receiver that lost data asks again): the
    event and its id are the same, the request is signed afresh when sent.
    The originals stay as they were, as history.
    """
    now = timezone.now()
    new = [
        Delivery(
            event_id=d.event_id,
            endpoint_id=d.endpoint_id,
            next_attempt_at=now,
            created_at=now,
            replay_of=d.pk,
        )
        for d in deliveries
    ]
    Delivery.objects.bulk_create(new)
    if new:
        _kick_after_commit()
    return new


@transaction.atomic
def endpoint_ping(*, endpoints: Iterable[Endpoint]) -> list[Delivery]:
    """Send a ``ping`` event to each active endpoint, whatever it subscribes to.

    A disabled endpoint is left out (its deliveries wait until it is switched
    back on): enable it, then ping it.
    """
    endpoints = [e for e in endpoints if e.is_active]
    if not endpoints:
        return []
    now = timezone.now()
    event = Event.objects.create(
        type=PING, occurred_at=now, data={"message": "ping from Regulars"}
    )
    new = Delivery.objects.bulk_create(
        [
            Delivery(event=event, endpoint=e, next_attempt_at=now, created_at=now)
            for e in endpoints
        ]
    )
    _kick_after_commit()
    return new
