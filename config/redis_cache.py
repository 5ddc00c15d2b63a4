"""Django's Redis cache with one client per connection pool, instead of a new client for every operation.

django.core.cache.backends.redis builds a `redis.Redis` for each get or set; building one costs about as much as the
command's round trip (redis-py fills a table of ~170 response callbacks each time), and an API request makes four to
six cache calls (token, scope, throttle, subscribed webhook types). A client only holds its pool and those
callbacks, and is safe to share between threads (each command takes a connection from the pool), so one per pool is
kept and reused.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


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
