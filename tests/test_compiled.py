"""config.compiled runs a values() query compiled once with other keys, answering what the ORM answers.

Checked on the query it serves, issues.rollups' refresh read, over randomized issues (the world of
tests/issues/test_stats_rollup.py: every status, entries written and not, ratings): for one key and several, on SQLite
and PostgreSQL.
"""

import random
import uuid
from datetime import date

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from config import compiled
from config.compiled import CompiledValues, execute_prepared
from issues.models import Issue
from issues.rollups import _refresh_rows, rollup_refresh
from tests.issues.test_stats_rollup import _random_issue, world  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


def _plain(row: dict) -> dict:
    """Return `row` with what drivers answer differently from the ORM's converters made alike (dates, UUIDs)."""
    plain = {}
    for name, value in row.items():
        if isinstance(value, date):
            value = value.isoformat()
        elif name == "pk":
            value = uuid.UUID(str(value))
        plain[name] = value
    return plain


def _orm(ids) -> list[dict]:
    return sorted((_plain(row) for row in _refresh_rows(ids)), key=lambda row: row["pk"])


def test_compiled_rows_are_the_orm_rows_for_one_key_and_for_several(world):  # noqa: F811
    rng = random.Random(7)
    issues = [_random_issue(rng, world["places"], world["categories"], world["resident"]) for _ in range(30)]
    rollup_refresh([issue.pk for issue in issues[:20]])  # some with an entry, some without
    compiled = CompiledValues(Issue, _refresh_rows)
    for issue in issues:
        assert [_plain(row) for row in compiled.rows([issue.pk])] == _orm([issue.pk])
    for size in (2, 7):
        for start in range(0, 28, size):
            ids = [issue.pk for issue in issues[start : start + size]]
            rows = sorted((_plain(row) for row in compiled.rows(ids)), key=lambda row: row["pk"])
            assert rows == _orm(ids)
    assert compiled.rows([uuid.uuid4()]) == []


def test_the_query_is_compiled_once_per_shape_and_keys_are_parameters(world, monkeypatch):  # noqa: F811
    rng = random.Random(8)
    first, second = (_random_issue(rng, world["places"], world["categories"], world["resident"]) for _ in range(2))
    builds = []
    compiled = CompiledValues(Issue, lambda ids: builds.append(len(ids)) or _refresh_rows(ids))
    compiled.rows([first.pk])
    with CaptureQueriesContext(connection) as queries:
        rows = compiled.rows([second.pk])
    assert builds == [1]  # the second call built nothing
    assert [_plain(row)["pk"] for row in rows] == [second.pk]
    assert len(queries) == 1 and str(first.pk.hex) not in queries[0]["sql"].replace("-", "")


def test_a_locking_read_is_routed_as_a_write_and_a_read_as_a_read(world, monkeypatch):  # noqa: F811
    import config.compiled

    issue = _random_issue(random.Random(9), world["places"], world["categories"], world["resident"])
    asked = []

    class Router:
        def db_for_read(self, model):
            asked.append("read")
            return "default"

        def db_for_write(self, model):
            asked.append("write")
            return "default"

    monkeypatch.setattr(config.compiled, "router", Router())
    CompiledValues(Issue, lambda ids: Issue.objects.filter(pk__in=ids).values("pk"), for_write=True).rows([issue.pk])
    CompiledValues(Issue, lambda ids: Issue.objects.filter(pk__in=ids).values("pk")).rows([issue.pk])
    assert asked == ["write", "read"]


# --- statements prepared per session (config.compiled.execute_prepared; PostgreSQL only) -----------------------------

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")


def _plus(name: str, number: int) -> list:
    return execute_prepared(
        connection, name, statement="SELECT $1::integer + 1", execute=f"EXECUTE {name}(%s)", params=[number]
    )


def _prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


@postgresql_only
def test_a_statement_whose_prepare_failed_with_its_transaction_is_prepared_again():
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as cursor:
            try:
                cursor.execute("SELECT 1 / 0")
            except DatabaseError:
                pass  # caught, and the transaction is failed: the PREPARE below never happens
        _plus("griddesk_test_again", 1)
    assert "griddesk_test_again" not in _prepared_names()

    assert _plus("griddesk_test_again", 2) == [(3,)]
    assert _plus("griddesk_test_again", 3) == [(4,)]  # (executed only)


