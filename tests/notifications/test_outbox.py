"""Who hears what (DESIGN.md, issue "Notifications"), on which channels, as written by the workflow's outbox."""

import json

import pytest

from issues import workflow
from issues.audience import recipients_for, webhook_type_for
from issues.models import Event
from notifications.models import Channel, Contact, Notification, NotificationPreference
from tests.factories import issue_in_status

pytestmark = pytest.mark.django_db


def heard(issue, *, action=None, channel=Channel.INBOX) -> dict[str, str]:
    """Return {username: kind} of the inbox rows of the issue's latest event (or of its latest `action` event)."""
    events = Event.objects.filter(issue=issue)
    if action:
        events = events.filter(action=action)
    event = events.latest("at", "id")
    rows = Notification.objects.filter(event=event, channel=channel).select_related("recipient")
    return {n.recipient.username: n.kind for n in rows}


@pytest.fixture
def chain(make, territory):
    """Return a function driving an issue of the resident at the grid to a status through the workflow."""
    return lambda status: make(status, place=territory["grid"])


def channels_of(issue, user) -> set[str]:
    return set(Notification.objects.filter(issue=issue, recipient=user).values_list("channel", flat=True))


def test_submission_is_heard_by_community_staff_of_the_scope_only(chain, other_community_staff, street_officer):
    issue = chain("submitted")
    assert heard(issue) == {"community_staff": "issue.submitted"}


def test_dispatch_is_heard_by_the_dispatched_department(chain, shuiwu_staff):
    issue = chain("dispatched")
    assert heard(issue) == {"chengguan_staff": "issue.dispatched"}


def test_accept_resolve_are_heard_by_the_reporter(chain):
    issue = chain("resolved")
    assert heard(issue, action="accept") == {"resident": "issue.accepted"}
    assert heard(issue, action="resolve") == {"resident": "issue.resolved"}


def test_reporter_rating_is_not_sent_back_to_the_reporter(chain):
    issue = chain("closed")
    assert heard(issue, action="rate") == {}


def test_closing_without_the_reporter_is_heard_by_the_reporter(chain):
    issue = chain("resolved")
    event = Event(issue=issue, actor=None, action="auto_close", from_status="resolved", to_status="closed")
    assert recipients_for(event) == {issue.reporter_user_id: "issue.closed"}


def test_unsatisfied_rating_reaches_community_staff_and_departments(chain, resident):
    issue = chain("resolved")
    workflow.issue_rate(issue=issue, actor=resident, score=1, comment="Still blocked.")
    assert heard(issue) == {"community_staff": "issue.rated_unsatisfied", "chengguan_staff": "issue.reopened"}


def test_staff_reopen_reaches_reporter_and_departments(chain, community_staff):
    issue = chain("closed")
    workflow.issue_reopen(issue=issue, actor=community_staff, reason="Came back.")
    assert heard(issue) == {"resident": "issue.reopened", "chengguan_staff": "issue.reopened"}


def test_returned_work_reaches_community_staff(chain, chengguan_staff):
    issue = chain("dispatched")
    workflow.issue_return(issue=issue, actor=chengguan_staff, reason="Not ours: water pipe.")
    assert heard(issue) == {"community_staff": "issue.returned"}


def test_rejection_reaches_the_reporter(chain, community_staff):
    issue = chain("submitted")
    workflow.issue_reject(issue=issue, actor=community_staff, reason="invalid")
    assert heard(issue) == {"resident": "issue.rejected"}


def test_duplicate_rejection_reaches_both_reporters(chain, community_staff, other_resident, territory):
    original = chain("submitted")
    copy = issue_in_status("submitted", reporter=other_resident, place=territory["grid"])
    workflow.issue_reject(issue=copy, actor=community_staff, reason="duplicate", duplicate_of=original)
    assert heard(copy) == {"other_resident": "issue.rejected", "resident": "issue.duplicate_linked"}


def test_escalation_to_street_reaches_street_officers_then_district_admins(
    chain, community_staff, street_officer, district_admin
):
    issue = chain("dispatched")
    issue = workflow.issue_escalate(issue=issue, actor=community_staff, note="Stalled.")
    assert heard(issue) == {"street_officer": "issue.escalated"}
    workflow.issue_escalate(issue=issue, actor=street_officer, note="Still stalled.")
    assert heard(issue) == {"district_admin": "issue.escalated"}


def test_summoned_departments_hear_the_summons(chain, street_officer, shuiwu, shuiwu_staff):
    issue = chain("dispatched")
    workflow.issue_escalate(issue=issue, actor=street_officer, note="吹哨", departments=[shuiwu])
    assert heard(issue) == {"shuiwu_staff": "issue.summoned"}


