"""issue_submit: who may report, routing to a grid, the copied codes, the number, the event and who hears."""

import re
import threading
from datetime import date

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection

from config.errors import ValidationFailed
from issues import events, workflow
from issues.models import Event, Issue, IssueCounter, Photo
from issues.numbering import issue_number_next
from issues.photos import photos_clean
from issues.workflow import triage
from notifications.models import Notification
from orgs.models import PartnerApp
from tests.api.test_issues_support import png_file
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DESCRIPTION = "Bicycles and boxes block the stairwell."


@pytest.fixture
def partner(territory):
    """Return the service user of a partner app whose scope is the community of `territory`."""
    user = UserFactory(username="partner_app")
    PartnerApp.objects.create(slug="mini", name="Mini-program", user=user, area=territory["community"])
    return user


def test_submit_by_building_routes_to_its_grid_and_records_event_and_notifies_community(
    territory, resident, community_staff
):
    issue = workflow.issue_submit(actor=resident, description=DESCRIPTION, building=territory["building"].code)

    issue.refresh_from_db()
    assert issue.status == Issue.Status.SUBMITTED
    assert issue.grid == territory["grid"]
    assert issue.building == territory["building"]
    assert issue.area_path == territory["building"].path
    assert (issue.district_code, issue.street_code, issue.community_code) == ("360702", "360702091", "360702091005")
    assert (issue.grid_code, issue.building_code) == (territory["grid"].code, territory["building"].code)
    assert issue.reporter_user == resident
    assert issue.version == 1
    assert re.fullmatch(r"GD-\d{8}-\d{5}", issue.number)
    event = Event.objects.get(issue=issue)
    assert (event.action, event.from_status, event.to_status, event.actor) == ("submit", "", "submitted", resident)
    assert Notification.objects.filter(event=event, recipient=community_staff, channel="inbox").exists()


def test_submit_by_grid_code_keeps_the_category_and_takes_its_kind(territory, grid_worker, category):
    category.kind = "report"
    category.save()
    issue = workflow.issue_submit(
        actor=grid_worker, description=DESCRIPTION, grid=territory["grid"].code, category="stairwell", urgent=True
    )
    assert issue.grid == territory["grid"]
    assert issue.building is None
    assert issue.area_path == territory["grid"].path
    assert issue.category == category
    assert issue.kind == "report"
    assert issue.urgent is True
    # Triage still has to classify it.
    assert issue.status == Issue.Status.SUBMITTED
    assert issue.response_due_at is None


def test_submit_by_location_routes_to_the_grid_that_contains_the_point(territory, resident):
    issue = workflow.issue_submit(actor=resident, description=DESCRIPTION, lat=25.825, lng=114.955)
    assert issue.grid == territory["grid"]
    assert (issue.lat, issue.lng) == (25.825, 114.955)


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"lat": 30.0, "lng": 120.0}, "location"),  # no grid covers it
        ({}, "location"),  # no place at all
        ({"lat": 25.8}, "location"),  # half a location
        ({"lat": 95.0, "lng": 114.955}, "location"),
        ({"grid": "360702091005999"}, "grid"),  # no such grid
        ({"building": "360702091005"}, "building"),  # a community is not a building
        ({"grid": "360702091005001", "description": "bad"}, "description"),  # shorter than 5
        ({"grid": "360702091005001", "description": "x" * 4001}, "description"),
        ({"grid": "360702091005001", "kind": "rant"}, "kind"),
        ({"grid": "360702091005001", "category": "no-such"}, "category"),
        ({"grid": "360702091005001", "reporter_phone": "call me"}, "reporter_phone"),
    ],
)
def test_submit_refuses_bad_arguments_and_creates_nothing(territory, resident, fields, bad_field):
    fields = {"description": DESCRIPTION, **fields}
    with pytest.raises(ValidationFailed) as refused:
        workflow.issue_submit(actor=resident, **fields)
    assert refused.value.code == "validation_error"
    assert bad_field in refused.value.fields
    assert not Issue.objects.exists()
    assert not Event.objects.exists()


def test_submit_refuses_a_building_outside_the_named_grid(territory, other_territory, resident):
    with pytest.raises(ValidationFailed) as refused:
        workflow.issue_submit(
            actor=resident,
            description=DESCRIPTION,
            building=territory["building"].code,
            grid=other_territory["grid"].code,
        )
    assert list(refused.value.fields) == ["grid"]
    assert not Issue.objects.exists()


