"""Events are the issue's history: written by the workflow only, never rewritten, by the ORM or in SQL."""

import pytest
from django.db import DatabaseError, connection, transaction

from issues.models import Event
from tests.factories import issue_in_status


@pytest.fixture
def event(territory, resident):
    issue = issue_in_status("submitted", reporter=resident, place=territory["grid"])
    return Event.objects.get(issue=issue)


@pytest.mark.django_db
def test_an_event_is_never_updated_or_deleted_through_the_orm(event):
    event.note = "rewritten"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        Event.objects.filter(pk=event.pk).update(note="rewritten")
    with pytest.raises(TypeError):
        Event.objects.filter(pk=event.pk).delete()
    assert Event.objects.get(pk=event.pk).note == ""


@pytest.mark.django_db
def test_the_database_refuses_to_rewrite_an_event(event):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE issues_event SET note = 'rewritten' WHERE id = %s", [event.pk])
    assert Event.objects.get(pk=event.pk).note == ""


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the delete trigger is PostgreSQL's (see 0003)")
@pytest.mark.django_db
def test_postgresql_refuses_to_delete_an_event(event):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM issues_event WHERE id = %s", [event.pk])
    assert Event.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_with_events_can_still_empty_the_database(event):
    # The teardown flush of this test (TRUNCATE on PostgreSQL, DELETE on SQLite) is what is checked here.
    assert Event.objects.count() == 1