@postgresql_only
def test_a_session_keeps_at_most_its_limit_of_statements_the_least_recently_run_deallocated(monkeypatch):
    monkeypatch.setattr(compiled, "PREPARED_PER_SESSION", 3)
    names = [f"griddesk_test_{n}" for n in range(5)]
    for n, name in enumerate(names[:3]):
        assert _plus(name, n) == [(n + 1,)]
    _plus(names[0], 10)  # run again: the most recent now

    with CaptureQueriesContext(connection) as queries:
        assert _plus(names[3], 3) == [(4,)]
        assert _plus(names[4], 4) == [(5,)]

    assert {n for n in _prepared_names() if n.startswith("griddesk_test_")} == {names[0], names[3], names[4]}
    assert queries.captured_queries[0]["sql"].startswith(f"DEALLOCATE {names[1]}; PREPARE {names[3]} AS ")
    assert _plus(names[1], 7) == [(8,)]  # deallocated, prepared again when run


def _new_session() -> None:
    """Make the next batch the first of a session, as after a reconnection (its statements gone)."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection.griddesk_prepared = None


def _plan_cache_mode() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        return cursor.fetchone()[0]


@postgresql_only
def test_a_session_plans_generically_only_on_a_database_with_partitioned_tables():
    _new_session()
    with CaptureQueriesContext(connection) as queries:
        assert _plus("griddesk_test_mode", 1) == [(2,)]
        assert _plus("griddesk_test_mode", 2) == [(3,)]
    # One round trip each; the first of the session carries the catalog's answer, which sets nothing here.
    assert [q["sql"].startswith(compiled.GENERIC_PLANS_WHEN_PARTITIONED) for q in queries.captured_queries] == [
        True,
        False,
    ]
    assert _plan_cache_mode() == "auto"

    with connection.cursor() as cursor:  # rolled back with the test
        cursor.execute("CREATE TEMPORARY TABLE griddesk_test_months (at date) PARTITION BY RANGE (at)")
    _new_session()
    assert _plus("griddesk_test_mode", 3) == [(4,)]
    assert _plan_cache_mode() == "force_generic_plan"
    assert _plus("griddesk_test_mode", 4) == [(5,)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'griddesk_test_mode'"
        )
        assert cursor.fetchone() == (2, 0)


# --- statements sent alone (config.compiled.sent_alone) ------------------------------------------------------------


def _insert_counter(day: str) -> compiled.Prepared:
    return compiled.Prepared(
        None, None, "INSERT INTO issues_issuecounter (day, last) VALUES (%s, 7) RETURNING last", [day]
    )


def _counted(day: str) -> bool:
    """Say whether another connection sees the counter row of `day` (committed)."""
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM issues_issuecounter WHERE day = %s", [day])
            return cursor.fetchone()[0] == 1
    finally:
        other.close()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_statements_sent_alone_are_committed_at_once_and_nothing_may_follow_them():
    with transaction.atomic(durable=True), compiled.sent_alone(connection):
        assert compiled.execute_prepared_many(connection, [_insert_counter("2030-01-01")], alone=True) == [(7,)]
        assert _counted("2030-01-01")  # before the block ends: a transaction of its own
        with pytest.raises(RuntimeError), connection.cursor() as cursor:
            cursor.execute("SELECT 1")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_statements_sent_alone_after_others_go_in_their_transaction():
    with transaction.atomic(durable=True), compiled.sent_alone(connection):
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO issues_issuecounter (day, last) VALUES ('2030-01-02', 1)")
        compiled.execute_prepared_many(connection, [_insert_counter("2030-01-03")], alone=True)
        assert not _counted("2030-01-03")  # in the block's transaction, not committed yet
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # allowed: the block's transaction is still open
    assert _counted("2030-01-02") and _counted("2030-01-03")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_statements_sent_alone_that_fail_leave_nothing():
    statements = [_insert_counter("2030-01-04"), compiled.Prepared(None, None, "SELECT 1 / 0", [])]
    with pytest.raises(DatabaseError), transaction.atomic(durable=True), compiled.sent_alone(connection):
        compiled.execute_prepared_many(connection, statements, alone=True)
    assert not _counted("2030-01-04")
    assert _plus("griddesk_test_after_failure", 1) == [(2,)]  # the connection works on
