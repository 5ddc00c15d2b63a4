"""The fast export writes what the export wrote before (tests/issues/export_reference.py), byte for byte, on
randomized issues: CSV files equal, XLSX files equal part for part (but for their creation time), masked and
unmasked, in English and Chinese, for a node role and a department; times before 1992 too."""

import io
import random
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from issues import exports, workflow
from issues.models import Dispatch, Issue, Kind, Rating
from issues.selectors import issue_list_for_user
from orgs.models import Role
from tests.factories import member
from tests.issues import export_reference as reference

pytestmark = pytest.mark.django_db

# Text that the writers treat apart: formulas, errors, characters XML forbids, spaces kept, markup, line breaks.
TEXTS = [
    "", " ", "=SUM(A1:A2)", "=", "+86 138 1234 5678", "-1", "@home", "\tTab", "\rCR", "#N/A", "#DIV/0!",
    "a & b < c > d", "bell\x07 and\x1f unit", "  leading", "trailing  ", "line\nbreak", "crlf\r\nline",
    "全角　空格　", "楼道堆放杂物，影响通行", "'quoted'", '"double" quotes, commas',
]  # fmt: skip
# Longer than a spreadsheet cell holds (32,767 characters): only a description can be.
LONG = "x" * 40_000
PHONES = ["13812345678", "+8613812345678", "0797-8123456", "8123", "", "=1+2", "(86) 138 1234 5678"]
NAMES = ["刘洋", "", "A", "=cmd", "  王 芳 ", "\x0bbad"]


@pytest.fixture
def varied(make, resident, street_officer, chengguan_staff, chengguan, shuiwu, other_territory, community_staff):
    """Issues in every state, then their texts, times, ratings and dispatch rounds randomized (seeded)."""
    member(community_staff, Role.COMMUNITY_STAFF, area=other_territory["community"])
    rng = random.Random(20261202)
    statuses = ["submitted", "classified", "dispatched", "in_progress", "resolved", "closed", "rejected"]
    issues = [make(rng.choice(statuses)) for _ in range(24)]
    issues.append(make("dispatched", place=other_territory["grid"]))
    reopened = workflow.issue_rate(issue=make("resolved"), actor=resident, score=1)
    issues.append(workflow.issue_accept(issue=reopened, actor=chengguan_staff))
    moments = [
        datetime(1985, 7, 1, 3, 30, 15, 999_999, tzinfo=UTC),  # Shanghai kept summer time then
        datetime(1991, 9, 14, 16, 0, 0, tzinfo=UTC),
        datetime(2024, 12, 31, 16, 0, 0, 500_000, tzinfo=UTC),  # midnight in Shanghai, half a second past
        datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC),
        None,
    ]
    for issue in issues:
        created = rng.choice(moments[:-1])
        Issue.objects.filter(pk=issue.pk).update(
            title=rng.choice(TEXTS),
            description=rng.choice(TEXTS) or "x",
            address=rng.choice(TEXTS),
            reporter_name=rng.choice(NAMES),
            reporter_phone=rng.choice(PHONES),
            kind=rng.choice(Kind.values),
            urgent=rng.random() < 0.5,
            escalation_level=rng.choice([0, 1, 2]),
            created_at=created,
            resolved_at=rng.choice(moments),
            closed_at=rng.choice(moments),
        )
        for _ in range(rng.choice([0, 0, 1, 3])):
            Rating.objects.create(issue=issue, score=rng.randint(1, 5))
        if rng.random() < 0.3:
            # A retired round and a helper department beside the lead: the lead is still the one active lead.
            Dispatch.objects.create(issue=issue, department=shuiwu, lead=rng.random() < 0.5, active=False)
            if not Dispatch.objects.filter(issue=issue, department=shuiwu, active=True).exists():
                Dispatch.objects.create(issue=issue, department=shuiwu, lead=False, active=True)
    Rating.objects.filter(created_at__isnull=False).update(created_at=datetime(2025, 1, 1, tzinfo=UTC))
    Issue.objects.filter(pk=issues[0].pk).update(description=LONG)
    return issues


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("unmasked", [False, True])
@pytest.mark.parametrize("viewer_name", ["street_officer", "chengguan_staff"])
def test_the_fast_export_writes_the_bytes_the_previous_one_wrote(
    varied, request, monkeypatch, lang, unmasked, viewer_name
):
    viewer = request.getfixturevalue(viewer_name)
    queryset = issue_list_for_user(user=viewer)
    old = reference.rows(queryset=queryset, viewer=viewer, unmasked=unmasked, lang=lang, monkeypatch=monkeypatch)
    new = list(exports.export_issues(queryset=queryset, viewer=viewer, unmasked=unmasked, lang=lang))
    assert len(new) == queryset.count() > 5
    assert new == old

    expected = reference.csv_bytes(rows=old, lang=lang)
    assert b"".join(exports.csv_stream(rows=iter(new), lang=lang)) == expected
    written = io.BytesIO()
    exports.csv_write(rows=iter(new), lang=lang, out=written)
    assert written.getvalue() == expected

    before, after = io.BytesIO(), io.BytesIO()
    reference.xlsx_write(rows=iter(old), lang=lang, out=before)
    exports.xlsx_write(rows=iter(new), lang=lang, out=after)
    assert xlsx_parts(after) == xlsx_parts(before)
    assert xlsx_cells(after) == xlsx_cells(before)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_empty_export_is_the_headers_as_before(lang):
    before, after = io.BytesIO(), io.BytesIO()
    reference.xlsx_write(rows=iter([]), lang=lang, out=before)
    exports.xlsx_write(rows=iter([]), lang=lang, out=after)
    assert xlsx_parts(after) == xlsx_parts(before)
    assert xlsx_cells(after) == [tuple(exports.export_headers(lang=lang))]
    assert b"".join(exports.csv_stream(rows=iter([]), lang=lang)) == reference.csv_bytes(rows=[], lang=lang)


def xlsx_parts(out: io.BytesIO) -> dict[str, bytes]:
    """Return every part of the workbook but docProps/core.xml, which holds the time it was written."""
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name != "docProps/core.xml"}


def xlsx_cells(out: io.BytesIO) -> list[tuple]:
    return list(load_workbook(io.BytesIO(out.getvalue()), read_only=True).worksheets[0].iter_rows(values_only=True))


def test_shanghai_times_are_the_zones_from_1900_to_2100():
    rng = random.Random(8)
    start = datetime(1900, 1, 1, tzinfo=UTC)
    moments = [start + timedelta(seconds=rng.randrange(200 * 365 * 86400), microseconds=rng.randrange(10**6))]
    moments += [datetime(1991, 9, 14, 15, 59, 59, tzinfo=UTC) + timedelta(seconds=s) for s in range(-3, 4)]
    moments += [datetime(1992, 1, 1, tzinfo=UTC) + timedelta(microseconds=s) for s in (-1, 0, 1)]
    for _ in range(20_000):
        moments.append(start + timedelta(seconds=rng.randrange(200 * 365 * 86400), microseconds=rng.randrange(10**6)))
    assert [exports._local(m) for m in moments] == [reference.local(m) for m in moments]
