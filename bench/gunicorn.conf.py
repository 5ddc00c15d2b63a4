"""gunicorn settings of the benchmark: the deployment's gunicorn.conf.py, without worker recycling.

Recycling every ~2,000 requests restarts workers inside a 5-second run of the bare view (halving the yardstick
and doubling every ratio); a benchmark run is short enough that no leak matters. The bare view, the reference
endpoints and GridDesk's endpoints are all served by this one server, with these same settings.
"""

from pathlib import Path

exec((Path(__file__).resolve().parent.parent / "gunicorn.conf.py").read_text())  # noqa: S102 — our own file

max_requests = 0
max_requests_jitter = 0
accesslog = None
