"""The export reads plain values, not model instances: its CSV bytes and XLSX cells are the ones the instance path
wrote, masked and unmasked, in English and Chinese, and its queries do not grow with the rows."""

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from issues import exports, workflow
from issues.selectors import issue_list_for_user
from orgs.models import Role
from tests.factories import member

pytestmark = pytest.mark.django_db


def instance_rows(*, queryset, viewer, unmasked, lang):
    """The export's rows as they were read before: model instances with their prefetches, chunk by chunk."""
    labels = exports.export_labels(lang=lang)
    issues = queryset.select_related("grid__parent__parent__parent")[: exports.EXPORT_MAX_ROWS]
    for issue in issues.iterator(chunk_size=exports.EXPORT_CHUNK_SIZE):
        yield exports.export_row(issue=issue, viewer=viewer, unmasked=unmasked, labels=labels)


@pytest.fixture
def many(make, resident, street_officer, chengguan_staff, other_territory, community_staff):
    """Issues in every state: unclassified, dispatched, accepted, resolved, rated twice (reopened, then closed), one
    with a formula-looking title and one reported by another resident in another community."""
    member(community_staff, Role.COMMUNITY_STAFF, area=other_territory["community"])
    issues = [make(status) for status in ("submitted", "classified", "dispatched", "in_progress", "resolved")]
    issues.append(make("rejected"))
    issues.append(make("closed", title="=SUM(A1:A2)", urgent=True))
    reopened = workflow.issue_rate(issue=make("resolved"), actor=resident, score=1)
    workflow.issue_accept(issue=reopened, actor=chengguan_staff)
    issues.append(make("dispatched", place=other_territory["grid"], reporter_name="张三丰", reporter_phone="0797-1234"))
    return issues


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("unmasked", [False, True])
@pytest.mark.parametrize("viewer_name", ["street_officer", "chengguan_staff"])
def test_csv_and_xlsx_are_what_the_instance_path_wrote(many, request, lang, unmasked, viewer_name):
    viewer = request.getfixturevalue(viewer_name)
    queryset = issue_list_for_user(user=viewer)
    old = list(instance_rows(queryset=queryset, viewer=viewer, unmasked=unmasked, lang=lang))
    new = list(exports.export_issues(queryset=queryset, viewer=viewer, unmasked=unmasked, lang=lang))
    assert len(new) == queryset.count() > 5

    assert b"".join(exports.csv_stream(rows=iter(new), lang=lang)) == b"".join(
        exports.csv_stream(rows=iter(old), lang=lang)
    )
    assert xlsx_cells(new, lang) == xlsx_cells(old, lang)
    # Both handle these issues (a node role above them, a dispatched department): unmasked means every phone in full.
    assert any("*" in row[-1] for row in new) == (not unmasked)


def xlsx_cells(rows, lang) -> list[tuple]:
    out = io.BytesIO()
    exports.xlsx_write(rows=iter(rows), lang=lang, out=out)
    return list(load_workbook(io.BytesIO(out.getvalue()), read_only=True).worksheets[0].iter_rows(values_only=True))


def test_an_export_costs_the_same_queries_for_few_and_many_rows(make, street_officer, monkeypatch):
    monkeypatch.setattr(exports, "EXPORT_CHUNK_SIZE", 1000)
    make("in_progress")
    queries_of_export(street_officer)  # the viewer's scope is read once, then kept on the user
    few = queries_of_export(street_officer)
    for status in ("resolved", "closed", "dispatched", "submitted", "closed"):
        make(status)
    assert queries_of_export(street_officer) == few


def queries_of_export(viewer) -> int:
    with CaptureQueriesContext(connection) as captured:
        list(exports.export_issues(queryset=issue_list_for_user(user=viewer), viewer=viewer, lang="zh"))
    return len(captured)