@pytest.mark.parametrize("actor", [None, AnonymousUser()], ids=["none", "anonymous_user"])
def test_anonymous_submit_without_the_reporter_phone_is_refused_and_creates_nothing(territory, actor):
    with pytest.raises(ValidationFailed) as refused:
        workflow.issue_submit(actor=actor, description=DESCRIPTION, grid=territory["grid"].code)
    assert list(refused.value.fields) == ["reporter_phone"]
    assert not Issue.objects.exists()
    assert not Event.objects.exists()


def test_anonymous_submit_with_the_reporter_phone_has_no_reporter_account_and_notifies_community(
    territory, community_staff
):
    issue = workflow.issue_submit(
        actor=AnonymousUser(), description=DESCRIPTION, grid=territory["grid"].code, reporter_phone="13812345678"
    )

    issue.refresh_from_db()
    assert (issue.status, issue.reporter_user, issue.reporter_phone) == ("submitted", None, "13812345678")
    event = issue.events.get()
    assert (event.actor, event.data) == (None, {"number": issue.number, "anonymous": True})
    assert Notification.objects.filter(issue=issue, recipient=community_staff, kind="issue.submitted").exists()


def test_partner_app_submits_within_its_scope_with_the_reporters_phone(territory, partner):
    issue = workflow.issue_submit(
        actor=partner,
        description=DESCRIPTION,
        building=territory["building"].code,
        reporter_name="刘洋",
        reporter_phone="13812345678",
        external_id="wx-1",
    )
    assert issue.reporter_user == partner
    assert (issue.reporter_name, issue.reporter_phone, issue.external_id) == ("刘洋", "13812345678", "wx-1")


def test_partner_app_must_give_the_reporters_phone(territory, partner):
    with pytest.raises(ValidationFailed) as refused:
        workflow.issue_submit(actor=partner, description=DESCRIPTION, grid=territory["grid"].code)
    assert list(refused.value.fields) == ["reporter_phone"]
    assert not Issue.objects.exists()


def test_partner_app_cannot_submit_outside_its_scope(territory, other_territory, partner):
    with pytest.raises(ValidationFailed) as refused:
        workflow.issue_submit(
            actor=partner, description=DESCRIPTION, grid=other_territory["grid"].code, reporter_phone="13812345678"
        )
    assert list(refused.value.fields) == ["location"]
    assert not Issue.objects.exists()


def test_numbers_follow_a_daily_sequence(territory, resident):
    first = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    second = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    assert int(second.number[-5:]) == int(first.number[-5:]) + 1
    assert issue_number_next(day=date(2026, 10, 1)) == "GD-20261001-00001"
    assert issue_number_next(day=date(2026, 10, 1)) == "GD-20261001-00002"
    assert IssueCounter.objects.get(day=date(2026, 10, 1)).last == 2


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="numbered with its INSERT on PostgreSQL; elsewhere before its transaction (issues.numbering: gaps allowed)",
)
def test_a_submission_refused_before_its_insert_takes_no_number(territory, resident, monkeypatch):
    first = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)

    def failing_place(*args, **kwargs):
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(triage, "_place", failing_place)
        with pytest.raises(RuntimeError):
            workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    second = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    assert int(second.number[-5:]) == int(first.number[-5:]) + 1


def _failing_outbox_write(**kwargs):
    raise RuntimeError("the outbox could not be written")


