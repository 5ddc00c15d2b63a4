"""Django's Redis cache with one client per connection pool, and the one way to call a cache that may not answer.

django.core.cache.backends.redis builds a `redis.Redis` for each get or set; building one costs about as much as the
command's round trip (redis-py fills a table of ~170 response callbacks each time), and an API request makes four to
six cache calls (token, scope, throttle, subscribed webhook types). A client only holds its pool and those
callbacks, and is safe to share between threads (each command takes a connection from the pool), so one per pool is
kept and reused.

A cache is a shortcut, never the only way: when the shared cache does not answer (Redis down, a timeout), a caller
does the work the cache saved and the request goes on (`quietly`, `forget`).
"""

import logging

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.db import transaction
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What a cache call raises when the shared cache does not answer: Redis's errors, a refused or timed-out socket.
CACHE_DOWN = (RedisError, OSError)


def quietly(method, *args, default=None, warning: str = "the shared cache does not answer", warning_args=()):
    """Return `method(*args)` (a cache call), or `default` when the cache does not answer (logged as
    `warning % warning_args`, with the error)."""
    try:
        return method(*args)
    except CACHE_DOWN:
        logger.warning(warning, *warning_args, exc_info=True)
        return default


def forget(cache, keys, *, warning: str = "the shared cache could not forget %d entries", warning_args=None) -> None:
    """Delete `keys` from `cache` now and again when the current transaction commits, quietly: a request that read
    the old rows meanwhile and remembered them is forgotten too."""
    keys = list(keys)
    warning_args = (len(keys),) if warning_args is None else warning_args
    quietly(cache.delete_many, keys, warning=warning, warning_args=warning_args)
    transaction.on_commit(lambda: quietly(cache.delete_many, keys, warning=warning, warning_args=warning_args))


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Return the same `redis.Redis` for every call on one connection pool."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ReusedClientRedisCache(RedisCache):
    """settings.CACHES backend: Django's RedisCache with ReusedClientRedisCacheClient."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
