"""Thin Celery wrappers around the issue timers (escalation, auto-close, reminders, retention, monthly partitions), the
statistics fold and large exports.

The beat schedule (config/settings/base.py) runs them; every deadline lives in the database, so no task is ever
scheduled with an eta for one, and a missed beat is caught up by the next sweep.
"""

from celery import shared_task

from issues.escalation import auto_close_sweep, escalation_sweep
from issues.exports import export_job_run
from issues.partitioning import partitions_ensure
from issues.reminders import reminders_sweep
from issues.retention import personal_data_sweep, retention_sweep
from issues.rollups import rollup_fold


@shared_task(name="issues.escalation_sweep")
def escalation_sweep_task() -> int:
    return len(escalation_sweep())


@shared_task(name="issues.stats_fold")
def stats_fold_task() -> int:
    return rollup_fold()


@shared_task(name="issues.auto_close_sweep")
def auto_close_sweep_task() -> int:
    return auto_close_sweep()


@shared_task(name="issues.reminders_sweep")
def reminders_sweep_task() -> int:
    return reminders_sweep()


@shared_task(name="issues.retention_sweep")
def retention_sweep_task() -> int:
    done = retention_sweep()
    personal_data_sweep()
    return done


@shared_task(name="issues.partitions_ensure")
def partitions_ensure_task() -> int:
    # Nothing to do unless issues and events were partitioned (manage.py partition_by_month).
    return len(partitions_ensure())


@shared_task(name="issues.export")
def issue_export_task(job_id: str) -> str:
    return export_job_run(job_id=job_id)
