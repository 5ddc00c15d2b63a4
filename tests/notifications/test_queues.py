"""The queues split: a flood of export jobs waits in its own queue while a notification goes straight out.

Real parts: our own redis-server as the broker, the compose file's `worker` (notifications) and `worker-exports`
commands as processes on the test database, tasks queued by another process through the broker.
"""

# The fixtures (our own redis-server, the worker's environment) are test_faults.py's, imported by name.
# ruff: noqa: F811

import textwrap

import pytest

from issues.models import ExportJob
from notifications.models import Notification
from tests.notifications.processes import Process, manage, wait_for
from tests.notifications.test_faults import needs_redis, redis, worker_env  # noqa: F401
from tests.test_deploy_smoke import command_of

FLOOD = 150

QUEUE = textwrap.dedent(
    """
    import sys
    from issues import exports
    from issues.tasks import issue_export_task
    from notifications.tasks import deliver_notification_task
    from django.contrib.auth import get_user_model
    user = get_user_model().objects.get(username=sys.argv[1])
    for _ in range(int(sys.argv[2])):
        job = exports.export_record(user=user, file_format="xlsx", lang="zh", filters={}, masked=True, rows=0,
                                    direct=False)
        issue_export_task.delay(str(job.pk))
    deliver_notification_task.delay(sys.argv[3])
    """
)


@pytest.mark.slow
@needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_flood_of_exports_does_not_delay_a_notification(redis, worker_env, tmp_path, make, street_officer, resident):
    for status in ("dispatched", "in_progress", "resolved", "closed"):
        make(status)
    notification = Notification.objects.create(
        kind="issue.resolved", channel="inbox", recipient=resident, payload={"number": "GD-1", "note": ""}
    )
    redis.start()
    workers = [
        Process(command_of(service), env=worker_env, log=tmp_path / f"{service}.log").start()
        for service in ("worker", "worker-exports")
    ]
    try:
        for worker in workers:
            wait_for(lambda w=worker: " ready." in w.output(), timeout=90, what=f"{worker.args} to start")
        script = f"import sys; sys.argv = ['-', 'street_officer', '{FLOOD}', '{notification.pk}']\n" + QUEUE
        manage("shell", "-c", script, env=worker_env, timeout=240)

        wait_for(
            lambda: Notification.objects.get(pk=notification.pk).status == "sent",
            timeout=120,
            what="the notification",
        )
        # Queued after every export, delivered while most of them still wait: it did not queue behind them.
        waiting = ExportJob.objects.exclude(status=ExportJob.Status.DONE).count()
        assert waiting > FLOOD // 2, waiting
        # And the exports' own worker works through them.
        wait_for(
            lambda: ExportJob.objects.filter(status=ExportJob.Status.DONE).count() > FLOOD - waiting,
            timeout=120,
            what="the exports worker",
        )
    finally:
        for worker in workers:
            worker.kill()