@pytest.mark.django_db(transaction=True)
def test_a_submission_that_fails_after_its_number_leaves_that_number_unused(
    territory, resident, community_staff, monkeypatch
):
    first = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    with monkeypatch.context() as patched:
        patched.setattr(events, "outbox_write", _failing_outbox_write)
        with pytest.raises(RuntimeError):
            workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    third = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    # Numbers are unique, not gapless (issues.numbering): the failed one took its number outside its transaction.
    assert int(third.number[-5:]) == int(first.number[-5:]) + 2
    assert Issue.objects.count() == 2
    assert [e.data["number"] for e in Event.objects.order_by("at")] == [first.number, third.number]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_submission_does_not_hold_the_day_counter_while_its_transaction_runs(
    territory, resident, community_staff, monkeypatch
):
    taken = {}
    outbox_write = events.outbox_write

    def take_a_number():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")
            taken["number"] = issue_number_next()
        except Exception as exc:  # noqa: BLE001 — what the test looks at
            taken["error"] = exc
        finally:
            connection.close()

    def write_then_number_elsewhere(**kwargs):
        outbox_write(**kwargs)
        # Inside the submission's transaction, its number taken: another connection numbers an issue without waiting.
        other = threading.Thread(target=take_a_number)
        other.start()
        other.join()

    # The staff of the place read once: a submission that must read them first takes its number in its transaction
    # (issues.numbering), as a statement was sent in it already.
    workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    monkeypatch.setattr(events, "outbox_write", write_then_number_elsewhere)
    issue = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    assert "error" not in taken, taken
    assert int(taken["number"][-5:]) == int(issue.number[-5:]) + 1
    assert Notification.objects.filter(issue=issue, recipient=community_staff).exists()


def test_submit_stores_the_cleaned_photos_before_its_event(territory, resident, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    photos = photos_clean(files=[png_file("a.png"), png_file("b.png", color=(0, 90, 200))])

    issue = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code, photos=photos)

    stored = list(Photo.objects.filter(issue=issue))
    assert [p.uploaded_by for p in stored] == [resident, resident]
    event = Event.objects.get(issue=issue, action="submit")
    assert all(p.created_at <= event.at for p in stored)
    assert issue.replayed is False


def test_a_submit_that_fails_after_storing_photos_leaves_no_row_and_no_file(
    territory, resident, settings, tmp_path, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path
    photos = photos_clean(files=[png_file()])

    def broken_record(**kwargs):
        raise RuntimeError("the event could not be written")

    monkeypatch.setattr(triage, "_record", broken_record)
    with pytest.raises(RuntimeError):
        workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code, photos=photos)

    assert Photo.objects.count() == 0
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_submit_takes_only_cleaned_photos(territory, resident):
    with pytest.raises(TypeError):
        workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code, photos=[png_file()])
    assert Issue.objects.count() == 0


# --- a submission nobody hears of: one round trip, a transaction of its own (config.compiled.sent_alone) -------------


def _statuses_after_each_statement():
    """Return (a list filled with (sql, the server's transaction status right after it), the execute wrapper)."""
    seen = []

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        seen.append((sql, connection.connection.info.transaction_status))
        return result

    return seen, wrapper


