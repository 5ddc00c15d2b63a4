"""config.redis_cache: Django's Redis cache, one client per connection pool instead of one per operation."""

import secrets

import pytest

from config.redis_cache import ReusedClientRedisCache


@pytest.fixture
def redis_cache():
    cache = ReusedClientRedisCache("redis://127.0.0.1:6379/3", {"KEY_PREFIX": f"test-{secrets.token_hex(4)}"})
    try:
        cache.get("probe")
    except Exception:  # noqa: BLE001
        pytest.skip("no Redis at 127.0.0.1:6379")
    yield cache
    cache.clear()


def test_every_operation_reuses_one_client_and_still_reads_what_it_wrote(redis_cache):
    redis_cache.set("a", {"n": 1}, 30)
    assert redis_cache.get("a") == {"n": 1}
    assert redis_cache.add("b", 1, 30)
    assert redis_cache.incr("b") == 2
    client = redis_cache._cache.get_client("a")
    assert redis_cache._cache.get_client("b", write=True) is client
    redis_cache.delete("a")
    assert redis_cache.get("a") is None
