"""Profile the resident issue page in-process against the bare view, both through the test Client (run by hand).

    DATABASE_URL=... REDIS_URL=redis://127.0.0.1:6379/1 GRIDDESK_TEST_DB=... \
        .venv/bin/python -m pytest -q -s -p no:cacheprovider bench/profile_resident_page.py [--profile]

Builds the page bench/bench_api.py measures (a resident's own rated, closed issue with events from two units, photos
before and after), then times 500 requests of it and 500 of the bare view with one signed-in Client, prints ms per
request, their ratio, the queries of one warm page and (PROFILE=1) the top of a cProfile of the page's 500 requests.
"""

import cProfile
import io
import os
import pstats
import time
from contextlib import ExitStack

import pytest
from django.db import connections
from django.test import Client, override_settings

from tests.pages.test_issue_page_speed import handled_issue  # noqa: F401  (the fixture)

REQUESTS = 500


def _ms_per_request(client, url, n=REQUESTS) -> float:
    for _ in range(50):
        assert client.get(url).status_code == 200
    start = time.perf_counter()
    for _ in range(n):
        client.get(url)
    return (time.perf_counter() - start) * 1000 / n


@pytest.mark.django_db
def test_profile(settings, tmp_path, resident, handled_issue):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path / "media"
    issue = handled_issue(photos=True)
    url = f"/issues/{issue.number}/"
    client = Client()
    client.force_login(resident)
    client.get(url)
    seen = []

    def count(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with ExitStack() as stack:
        for each in connections.all():
            stack.enter_context(each.execute_wrapper(count))
        assert client.get(url).status_code == 200
    with override_settings(ROOT_URLCONF="bench.common"):
        bare = min(_ms_per_request(client, "/bare/") for _ in range(3))
    page = min(_ms_per_request(client, url) for _ in range(3))
    print(f"\nbare {bare:.3f} ms, page {page:.3f} ms, ratio {bare / page:.3f}, {len(seen)} queries")
    for sql in seen:
        print("  ", sql[:160])
    if os.environ.get("PROFILE"):
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(REQUESTS):
            client.get(url)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