def _writes_the_issue(sql: str) -> bool:
    """Say whether `sql` writes a submission's issue and event (prepared once its text was compiled before)."""
    return "EXECUTE griddesk_submit_" in sql or 'WITH i AS (INSERT INTO "issues_issue"' in sql


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one round trip: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_submission_nobody_hears_of_is_numbered_written_and_committed_by_one_query(territory, resident):
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE

    from issues.models import StatsEntry, StatsPending, StatsRollup
    from issues.rollups import rollup_fold

    first = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)  # caches warm
    seen, wrapper = _statuses_after_each_statement()
    with connection.execute_wrapper(wrapper):
        issue = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)

    # The day's number (a transaction of its own, committed first), then the issue, its event and its row waiting
    # for the statistics fold (issues.rollups.rollup_fold): sent together, committed by themselves (the server holds
    # no transaction open after it: no BEGIN before and no COMMIT after). No rollup row is written by a submission.
    ((sql, status),) = [(sql, status) for sql, status in seen if "issues_issuecounter" in sql]
    assert sql == seen[-1][0]
    assert sql.index("issues_issuecounter") < sql.index("COMMIT") < sql.index('INSERT INTO "issues_statspending"')
    assert "issues_statsrollup" not in sql and "griddesk_rollup_write" not in sql
    assert _writes_the_issue(sql)
    assert status == TRANSACTION_STATUS_IDLE
    assert int(issue.number[-5:]) == int(first.number[-5:]) + 1
    assert Issue.objects.get(pk=issue.pk).number == issue.number
    event = Event.objects.get(issue=issue)
    assert (event.action, event.to_status, event.data) == ("submit", "submitted", {"number": issue.number})
    assert event.pk == issue.events.get().pk
    assert set(StatsPending.objects.values_list("issue_id", flat=True)) == {first.pk, issue.pk}
    assert not StatsEntry.objects.filter(issue=issue).exists()
    assert rollup_fold() == 2
    entry = StatsEntry.objects.get(issue=issue)
    assert StatsRollup.objects.filter(pk=entry.rollup_id, total=2).exists()  # both, in one slot: one fold
    assert not StatsPending.objects.exists()
    assert Notification.objects.count() == 0
    assert Issue.objects.count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one round trip: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_number_taken_in_the_query_past_five_digits_is_formatted_as_in_python(territory, resident):
    from django.utils import timezone

    workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)  # caches warm
    IssueCounter.objects.filter(day=timezone.localdate()).update(last=99_998)
    seen, wrapper = _statuses_after_each_statement()
    with connection.execute_wrapper(wrapper):
        folded = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    ((sql, _),) = [(sql, status) for sql, status in seen if "issues_issuecounter" in sql]
    assert _writes_the_issue(sql)  # numbered in its query
    after = issue_number_next()
    assert folded.number == f"GD-{timezone.localdate():%Y%m%d}-99999"
    assert after == f"GD-{timezone.localdate():%Y%m%d}-100000"
    IssueCounter.objects.filter(day=timezone.localdate()).update(last=123_455)
    assert workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code).number == (
        f"GD-{timezone.localdate():%Y%m%d}-123456"
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one round trip: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_submission_sent_alone_that_fails_leaves_no_rollup_row_counted(territory, resident):
    from django.db import IntegrityError
    from django.db.models import F
    from django.utils import timezone

    from issues.models import StatsEntry, StatsPending, StatsRollup
    from issues.rollups import rollup_fold

    first = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    rollup_fold()
    counted = sorted(StatsRollup.objects.values_list("pk", "total"))
    # The second takes the first's number again: its INSERT fails after its number's commit and its pending row's
    # INSERT, in the same query.
    IssueCounter.objects.filter(day=timezone.localdate()).update(last=F("last") - 1)
    with pytest.raises(IntegrityError):
        workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)

    assert not StatsPending.objects.exists()
    assert rollup_fold() == 0
    assert sorted(StatsRollup.objects.values_list("pk", "total")) == counted
    assert (Issue.objects.count(), Event.objects.count(), StatsEntry.objects.count()) == (1, 1, 1)
    third = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    assert StatsPending.objects.filter(issue=third).exists()
    assert rollup_fold() == 1
    assert StatsEntry.objects.filter(issue=third).exists()
    assert int(third.number[-5:]) == int(first.number[-5:]) + 1  # the counter's step back was committed


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one round trip: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_submission_whose_number_fails_in_its_query_writes_nothing_and_leaves_the_connection_usable(
    territory, resident, monkeypatch
):
    from django.db import DataError

    from config.compiled import Prepared

    workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)  # caches warm

    def failing_number():
        return Prepared(None, None, "BEGIN; SELECT 1 / 0; COMMIT", [])

    with monkeypatch.context() as patched:
        patched.setattr(events, "number_taken_first", failing_number)
        with pytest.raises(DataError):
            workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)
    # The block its query began was ended: the same connection goes on, outside any request.
    assert Issue.objects.count() == 1
    assert workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code).number
    assert Issue.objects.count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one round trip: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_submission_someone_hears_of_writes_its_rows_in_one_transaction_with_them(
    territory, resident, community_staff
):
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE, TRANSACTION_STATUS_INTRANS

    workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)  # caches warm
    seen, wrapper = _statuses_after_each_statement()
    with connection.execute_wrapper(wrapper):
        issue = workflow.issue_submit(actor=resident, description=DESCRIPTION, grid=territory["grid"].code)

    # After the number, every statement runs inside the submission's one transaction, committed at its end.
    numbered = [n for n, (sql, _) in enumerate(seen) if "issues_issuecounter" in sql]
    after = [status for _, status in seen[numbered[0] + 1 :]]
    assert seen[numbered[0]][1] == TRANSACTION_STATUS_IDLE  # its own transaction, committed before the next BEGIN
    assert len(after) > 1
    assert set(after) == {TRANSACTION_STATUS_INTRANS}
    assert Notification.objects.filter(issue=issue, recipient=community_staff).exists()
