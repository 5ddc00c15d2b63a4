"""config.redis_cache: Django's Redis cache, one client per connection pool instead of one per operation."""

import secrets
import uuid

import pytest
import redis

from config.redis_cache import ReusedClientRedisCache, send_unread


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


# --- writes whose replies are read after the response (send_unread) -----------------------------------------------


@pytest.fixture
def local_redis():
    client = redis.Redis.from_url("redis://127.0.0.1:6379/3", socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    key = f"test:unread:{uuid.uuid4().hex}"
    yield client, key
    client.delete(key)


@pytest.mark.django_db  # the request signals close old database connections
def test_in_a_request_the_replies_are_read_when_it_finishes_and_the_write_is_done_at_once(local_redis):
    from django.core.signals import request_finished, request_started

    client, key = local_redis
    answered = []
    request_started.send(sender=None)
    try:
        send_unread(client, [("SET", key, "1"), ("INCR", key)], then=answered.append)
        assert answered == []  # nobody waits for the replies
        assert redis.Redis.from_url("redis://127.0.0.1:6379/3").get(key) == b"2"  # Redis applied them
    finally:
        request_finished.send(sender=None)
    assert answered == [[b"OK", 2]]
    assert client.connection_pool._in_use_connections == set()  # released


def test_outside_a_request_the_replies_are_read_at_once(local_redis):
    client, key = local_redis
    answered = []
    send_unread(client, [("INCR", key)], then=answered.append)
    assert answered == [[1]]


def test_a_redis_that_does_not_answer_is_logged_not_raised(caplog):
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    answered = []
    send_unread(down, [("SET", "k", "1")], then=answered.append, warning="not sent")
    assert answered == [] and "not sent" in caplog.text
