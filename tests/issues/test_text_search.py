"""Text search `q` on PostgreSQL (issues.filters.text_matching): the trigram indexes are asked first how many issues
have the text; few are read by key, many keep the newest-first walk. The answer is the same either way
(tests/issues/test_stats_rollup.py::test_text_search_keeps_its_meaning, both ways)."""

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from issues import filters
from issues.filters import IssueFilterSet
from issues.models import Issue
from tests.issues.test_selectors import make_issue

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes and planner settings: PostgreSQL"),
]


@pytest.fixture
def texts(territory, monkeypatch):
    """Three issues about a burst pipe, one about a lamp; every text counts as one the statistics do not know as
    common (a handful of rows: the planner would take any text for a good share of them)."""
    grid = territory["grid"]
    pipes = [make_issue(grid, number=f"BK-{n:05d}", description=f"水管爆裂 {n}号楼") for n in range(3)]
    monkeypatch.setattr(filters, "COMMON_TEXT", 1.01)
    return pipes, make_issue(grid, number="BK-00009", description="路灯不亮")


def _search(text: str) -> tuple[set, list[str]]:
    """Return what `q=text` finds and its statements (in a test's transaction, the probe's savepoint is rolled back
    in a statement of its own, left out)."""
    with CaptureQueriesContext(connection) as queries:
        found = set(IssueFilterSet({"q": text}, queryset=Issue.objects.all()).qs.values_list("pk", flat=True))
    statements = [q["sql"] for q in queries.captured_queries]
    return found, [sql for sql in statements if not sql.startswith("ROLLBACK TO SAVEPOINT griddesk_text_probe")]


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def test_a_text_few_issues_have_is_read_among_them_by_key(texts):
    pipes, _ = texts

    found, statements = _search("水管爆裂")

    assert found == {i.pk for i in pipes}
    estimate, probe, page = statements
    assert estimate.startswith("EXPLAIN (FORMAT JSON)")
    assert "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off;" in probe
    assert '"issues_issue"."id" = ANY(' in page and '"issues_issue"."created_at" IN (' in page


def test_a_text_many_issues_have_keeps_the_walk(texts, monkeypatch):
    pipes, _ = texts
    monkeypatch.setattr(filters, "TEXT_PROBE", 2)

    found, statements = _search("水管爆裂")

    assert found == {i.pk for i in pipes}
    assert len(statements) == 3 and "= ANY(" not in statements[2] and "UPPER(" in statements[2]


def test_a_text_no_issue_has_asks_nothing_more_and_one_without_a_trigram_is_not_probed(texts):
    found, statements = _search("下水道堵塞")
    assert found == set() and len(statements) == 2  # the estimate and the probe; the page is empty without a query

    found, statements = _search("路灯")  # two characters: no trigram to ask the indexes with
    assert found == {texts[1].pk} and len(statements) == 1 and "SET LOCAL" not in statements[0]


def test_the_probe_leaves_the_planner_settings_of_the_callers_transaction_as_they_were(texts):
    found, _ = _search("水管爆裂")
    assert len(found) == 3 and (_setting("enable_seqscan"), _setting("enable_indexscan")) == ("on", "on")

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
        found, _ = _search("水管爆裂")
        assert len(found) == 3 and (_setting("enable_seqscan"), _setting("enable_indexscan")) == ("on", "off")


def test_a_text_the_statistics_know_as_common_is_not_probed(texts, territory, monkeypatch):
    monkeypatch.setattr(filters, "COMMON_TEXT", 0.002)
    grid = territory["grid"]
    for n in range(40):
        make_issue(grid, number=f"BK-{n + 100:05d}", description=f"下水道堵塞 {n}号楼" if n % 2 else f"楼道堆物 {n}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE issues_issue")
    share = filters._estimated_share(connection, Issue.objects.filter(filters.text_q("下水道")))
    assert 0.2 < share < 0.8  # 20 of 44 issues

    found, statements = _search("下水道")

    assert len(found) == 20 and len(statements) == 2 and statements[0].startswith("EXPLAIN")


def test_outside_a_transaction_the_probe_is_one_statement_whose_settings_end_with_it(texts):
    """What a request in autocommit sends: the settings and the probe in one round trip, one transaction. (On a
    connection of its own, which does not see this test's uncommitted issues.)"""
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with CaptureQueriesContext(other) as queries:
            rows = filters._text_probe(other, Issue.objects.filter(filters.text_q("水管爆裂")))
        with other.cursor() as cursor:
            cursor.execute("SHOW enable_seqscan")
            after = cursor.fetchone()[0]
    finally:
        other.close()
    assert rows == [] and after == "on"
    assert [q["sql"][:56] for q in queries.captured_queries] == [
        "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexsca"[:56]
    ]
