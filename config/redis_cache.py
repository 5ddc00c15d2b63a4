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
import threading
from contextvars import ContextVar

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.core.signals import request_finished, request_started
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


# --- Writes whose replies are read after the response -----------------------------------------------------------
# A submission's last Redis writes (the desks' generation, the hot-spot queue: issues.desks, triage.hotspots) are sent
# after its commit and nobody waits for their answers: inside a request their replies are read when the response has
# gone out (request_finished), so the two round trips no longer hold the response back; outside a request at once.

_sent = threading.local()  # .unread: [(client, connection, number of commands, then, warning)] of this thread
_in_request: ContextVar[bool] = ContextVar("redis_cache_in_request", default=False)


def send_unread(client, commands: list[tuple], *, then=None, warning: str = "the shared cache does not answer"):
    """Send `commands` (each a tuple of a Redis command's words) to `client` in one pipeline, quietly; read the replies
    after the response, or now outside a request, and call `then(replies)` with them (not when Redis failed)."""
    pool = client.connection_pool
    try:
        connection = pool.get_connection()
    except CACHE_DOWN:
        logger.warning(warning, exc_info=True)
        return
    try:
        connection.send_packed_command(connection.pack_commands(commands))
    except CACHE_DOWN:
        logger.warning(warning, exc_info=True)
        connection.disconnect()
        pool.release(connection)
        return
    _unread().append((client, connection, len(commands), then, warning))
    if not _in_request.get():
        read_sent()


def set_unread(cache, key: str, value, *, warning: str = "the shared cache does not answer") -> None:
    """cache.set(key, value, None) quietly; on Redis sent with send_unread (its reply read after the response)."""
    backend = caches[DEFAULT_CACHE_ALIAS] if cache is default_cache else cache
    if not isinstance(backend, RedisCache):
        quietly(cache.set, key, value, None, warning=warning)
        return
    made = backend.make_and_validate_key(key)
    value = backend._cache._serializer.dumps(value)
    send_unread(backend._cache.get_client(write=True), [("SET", made, value)], warning=warning)


def read_sent() -> None:
    """Read the replies of what send_unread sent, release the connections and call their `then`."""
    unread = _unread()
    while unread:
        client, connection, count, then, warning = unread.pop(0)
        try:
            replies = [connection.read_response() for _ in range(count)]
        except CACHE_DOWN:
            logger.warning(warning, exc_info=True)
            connection.disconnect()
            continue
        finally:
            client.connection_pool.release(connection)
        if then is not None:
            then(replies)


def _unread() -> list:
    if not hasattr(_sent, "unread"):
        _sent.unread = []
    return _sent.unread


def _request_started(**kwargs) -> None:
    read_sent()  # anything a request before left unread (it never finished)
    _in_request.set(True)


def _request_finished(**kwargs) -> None:
    _in_request.set(False)
    read_sent()


request_started.connect(_request_started, dispatch_uid="config.redis_cache.request_started")
request_finished.connect(_request_finished, dispatch_uid="config.redis_cache.request_finished")
