"""config.bulk.rows_insert: the rows bulk_create would write, given as columns (unnest on PostgreSQL)."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.bulk import rows_insert
from issues.models import EscalationMark, Event, Issue
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def _row(notification: Notification) -> tuple:
    return (
        notification.kind,
        notification.channel,
        notification.recipient_id,
        notification.issue_id,
        notification.event_id,
        notification.payload,
        notification.status,
        notification.attempts,
        notification.last_error,
        notification.next_attempt_at,
        notification.sent_at,
    )


def test_rows_given_as_columns_read_back_as_bulk_create_writes_them(make, street_officer):
    issue = make("dispatched")
    event = issue.events.latest("id")
    payloads = [{"number": issue.number, "note": "第一"}, {"number": issue.number, "note": "", "nested": {"a": [1]}}]
    made = Notification.objects.bulk_create(
        [
            Notification(kind="k", channel="inbox", recipient=street_officer, issue=issue, event=event, payload=p)
            for p in payloads
        ]
    )
    started = timezone.now()

    ids = rows_insert(
        model=Notification,
        columns={
            "kind": ["k", "k"],
            "channel": ["inbox", "inbox"],
            "recipient_id": [street_officer.pk] * 2,
            "issue_id": [issue.pk] * 2,
            "event_id": [event.pk] * 2,
            "payload": payloads,
        },
        returning=("id",),
    )

    written = [Notification.objects.get(pk=pk) for (pk,) in ids]
    assert [_row(n) for n in written] == [_row(Notification.objects.get(pk=n.pk)) for n in made]
    assert len({n.pk for n in written}) == 2 and all(n.created_at >= started for n in written)


def test_the_returned_columns_follow_the_rows_order(make):
    issues = [make("submitted") for _ in range(3)]
    order = [issues[2], issues[0], issues[1]]

    written = rows_insert(
        model=Event,
        columns={
            "issue_id": [i.pk for i in order],
            "action": ["comment"] * 3,
            "from_status": ["submitted"] * 3,
            "to_status": ["submitted"] * 3,
            "note": ["a", "b", "c"],
            "actor_id": [None] * 3,
            "internal": [False, True, False],
            "data": [{}, {"x": 1}, {}],
        },
        returning=("id", "at"),
    )

    events = [Event.objects.get(pk=pk) for pk, _ in written]
    assert [(e.issue_id, e.note, e.internal, e.data) for e in events] == [
        (order[0].pk, "a", False, {}),
        (order[1].pk, "b", True, {"x": 1}),
        (order[2].pk, "c", False, {}),
    ]
    assert [e.at for e in events] == [at for _, at in written]


def test_columns_of_different_lengths_are_refused():
    with pytest.raises(ValueError):
        rows_insert(model=Notification, columns={"kind": ["a"], "channel": []})


def test_awkward_values_read_back_exactly(make):
    """Each column goes as one array literal on PostgreSQL: quotes, backslashes, braces, commas, the word NULL, empty
    text, new lines and NULLs must all come back as given."""
    issue = make("submitted")
    notes = ['say "hi"', 'back\\slash \\" mix', "{a,b}", "NULL", "", "line\nbreak, 第二行", " padded "]
    data = [{"q": 'x"y', "b": "\\", "n": None, "list": [1, "{}"]}, {}, {"k": "NULL"}, {"e": ""}, {}, {}, {"s": " "}]
    size = len(notes)

    written = rows_insert(
        model=Event,
        columns={
            "issue_id": [issue.pk] * size,
            "action": ["comment"] * size,
            "from_status": ["submitted"] * size,
            "to_status": ["submitted"] * size,
            "note": notes,
            "actor_id": [None] * size,
            "internal": [i % 2 == 0 for i in range(size)],
            "data": data,
        },
        returning=("id", "at"),
    )

    events = [Event.objects.get(pk=pk) for pk, _ in written]
    assert [(e.note, e.internal, e.data, e.actor_id) for e in events] == [
        (note, i % 2 == 0, d, None) for i, (note, d) in enumerate(zip(notes, data, strict=True))
    ]


def test_any_of_finds_the_rows_in_finds_by_primary_and_foreign_key_with_one_parameter_on_postgresql(make):
    issues = [make("submitted") for _ in range(4)]
    for issue in issues[:3]:
        EscalationMark.objects.create(issue=issue, deadline="response", due_at=issue.created_at)
    unknown = uuid.uuid4()
    for keys in ([], [None], [issues[0].pk], [i.pk for i in issues] + [unknown, None], [str(issues[3].pk), unknown]):
        assert set(Issue.objects.filter(pk__any_of=keys)) == set(Issue.objects.filter(pk__in=keys)), keys
        marks = EscalationMark.objects.values_list("issue_id", flat=True)
        assert sorted(marks.filter(issue_id__any_of=keys)) == sorted(marks.filter(issue_id__in=keys)), keys

    with CaptureQueriesContext(connection) as queries:
        assert Issue.objects.filter(pk__any_of=[i.pk for i in issues]).update(version=7) == 4
    if connection.vendor == "postgresql":
        assert "= ANY('{" in queries.captured_queries[0]["sql"] and "}'::uuid[])" in queries.captured_queries[0]["sql"]
