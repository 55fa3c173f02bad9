"""A request-rate throttle that costs one cache round trip per request.

DRF's ``SimpleRateThrottle`` keeps every request's time in a list: it reads
the list and writes it back (two round trips to Redis, the list pickled each
time). On the hottest API paths that was a fifth of a request's time. This
throttle counts requests per fixed window instead and weighs the previous
window's count by how much of it still overlaps the sliding window ending now
(the "sliding window counter"). It approximates the exact log: never more than
the rate within one fixed window, and a burst at the end of a window still
weighs on the start of the next. With Redis it is
one pipeline (INCR, EXPIRE, GET); with another cache backend (the trial's
local memory) three plain cache calls.

A refused request is taken off the count again (one more round trip, only
then), so a client that waits out its ``Retry-After`` is let in, as with DRF's.
"""

from __future__ import annotations

import contextlib
import math

from django.core.cache import cache as default_cache
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from core.cache import RedisCache


class WindowRateThrottle(SimpleRateThrottle):
    """``SimpleRateThrottle``'s interface (``scope``, ``rate``, ``get_cache_key``)."""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        duration = self.duration
        now = self.timer()
        window = int(now // duration)
        elapsed = now - window * duration
        current_key = f"{self.key}:{window}"
        previous_key = f"{self.key}:{window - 1}"
        count, previous = self._hit(current_key, previous_key, duration)
        weight = 1.0 - elapsed / duration
        if previous * weight + count <= self.num_requests:
            return True
        self._undo(current_key)
        self.wait_seconds = self._wait(count - 1, previous, elapsed, duration)
        return False

    def wait(self) -> float | None:
        return getattr(self, "wait_seconds", None)

    # --- the counter ----------------------------------------------------------

    def _hit(
        self, current_key: str, previous_key: str, duration: int
    ) -> tuple[int, int]:
        """Count this request in its window; the counts of this window and the last."""
        cache = self._backend()
        if isinstance(cache, RedisCache):
            current = cache.make_and_validate_key(current_key)
            previous = cache.make_and_validate_key(previous_key)
            client = cache._cache.get_client(current, write=True)
            pipe = client.pipeline(transaction=False)
            pipe.incr(current)
            # Two windows: the next window still weighs this one's count.
            pipe.expire(current, 2 * duration)
            pipe.get(previous)
            count, _set, last = pipe.execute()
            return int(count), int(last or 0)
        cache.add(current_key, 0, 2 * duration)
        try:
            count = cache.incr(current_key)
        except ValueError:  # expired between add and incr
            cache.set(current_key, 1, 2 * duration)
            count = 1
        return count, int(cache.get(previous_key) or 0)

    def _undo(self, current_key: str) -> None:
        with contextlib.suppress(ValueError):  # the window's key expired meanwhile
            self._backend().decr(current_key)

    def _backend(self):
        """The cache itself: ``django.core.cache.cache`` (DRF's default) is a
        proxy to this thread's default cache, which ``isinstance`` can't see."""
        return caches["default"] if self.cache is default_cache else self.cache

    def _wait(self, count: int, previous: int, elapsed: float, duration: int) -> float:
        """Seconds until one more request fits."""
        room = self.num_requests - count  # what this window alone leaves
        if room <= 0 or previous == 0:
            # Full on its own: it empties when the next window starts and this
            # one's count weighs less and less.
            return max(duration - elapsed, 1.0)
        # The previous window's weight falls linearly: previous × (1 − t/d)
        # must fall to `room − 1` requests.
        needed = duration * (1.0 - (room - 1) / previous)
        return max(math.ceil(needed - elapsed), 1.0)
