"""What every benchmark shares: the bare-view yardstick that makes figures comparable across machines.

A figure alone ("40,000 lookups/s") says as much about the machine as about the code; divided by the rate of
a bare Django view measured in the same run on the same machine, it says how the code compares to the cheapest
request Django can serve.
"""

import time

from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import path

from bench.reference import ReferenceListCreateView


def bare_view(request):
    """Return "ok": the cheapest view there is."""
    return HttpResponse("ok")


# This module is the URLconf bare_view_rate() serves from, so the project's URLs cannot change the yardstick.
urlpatterns = [path("bare/", bare_view), path("ref/issues/", ReferenceListCreateView.as_view())]

WARM_UP_CALLS = 200
CALLS_PER_CHECK = 100


def bare_view_rate(seconds: float = 3) -> float:
    """Return calls per second of a bare view through the Django test Client, in-process, with all middleware."""
    client = Client()
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"]):
        for _ in range(WARM_UP_CALLS):
            response = client.get("/bare/")
        if response.status_code != 200:
            raise RuntimeError(f"the bare view answered {response.status_code}, not 200")
        calls = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            for _ in range(CALLS_PER_CHECK):
                client.get("/bare/")
            calls += CALLS_PER_CHECK
            now = time.perf_counter()
            if now >= deadline:
                return calls / (now - start)
