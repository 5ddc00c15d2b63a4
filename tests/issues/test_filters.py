"""IssueFilterSet: API.md's list filters narrow a scoped queryset; a bad value is a form error, never a 500."""

from datetime import timedelta

import pytest
from django.utils import timezone

from issues.filters import IssueFilterSet
from issues.models import Issue
from tests.factories import CategoryFactory
from tests.issues.test_selectors import NOW, make_issue


def filtered(data, queryset=None):
    fs = IssueFilterSet(data, queryset=queryset if queryset is not None else Issue.objects.all())
    assert fs.is_valid(), fs.errors
    return list(fs.qs)


def errors_of(data):
    fs = IssueFilterSet(data, queryset=Issue.objects.all())
    assert not fs.is_valid()
    return set(fs.errors)


@pytest.fixture
def issues(territory, other_territory, category):
    now = timezone.now()
    child = CategoryFactory(code="stairwell-bikes", parent=category)
    return {
        "submitted": make_issue(territory["grid"], title="楼道堆物", created_at=NOW - timedelta(days=3)),
        "dispatched": make_issue(
            territory["building"],
            status="dispatched",
            category=category,
            urgent=True,
            escalation_level=1,
            response_due_at=now - timedelta(hours=1),  # response overdue: not yet accepted
            resolution_due_at=now + timedelta(days=3),
            address="金东南路 8 号",
            created_at=NOW - timedelta(days=2),
        ),
        "in_progress": make_issue(
            other_territory["grid"],
            status="in_progress",
            category=child,
            response_due_at=now - timedelta(days=2),  # accepted: the response deadline no longer runs
            resolution_due_at=now + timedelta(days=1),
            description="自来水管爆裂",
            created_at=NOW - timedelta(days=1),
        ),
        "late": make_issue(
            other_territory["grid"],
            status="in_progress",
            category=category,
            resolution_due_at=now - timedelta(minutes=5),  # resolution overdue
            created_at=NOW,
        ),
        "resolved_late": make_issue(
            territory["grid"],
            status="resolved",
            resolution_due_at=now - timedelta(days=5),  # resolved: never overdue
            created_at=NOW + timedelta(hours=1),
        ),
    }


def names(found, issues):
    by_pk = {v.pk: k for k, v in issues.items()}
    return [by_pk[i.pk] for i in found]


def test_status_takes_several_comma_separated_values(issues):
    assert set(names(filtered({"status": "dispatched,resolved"}), issues)) == {"dispatched", "resolved_late"}


def test_kind_urgent_and_escalation_level(issues):
    assert names(filtered({"urgent": "true"}), issues) == ["dispatched"]
    assert len(filtered({"urgent": "false"})) == 4
    assert names(filtered({"escalation_level": "1"}), issues) == ["dispatched"]
    assert len(filtered({"kind": "complaint"})) == 5
    assert filtered({"kind": "help"}) == []


def test_category_includes_its_sub_categories(issues, category):
    assert set(names(filtered({"category": category.code}), issues)) == {"dispatched", "in_progress", "late"}
    assert names(filtered({"category": "stairwell-bikes"}), issues) == ["in_progress"]


def test_area_takes_any_node_and_includes_everything_under_it(issues, territory, other_territory):
    assert len(filtered({"area": territory["street"].code})) == 5
    assert set(names(filtered({"area": territory["community"].code}), issues)) == {
        "submitted",
        "dispatched",
        "resolved_late",
    }
    assert names(filtered({"area": territory["building"].code}), issues) == ["dispatched"]
    assert set(names(filtered({"area": other_territory["grid"].code}), issues)) == {"in_progress", "late"}


def test_area_narrows_the_scoped_queryset_and_never_widens_it(issues, territory, community_staff):
    scoped = Issue.objects.visible_to(community_staff)
    assert filtered({"area": territory["district"].code}, scoped) == filtered({}, scoped)
    assert len(filtered({}, scoped)) == 3


def test_overdue_means_a_running_deadline_has_passed(issues):
    assert set(names(filtered({"overdue": "true"}), issues)) == {"dispatched", "late"}
    assert set(names(filtered({"overdue": "false"}), issues)) == {"submitted", "in_progress", "resolved_late"}


def test_created_after_is_inclusive_and_created_before_exclusive_dates_are_local_midnight(issues):
    # NOW is 2026-11-20 10:00 in Shanghai; the issues were created on the 17th, 18th, 19th and 20th (two).
    assert set(names(filtered({"created_after": "2026-11-19"}), issues)) == {"in_progress", "late", "resolved_late"}
    assert set(names(filtered({"created_before": "2026-11-19"}), issues)) == {"submitted", "dispatched"}
    after = filtered({"created_after": "2026-11-20T10:00:00+08:00", "created_before": "2026-11-20T10:30:00+08:00"})
    assert names(after, issues) == ["late"]


def test_q_searches_number_title_description_and_address(issues):
    assert names(filtered({"q": "堆物"}), issues) == ["submitted"]
    assert names(filtered({"q": "金东南路"}), issues) == ["dispatched"]
    assert names(filtered({"q": "爆裂"}), issues) == ["in_progress"]
    assert names(filtered({"q": issues["late"].number}), issues) == ["late"]
    assert len(filtered({"q": "  "})) == 5


def test_ordering_by_resolution_deadline_puts_issues_without_one_last(issues):
    assert names(filtered({"ordering": "resolution_due_at"}), issues) == [
        "resolved_late",
        "late",
        "in_progress",
        "dispatched",
        "submitted",
    ]
    assert names(filtered({"ordering": "created_at"}), issues) == [
        "submitted",
        "dispatched",
        "in_progress",
        "late",
        "resolved_late",
    ]
    assert names(filtered({"ordering": "-created_at"}), issues)[0] == "resolved_late"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"status": "submitted,bogus"}, "status"),
        ({"kind": "rumour"}, "kind"),
        ({"category": "no-such-category"}, "category"),
        ({"area": "999999"}, "area"),
        ({"escalation_level": "7"}, "escalation_level"),
        ({"escalation_level": "one"}, "escalation_level"),
        ({"overdue": "yes"}, "overdue"),
        ({"urgent": "maybe"}, "urgent"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2026-13-01"}, "created_before"),
        ({"ordering": "title"}, "ordering"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_a_bad_value_is_a_form_error_on_its_field(issues, data, field):
    assert errors_of(data) == {field}
