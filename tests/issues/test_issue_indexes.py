"""Issue indexes a create or a status change no longer writes (issues/0024): what read them reads another index.

Which usable index the planner picks depends on the table's statistics, which a test database does not have (the
benchmark checks the real choice at 1,000,000 issues). So, as test_escalation does, each test leaves the planner only
the index that must serve the query and the primary key (the others dropped inside the test's transaction, rolled back
after it) and no sequential scan: a scan of that index means it can answer the query.
"""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from issues.models import Category, Issue
from issues.sla import overdue_q
from issues.stats import due_running_q

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="indexes and plans are PostgreSQL's"),
]

DROPPED = [
    "issues_issue_category_id_53a7fdd2",
    "issues_issue_reporter_user_id_b9563c2e",
    "issues_issue_number_05ff188f_like",
    "issue_response_due_open",
    "issue_resolution_due_open",
]


def _issue_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'issues_issue'")
        return dict(cursor.fetchall())


def _only(*kept: str) -> None:
    """Leave the planner the indexes `kept` and the primary key, and no sequential scan, for this transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's pending key checks would forbid ALTER TABLE
        for name in _issue_indexes():
            if name not in (*kept, "issues_issue_pkey"):
                cursor.execute(f'ALTER TABLE issues_issue DROP CONSTRAINT IF EXISTS "{name}"')
                cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off")


def _scans(queryset, index: str) -> bool:
    plan = queryset.explain().lower()
    return f"using {index} on issues_issue" in plan or f"bitmap index scan on {index}" in plan


def test_the_indexes_no_query_needs_are_gone_and_the_foreign_keys_stay():
    indexes = _issue_indexes()
    assert not [name for name in DROPPED if name in indexes]
    assert {"issue_category_created", "issue_reporter", "issue_external_id", "issues_issue_number_key"} <= set(indexes)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'issues_issue'::regclass"
            " AND contype = 'f'"
        )
        keys = " ".join(definition for (definition,) in cursor.fetchall())
    assert "FOREIGN KEY (category_id)" in keys and "FOREIGN KEY (reporter_user_id)" in keys


def test_a_categorys_issues_and_its_deletion_check_read_issue_category_created(make):
    category = Category.objects.first()
    _only("issue_category_created")
    assert _scans(Issue.objects.filter(category=category).order_by("-created_at")[:20], "issue_category_created")
    # What Django's PROTECT runs before deleting a category.
    assert _scans(Issue.objects.filter(category__in=[category]), "issue_category_created")


@pytest.mark.parametrize("index", ["issue_reporter", "issue_external_id"])
def test_a_reporters_issues_and_their_deletion_check_read_an_index_led_by_the_reporter(make, resident, index):
    _only(index)
    assert _scans(Issue.objects.filter(reporter_user=resident).order_by("-created_at")[:20], index)
    assert _scans(Issue.objects.filter(reporter_user__in=[get_user_model().objects.get(pk=resident.pk)]), index)


def test_an_issue_is_found_by_its_number_through_the_unique_index(make):
    number = make("submitted").number
    _only("issues_issue_number_key")
    assert _scans(Issue.objects.filter(number=number), "issues_issue_number_key")
    assert _scans(Issue.objects.filter(number__in=[number, "GD-20260101-00001"]), "issues_issue_number_key")


@pytest.mark.parametrize("deadline", ["response", "resolution"])
def test_the_overdue_filter_reads_each_running_deadline_from_its_escalation_index(make, deadline):
    index = f"issue_{deadline}_escalation"
    _only(index)
    now = timezone.now()
    # Each term of the filter alone: with both, the other term would need its own index.
    term = [q for q in overdue_q(now=now).children if f"{deadline}_due_at__lt" in str(q)]
    assert len(term) == 1
    assert _scans(Issue.objects.filter(term[0]), index)


def test_the_statistics_live_part_reads_the_resolution_escalation_index(make):
    _only("issue_resolution_escalation", "issue_resolution_due_other")
    assert _scans(Issue.objects.filter(due_running_q(now=timezone.now())), "issue_resolution_escalation")
