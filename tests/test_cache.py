"""The Redis cache backend production runs with (``core.cache``)."""

import os

import pytest
import redis

from core.cache import RedisCache

URL = os.environ.get("REGULARS_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")


@pytest.fixture
def redis_cache():
    try:
        redis.Redis.from_url(URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {URL}")
    cache = RedisCache(URL, {"KEY_PREFIX": "regulars-test-cache"})
    cache.clear()
    yield cache
    cache.clear()


def test_one_client_serves_every_call(redis_cache):
    client = redis_cache._cache.get_client(write=True)

    assert redis_cache._cache.get_client(write=True) is client
    assert redis_cache._cache.get_client() is client  # one server: one pool


def test_it_is_still_the_redis_cache(redis_cache):
    redis_cache.set("throttle", [1.5, 2.5], 30)
    assert redis_cache.get("throttle") == [1.5, 2.5]
    assert redis_cache.add("throttle", "other") is False
    assert redis_cache.add("n", 1) is True
    assert redis_cache.incr("n") == 2
    redis_cache.delete("throttle")
    assert redis_cache.get("throttle") is None
