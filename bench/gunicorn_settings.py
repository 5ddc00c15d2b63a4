"""Settings of the gunicorn that bench/bench_api.py measures: production's, plus the bare view under /bench/.

The only difference from config.settings.production is GRIDDESK_BENCH_VIEWS, so the API and the bare view are
served by the same processes with the same middleware; config/urls.py mounts /bench/ only when it is true.
"""

from config.settings.production import *  # noqa: F403

GRIDDESK_BENCH_VIEWS = True
