"""The read replica: statistics, dashboards and export jobs read from it when DATABASE_REPLICA_URL is set; writes and
everything else go to the primary; a staff member who just wrote reads from the primary for a while.

The first tests check the routing without a replica (settings name one; no query goes there). The slow one starts
a real PostgreSQL primary and streaming replica of its own (bench/pg_replica.py: initdb, pg_basebackup), copies the
test database into the primary and reads the statistics through the router in another process.
"""

import json
import textwrap
from http import HTTPStatus

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import override_settings

from config.db_router import REPLICA, ReplicaRouter, is_pinned_to_primary, primary_pin, replica_reads
from issues.models import Issue
from tests.api.test_issues_support import client_for

ROUTER = ReplicaRouter()


def with_replica():
    replica = {**settings.DATABASES["default"], "TEST": {"MIRROR": "default"}}
    return override_settings(DATABASES={**settings.DATABASES, REPLICA: replica})


@pytest.fixture(autouse=True)
def _no_pins():
    cache.clear()
    yield
    cache.clear()


def test_without_a_replica_everything_reads_from_the_primary(db, street_officer):
    with replica_reads(user=street_officer) as used:
        assert used is False
        assert ROUTER.db_for_read(Issue) == "default"


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_with_a_replica_only_reads_inside_replica_reads_go_there(db, street_officer):
    with with_replica():
        assert ROUTER.db_for_read(Issue) == "default"
        with replica_reads(user=street_officer) as used:
            assert used is True
            assert ROUTER.db_for_read(Issue) == REPLICA
            assert ROUTER.db_for_write(Issue) == "default"
        assert ROUTER.db_for_read(Issue) == "default"
        assert ROUTER.allow_migrate(REPLICA, "issues") is False
        assert ROUTER.allow_migrate("default", "issues") is True


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_a_user_who_just_wrote_reads_from_the_primary(db, street_officer, community_staff):
    with with_replica():
        primary_pin(user=street_officer)
        with replica_reads(user=street_officer) as used:
            assert used is False
            assert ROUTER.db_for_read(Issue) == "default"
        # Someone else still reads from the replica.
        with replica_reads(user=community_staff) as used:
            assert used is True


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_an_answered_write_pins_its_author_and_a_refused_one_or_a_read_does_not(make, street_officer):
    issue = make("dispatched")
    client = client_for(street_officer)
    with with_replica():
        assert client.get(f"/api/v1/issues/{issue.pk}/").status_code == HTTPStatus.OK
        assert not is_pinned_to_primary(street_officer)
        refused = client.post(f"/api/v1/issues/{issue.pk}/comment/", {"text": ""}, format="json")
        assert refused.status_code == HTTPStatus.BAD_REQUEST
        assert not is_pinned_to_primary(street_officer)
        answered = client.post(f"/api/v1/issues/{issue.pk}/comment/", {"text": "已派人核实"}, format="json")
        assert answered.status_code == HTTPStatus.OK, answered.content
        assert is_pinned_to_primary(street_officer)


STATS_ON_REPLICA = textwrap.dedent(
    """
    import json
    from django.db import connections
    from django.test.utils import CaptureQueriesContext
    from django.contrib.auth import get_user_model
    from config.db_router import primary_pin, replica_reads
    from grids.models import Area
    from issues.stats import issue_stats
    user = get_user_model().objects.get(username="street_officer")
    street = Area.objects.get(code="360702091")
    out = {}
    with CaptureQueriesContext(connections["replica"]) as on_replica:
        with CaptureQueriesContext(connections["default"]) as on_primary:
            with replica_reads(user=user) as used:
                stats = issue_stats(area=street, date_from=None, date_to=None)
    out["used"], out["replica_queries"], out["primary_queries"] = used, len(on_replica), len(on_primary)
    out["total"] = stats["total"]
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        out["replica_in_recovery"] = cursor.fetchone()[0]
    primary_pin(user=user)
    with CaptureQueriesContext(connections["replica"]) as pinned:
        with replica_reads(user=user) as used_after_write:
            issue_stats(area=street, date_from=None, date_to=None)
    out["used_after_write"], out["replica_queries_after_write"] = used_after_write, len(pinned)
    from django.core.cache import cache
    from issues import exports
    from issues.models import ExportJob
    cache.clear()  # the pin gone: the export job reads from the replica
    job = exports.export_record(user=user, file_format="csv", lang="zh", filters={}, masked=True, rows=0, direct=False)
    with CaptureQueriesContext(connections["replica"]) as exported:
        exports.export_job_run(job_id=job.pk)
    job = ExportJob.objects.get(pk=job.pk)
    out["export"] = [job.status, job.error, job.rows_done, len(exported)]
    print(json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_statistics_read_from_a_real_streaming_replica_and_a_writer_from_the_primary(make, street_officer, tmp_path):
    from bench.pg_replica import ReplicaPair
    from tests.notifications.processes import base_env, database_url_of_tests, manage

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL streaming replica")
    for status in ("dispatched", "in_progress", "resolved"):
        make(status)
    name = connection.settings_dict["NAME"]
    with ReplicaPair() as pair:  # its own primary and standby: the machine's cluster is not touched
        pair.copy_database(database_url_of_tests(), name)  # after the base backup: the standby gets it by streaming
        lag = pair.replayed(pair.primary_lsn())
        env = base_env(
            tmp_path,
            DJANGO_SETTINGS_MODULE="config.settings.local",
            DATABASE_URL=pair.url(name),
            DATABASE_REPLICA_URL=pair.url(name, replica=True),
        )
        out = json.loads(manage("shell", "-c", STATS_ON_REPLICA, env=env, timeout=120).strip().splitlines()[-1])

    assert out["replica_in_recovery"] is True  # a standby, not the primary under another name
    assert out["used"] is True and out["replica_queries"] > 0 and out["primary_queries"] == 0
    assert out["total"] == 3
    assert out["used_after_write"] is False and out["replica_queries_after_write"] == 0
    status, error, rows, replica_queries = out["export"]
    assert (status, error, rows) == ("done", "", 3) and replica_queries > 0  # an export job's rows from the replica
    print(f"the replica replayed the copied test database {lag:.2f} s after the copy committed")
