"""Keep the Celery worker alive across broker restarts (Redis transport, celery 5.7.0 / kombu 5.7.0).

On a lost connection, celery 5.7.0's consumer first calls `Connection.collect()`, which drops the transport's
`client` (kombu `_do_close_transport`) but keeps the default channel, then `Connection.close()`, which closes that
channel. With a task in flight (acks late: its message is unacknowledged) the channel's close restores the
unacknowledged message, builds a new connection pool from `transport.client.hostname`, and the AttributeError on
`None` is not a connection error, so the worker dies ("Unrecoverable error: AttributeError 'NoneType' object has no
attribute 'hostname'" in `restore_unacked`). Every restart that catches a delivery in flight does it.

The fix turns that case into what it is, a connection error: the close swallows it and the reconnect goes on. The
message stays in Redis's unacknowledged set, restored after the visibility timeout; the outbox sweep re-queues
the notification sooner anyway (docs/architecture.md "Notifications that lose nothing").
"""

import functools

from kombu.transport import redis as kombu_redis


def kombu_redis_patch() -> None:
    """Make a closed connection's channel raise a connection error instead of an AttributeError."""
    connparams = kombu_redis.Channel._connparams
    if getattr(connparams, "griddesk_patched", False):
        return

    @functools.wraps(connparams)
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise kombu_redis.redis.exceptions.ConnectionError("the broker connection is closed")
        return connparams(self, asynchronous=asynchronous)

    _connparams.griddesk_patched = True
    kombu_redis.Channel._connparams = _connparams