def test_extension_request_reaches_street_officers(chain, chengguan_staff, street_officer):
    issue = chain("in_progress")
    workflow.issue_extend(issue=issue, actor=chengguan_staff, workdays=3, reason="Parts on order.")
    assert heard(issue) == {"street_officer": "issue.extension_requested"}


def test_preferences_choose_the_channels(chain, community_staff):
    NotificationPreference.objects.create(user=community_staff, channel=Channel.EMAIL, enabled=False)
    NotificationPreference.objects.create(user=community_staff, channel=Channel.SMS, enabled=True)
    Contact.objects.create(user=community_staff, phone="13800138000")
    issue = chain("submitted")
    channels = set(
        Notification.objects.filter(issue=issue, recipient=community_staff).values_list("channel", flat=True)
    )
    assert channels == {Channel.INBOX, Channel.SMS}


def test_default_channels_are_inbox_and_email_and_sms_needs_a_phone(chain, community_staff):
    NotificationPreference.objects.create(user=community_staff, channel=Channel.SMS, enabled=True)
    issue = chain("submitted")
    channels = set(
        Notification.objects.filter(issue=issue, recipient=community_staff).values_list("channel", flat=True)
    )
    assert channels == {Channel.INBOX, Channel.EMAIL}


def test_a_user_without_email_gets_no_email_row(chain, community_staff):
    community_staff.email = ""
    community_staff.save()
    issue = chain("submitted")
    channels = set(
        Notification.objects.filter(issue=issue, recipient=community_staff).values_list("channel", flat=True)
    )
    assert channels == {Channel.INBOX}


def test_partner_webhooks_cover_only_issues_the_partner_may_see(chain, partner, endpoint_for, territory):
    endpoint_for("https://partner.example/hooks")
    mine = issue_in_status("submitted", reporter=partner.user, place=territory["grid"], reporter_phone="13800138000")
    theirs = chain("submitted")
    assert Notification.objects.filter(issue=mine, channel=Channel.WEBHOOK, kind="issue.created").count() == 1
    assert not Notification.objects.filter(issue=theirs, channel=Channel.WEBHOOK).exists()


def test_partner_hears_only_the_events_it_subscribed_to(partner, endpoint_for, territory, community_staff, category):
    endpoint_for("https://partner.example/hooks", events=["issue.status_changed"])
    issue = issue_in_status("submitted", reporter=partner.user, place=territory["grid"], reporter_phone="13800138000")
    workflow.issue_classify(issue=issue, actor=community_staff, category=category)
    kinds = list(Notification.objects.filter(issue=issue, channel=Channel.WEBHOOK).values_list("kind", flat=True))
    assert kinds == ["issue.status_changed"]


def test_webhook_types_follow_api_md():
    assert webhook_type_for(Event(action="submit", from_status="", to_status="submitted")) == "issue.created"
    assert webhook_type_for(Event(action="escalate", from_status="dispatched", to_status="dispatched")) == (
        "issue.escalated"
    )
    assert webhook_type_for(Event(action="accept", from_status="dispatched", to_status="in_progress")) == (
        "issue.status_changed"
    )
    assert webhook_type_for(Event(action="comment", from_status="dispatched", to_status="dispatched")) is None


def test_partner_hears_of_escalation_with_the_new_level(partner, endpoint_for, territory, community_staff):
    endpoint_for("https://partner.example/hooks", events=["issue.escalated"])
    issue = issue_in_status("submitted", reporter=partner.user, place=territory["grid"], reporter_phone="13800138000")
    workflow.issue_escalate(issue=issue, actor=community_staff, note="Stalled.")
    n = Notification.objects.get(issue=issue, channel=Channel.WEBHOOK)
    body = json.loads(n.payload["body"])
    assert (body["type"], body["data"]["issue"]["escalation_level"]) == ("issue.escalated", 1)


def test_a_partner_hears_through_its_webhooks_not_as_a_person(partner, endpoint_for, territory, community_staff):
    endpoint_for("https://partner.example/hooks")
    issue = issue_in_status("submitted", reporter=partner.user, place=territory["grid"], reporter_phone="13800138000")
    workflow.issue_reject(issue=issue, actor=community_staff, reason="invalid")
    assert not Notification.objects.filter(recipient=partner.user).exists()
    kinds = sorted(Notification.objects.filter(issue=issue, channel=Channel.WEBHOOK).values_list("kind", flat=True))
    assert kinds == ["issue.created", "issue.status_changed"]


@pytest.mark.django_db
def test_a_notification_row_has_one_index_led_by_its_recipient():
    """The inbox index leads with the recipient; a second one would be a write per outbox row for nothing."""
    from django.db import connection

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Notification._meta.db_table)
    led = sorted(name for name, c in constraints.items() if c["index"] and c["columns"][:1] == ["recipient_id"])
    assert led == ["notification_inbox"]
