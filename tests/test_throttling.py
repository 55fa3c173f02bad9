"""The hot paths' throttle (``core.throttling``): a sliding window counter, on
the trial's local-memory cache and on the Redis cache production runs with."""

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from core.throttling import WindowRateThrottle
from tests.test_cache import URL, redis_cache  # noqa: F401 — the fixture


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def throttle_on(cache, clock: Clock, rate: str = "3/min", ident: str = "k"):
    class Throttle(WindowRateThrottle):
        scope = "test"
        THROTTLE_RATES = {"test": rate}

        def get_cache_key(self, request, view):
            return f"throttle_test_{ident}"

    Throttle.cache = cache
    throttle = Throttle()
    throttle.timer = clock
    return throttle


@pytest.fixture(params=["locmem", "redis"])
def any_cache(request):
    if request.param == "locmem":
        cache = LocMemCache("throttle-test", {})
        cache.clear()
        return cache
    return request.getfixturevalue("redis_cache")


def test_the_rate_is_let_through_and_the_next_request_waits(any_cache):
    # Given 3 requests a minute, at the start of a window
    clock = Clock(60 * 1000)
    throttle = throttle_on(any_cache, clock)

    # When four requests come within the minute
    allowed = [throttle.allow_request(None, None) for _ in range(4)]

    # Then the fourth is refused, with a wait that ends within the window
    assert allowed == [True, True, True, False]
    assert 1 <= throttle.wait() <= 60


def test_a_refused_request_does_not_count(any_cache):
    # Given a client at its limit that keeps knocking
    clock = Clock(60 * 1000)
    throttle = throttle_on(any_cache, clock)
    for _ in range(3):
        assert throttle.allow_request(None, None)
    for _ in range(5):
        assert not throttle.allow_request(None, None)

    # When it waits two full windows
    clock.now += 120

    # Then it has its whole rate again: the refusals were not counted
    assert [throttle.allow_request(None, None) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_the_previous_window_still_weighs_on_the_next(any_cache):
    # Given 3 requests at the very end of one window
    clock = Clock(60 * 1000 + 59)
    throttle = throttle_on(any_cache, clock)
    for _ in range(3):
        assert throttle.allow_request(None, None)

    # When the next window has just begun: a burst of 3 more would be 6 in ~2 s
    clock.now += 2
    burst = throttle.allow_request(None, None)

    # Then it is refused, and let in once the old burst has slid out
    assert burst is False
    assert throttle.wait() >= 1
    clock.now += 40  # 42 s after the burst: 3 × (1 − 41/60) ≈ 0.95 of it left
    assert throttle.allow_request(None, None) is True


def test_each_key_counts_on_its_own(any_cache):
    clock = Clock(60 * 1000)
    first = throttle_on(any_cache, clock, ident="a")
    second = throttle_on(any_cache, clock, ident="b")
    for _ in range(3):
        first.allow_request(None, None)

    assert first.allow_request(None, None) is False
    assert second.allow_request(None, None) is True


def test_no_rate_means_no_limit(any_cache):
    clock = Clock(60 * 1000)
    throttle = throttle_on(any_cache, clock)
    throttle.rate = None

    assert all(throttle.allow_request(None, None) for _ in range(10))


def test_the_default_cache_counts_in_redis_in_one_pipeline(settings, redis_cache):  # noqa: F811
    # Given production's cache setting: the default cache is Redis, reached
    # through django.core.cache.cache (a proxy), as DRF's throttles reach it
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": URL,
            "KEY_PREFIX": "regulars-test-cache",
        }
    }
    clock = Clock(60 * 1000)

    class Throttle(WindowRateThrottle):
        scope = "test"
        THROTTLE_RATES = {"test": "3/min"}

        def get_cache_key(self, request, view):
            return "throttle_test_default"

    throttle = Throttle()
    throttle.timer = clock
    pipelines = []
    client = caches["default"]._cache.get_client(write=True)
    real = client.pipeline

    def pipeline(*args, **kwargs):
        pipelines.append(1)
        return real(*args, **kwargs)

    client.pipeline = pipeline

    # When a request is counted
    assert throttle.allow_request(None, None)

    # Then it went through the Redis pipeline, and Redis holds the count
    assert pipelines == [1]
    assert redis_cache.get("throttle_test_default:1000") == 1
