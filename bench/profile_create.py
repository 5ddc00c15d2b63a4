"""Profile the API create in-process against the bare view and the plain DRF create, on a kept dataset (by hand).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a copy of griddesk_bench> CACHE_URL=redis://127.0.0.1:6379/7 \
        CELERY_BROKER_URL=redis://127.0.0.1:6379/6 .venv/bin/python bench/profile_create.py [--profile] [-n 500]

Sends bench/bench_api.py's create (its body, as community1 with a token) through the test Client: counts the SQL
statements and the Redis round trips (cache and broker) of one warm create, lists them, times N creates, N of the
bare view and N of the plain DRF create (bench/reference.py), and with --profile prints the top of a cProfile of
the N creates. It writes N issues (and their events, outbox rows, rollups) into that database: never point it at
one you keep.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
# The same caches bench/bench_api.py's gunicorn uses, with a key prefix of this run's own.
os.environ.setdefault("GRIDDESK_CACHE_KEY_PREFIX", f"griddesk-profile-{os.getpid()}")
# As bench/bench_api.py's gunicorn: the throttles count but never refuse (the work is measured, not the limit).
for _kind in ("ANON", "RESIDENT", "STAFF", "PARTNER"):
    os.environ.setdefault(f"GRIDDESK_THROTTLE_{_kind}", "10000000/min")

BODY = {"description": "楼道灯不亮了，请尽快维修", "location": {"lat": 25.83, "lng": 114.96}}
REFERENCE_BODY = {"description": "楼道灯不亮了，请尽快维修"}


def _round_trips(seen: list):
    """Patch redis-py so that each command or pipeline sent (one round trip) is noted in `seen`; return the undo."""
    from redis.connection import AbstractConnection

    original = AbstractConnection.send_packed_command

    def send(self, command, check_health=True):
        first = command[0] if isinstance(command, list | tuple) else command
        seen.append((self.db, bytes(first)[:90]))
        return original(self, command, check_health)

    AbstractConnection.send_packed_command = send
    return lambda: setattr(AbstractConnection, "send_packed_command", original)


def _ms(call, n: int) -> float:
    for _ in range(min(50, n)):
        call()
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=300, help="requests timed of each kind")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of n creates")
    parser.add_argument("--lines", type=int, default=40)
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client, override_settings
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.get(username="community1")
    token = Token.objects.get_or_create(user=user)[0].key
    client = Client(headers={"authorization": f"Token {token}"})
    with override_settings(ALLOWED_HOSTS=["testserver"]):

        def create():
            response = client.post("/api/v1/issues/", BODY, content_type="application/json")
            assert response.status_code == 201, response.content[:300]
            return response

        for _ in range(3):  # the caches warm: the token, the scope, the node's staff and their generation
            create()
        statements, trips = [], []

        def count(execute, sql, params, many, context):
            statements.append(sql)
            return execute(sql, params, many, context)

        from config import redis_cache

        undo = _round_trips(trips)
        from triage import hotspots

        unread, send_unread = [], redis_cache.send_unread
        redis_cache.send_unread = hotspots.send_unread = lambda *a, **k: unread.append(1) or send_unread(*a, **k)
        try:
            with ExitStack() as stack:
                for each in connections.all():
                    stack.enter_context(each.execute_wrapper(count))
                create()
        finally:
            undo()
            redis_cache.send_unread = hotspots.send_unread = send_unread
        print(
            f"one warm create: {len(statements)} SQL statements, {len(trips)} Redis round trips"
            f" ({len(unread)} of them read after the response: config.redis_cache.send_unread)"
        )
        for sql in statements:
            print("  SQL  ", sql[:150].replace("\n", " "))
        for db, command in trips:
            print(f"  redis db {db}:", command)

        created = _ms(create, args.n)
        with override_settings(ROOT_URLCONF="bench.common"):
            bare = _ms(lambda: client.get("/bare/"), args.n)
            reference = _ms(
                lambda: client.post("/ref/issues/", REFERENCE_BODY, content_type="application/json"), args.n
            )
        print(
            f"bare {bare:.3f} ms, create {created:.3f} ms (ratio {bare / created:.3f}), "
            f"plain DRF create {reference:.3f} ms (ratio {bare / reference:.3f})"
        )
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.n):
                create()
            profile.disable()
            for order in ("cumulative", "tottime"):
                out = io.StringIO()
                pstats.Stats(profile, stream=out).sort_stats(order).print_stats(args.lines)
                print(out.getvalue())


if __name__ == "__main__":
    main()
