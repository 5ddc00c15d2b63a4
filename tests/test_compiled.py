"""config.compiled runs a values() query compiled once with other keys, answering what the ORM answers.

Checked on the query it serves, issues.rollups' refresh read, over randomized issues (the world of
tests/issues/test_stats_rollup.py: every status, entries written and not, ratings): for one key and several, on SQLite
and PostgreSQL.
"""

import random
import uuid
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.compiled import CompiledValues
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
