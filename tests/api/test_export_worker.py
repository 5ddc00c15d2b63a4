"""A large export through a real Celery worker on a Redis of the test's own: the file holds exactly the rows."""

import csv
import io

import pytest

from config.celery_app import app as celery_app
from issues.exports import export_record
from issues.models import ExportJob
from issues.tasks import issue_export_task
from tests.api.test_issues_support import issue_in
from tests.notifications.processes import wait_for
from tests.notifications.test_faults import needs_redis, redis, worker_env, workers  # noqa: F401  (fixtures)


@pytest.mark.slow
@needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_writes_the_export_file_with_every_row(
    settings,
    tmp_path,
    redis,  # noqa: F811
    worker_env,  # noqa: F811
    workers,  # noqa: F811
    territory,
    resident,
    community_staff,
):
    redis.start()
    settings.MEDIA_ROOT = tmp_path / "media"
    numbers = sorted(issue_in("submitted", reporter=resident, territory=territory).number for _ in range(7))
    job = export_record(
        user=community_staff, file_format="csv", lang="en", filters={}, masked=True, rows=7, direct=False
    )
    workers({**worker_env, "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT)})
    with celery_app.connection_for_write(redis.url) as conn:
        issue_export_task.apply_async(args=[str(job.pk)], connection=conn)

    wait_for(lambda: ExportJob.objects.get(pk=job.pk).status == "done", timeout=60, what="the export job")
    job.refresh_from_db()
    assert (job.rows_done, job.rows_total) == (7, 7)
    with job.file.open("rb") as f:
        lines = list(csv.reader(io.StringIO(f.read().decode("utf-8-sig"))))
    assert sorted(line[0] for line in lines[1:]) == numbers
