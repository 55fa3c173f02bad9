"""Which active endpoints want which event type, known without a query.

``event_emit`` runs inside every hot path (a POS visit emits ``visit.recorded``
and ``points.changed``) and must cost nothing when nobody subscribes. Each
process keeps ``{type: (endpoint ids)}`` in memory and trusts it for
``WEBHOOKS_SUBSCRIPTIONS_TTL`` seconds (10 by default). After that it looks at
the subscriptions' change stamp (``models.SUBSCRIPTIONS_STAMP``), which
database triggers bump whenever an endpoint is added, deleted, or its URL,
events, secret or active flag change:

- inside a request the stamps were read already (``core.stamps.scope``), so
  the look costs no query; outside one (a task, a shell) it is one small
  primary-key read per TTL;
- no stamp row means no endpoint was ever saved: nothing to load, so a fresh
  process serves its first request without a query;
- a stamp that moved means a reload (one query).

The process that saves or deletes an endpoint forgets what it knew at once
(``forget``); other processes see the change within the TTL. An id that went
stale in that window does no harm: deliveries are inserted only for endpoints
that still exist and are active (``services.event_emit``).
"""

from __future__ import annotations

import time

from django.conf import settings

from core import stamps
from webhooks.models import SUBSCRIPTIONS_STAMP, Endpoint

Subscriptions = dict[str, tuple[int, ...]]


def _load() -> Subscriptions:
    found: dict[str, list[int]] = {}
    for pk, events in Endpoint.objects.filter(is_active=True).values_list(
        "pk", "events"
    ):
        for event_type in events or ():
            found.setdefault(event_type, []).append(pk)
    return {key: tuple(ids) for key, ids in found.items()}


class SubscriptionCache(stamps.ProcessCache[Subscriptions]):
    """A ``ProcessCache`` trusted for a TTL, then checked against its stamp.

    Registered as a ``ProcessCache``, so ``ProcessCache.clear_all`` reaches
    it. That call is the test suite's reset between tests (each starts on an
    empty database, "so a query count never depends on which test ran
    before"; nothing in the product calls it), so ``clear`` means *nothing is
    subscribed, as of now* — the one state a test starts in — and a pinned
    query count outside a request is not charged a stamp read. ``forget`` is
    the product's "ask the database next time".
    """

    def __init__(self) -> None:
        super().__init__(_load, stamp=SUBSCRIPTIONS_STAMP)
        # (stamp, checked at (monotonic), value)

    def clear(self) -> None:
        self._entry = (None, time.monotonic(), {})

    def forget(self) -> None:
        self._entry = None

    def get(self) -> Subscriptions:
        entry = self._entry
        now = time.monotonic()
        ttl = settings.WEBHOOKS_SUBSCRIPTIONS_TTL
        if entry is not None and now - entry[1] < ttl:
            return entry[2]
        stamp = stamps.current().get(self.stamp)
        if entry is not None and entry[0] == stamp:
            value = entry[2]
        elif stamp is None:
            value = {}
        else:
            value = self.loader()
        self._entry = (stamp, now, value)
        return value


_cache = SubscriptionCache()


def subscribers(event_type: str) -> tuple[int, ...]:
    """Ids of the active endpoints subscribed to ``event_type`` (maybe stale)."""
    return _cache.get().get(event_type, ())


def forget() -> None:
    """This process changed an endpoint: ask the database next time."""
    _cache.forget()
    stamps.changed()
