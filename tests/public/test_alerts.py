"""Area alerts: follow a community, a grid (a street: staff), hear of new public issues and resolutions at once or
in a daily digest, never of a private, report or unseen issue; unsubscribe in one click without signing in."""

from http import HTTPStatus

import pytest
from django.core import mail

from config.errors import ValidationFailed
from issues import workflow
from issues.models import Notice
from notifications.alerts import area_alerts_digest, area_subscription_set, unsubscribe_token
from notifications.delivery import notification_deliver
from notifications.inbox import unread_count_remembered
from notifications.models import AreaAlert, AreaSubscription, Channel, Notification
from notifications.tasks import area_alerts_digest_task
from tests.factories import UserFactory

from .conftest import SPELLINGS

pytestmark = pytest.mark.django_db


@pytest.fixture
def neighbour(db):
    return UserFactory(username="neighbour", email="neighbour@example.test")


def alerts_of(user):
    return list(Notification.objects.filter(recipient=user, kind__startswith="area.").order_by("created_at"))


def test_a_follower_hears_at_once_of_a_new_public_issue_and_its_resolution(build, territory, neighbour):
    area_subscription_set(user=neighbour, area=territory["community"], channel=Channel.INBOX, frequency="immediate")

    issue = build("resolved", description=f"楼道堆物 {SPELLINGS[0]}", note=f"已清理，回电 {SPELLINGS[3]}")

    new, resolved = alerts_of(neighbour)
    assert (new.kind, resolved.kind) == (Notice.AREA_NEW, Notice.AREA_RESOLVED)
    assert new.issue_id is None  # the follower cannot open the issue page: the board is linked instead
    assert resolved.payload["number"] == issue.number
    assert resolved.payload["note"] == "已清理，回电 138****5678"
    text = str(new.payload) + str(resolved.payload)
    for personal in ("刘阿姨", "13800138000", "金东南路", *SPELLINGS):
        assert personal not in text
    assert resolved.payload["unsubscribe_path"].startswith("/alerts/unsubscribe/")


@pytest.mark.parametrize("how", ["private", "report", "unseen", "rejected"])
def test_a_private_report_unseen_or_rejected_issue_is_never_announced(build, territory, neighbour, how):
    area_subscription_set(user=neighbour, area=territory["grid"], channel=Channel.INBOX, frequency="immediate")
    area_subscription_set(user=neighbour, area=territory["community"], channel=Channel.INBOX, frequency="daily")
    {
        "private": lambda: build("resolved", private=True),
        "report": lambda: build("resolved", kind="report"),
        "unseen": lambda: build("submitted"),
        "rejected": lambda: build("rejected"),
    }[how]()

    assert alerts_of(neighbour) == []
    assert AreaAlert.objects.count() == 0


def test_an_issue_put_back_to_public_is_announced_then(build, territory, neighbour, community_staff):
    area_subscription_set(user=neighbour, area=territory["community"], channel=Channel.INBOX, frequency="immediate")
    issue = build("classified", private=True)
    assert alerts_of(neighbour) == []

    workflow.issue_set_privacy(issue=issue, actor=community_staff, private=False)

    assert [n.kind for n in alerts_of(neighbour)] == [Notice.AREA_NEW]


def test_one_message_per_event_when_following_a_grid_and_its_community(build, territory, neighbour):
    area_subscription_set(user=neighbour, area=territory["community"], channel=Channel.INBOX, frequency="immediate")
    area_subscription_set(user=neighbour, area=territory["grid"], channel=Channel.INBOX, frequency="immediate")

    build("classified")

    [new] = alerts_of(neighbour)
    assert new.payload["area"] == territory["grid"].name  # the most specific one


def test_daily_followers_get_one_digest_of_the_day_and_nothing_twice(build, territory, neighbour):
    area_subscription_set(user=neighbour, area=territory["community"], channel=Channel.EMAIL, frequency="daily")
    build("resolved")
    build("classified")
    assert alerts_of(neighbour) == []
    assert AreaAlert.objects.count() == 3  # new, resolved; new

    ids = area_alerts_digest()

    [digest] = alerts_of(neighbour)
    assert ids == [str(digest.pk)]
    assert (digest.kind, digest.channel, digest.payload["count"]) == (Notice.AREA_DIGEST, Channel.EMAIL, 3)
    assert AreaAlert.objects.count() == 0
    assert area_alerts_digest() == []  # nothing waits: a second beat sends nothing

    notification_deliver(notification_id=str(digest.pk))
    [email] = mail.outbox
    assert email.to == ["neighbour@example.test"]
    assert email.extra_headers["List-Unsubscribe"] == f"<{digest.payload['unsubscribe_url']}>"
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert digest.payload["unsubscribe_url"] in email.body
    assert "13800138000" not in email.body


def test_the_digest_task_queues_what_it_wrote(build, territory, neighbour, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    area_subscription_set(user=neighbour, area=territory["community"], channel=Channel.INBOX, frequency="daily")
    build("classified")

    assert area_alerts_digest_task() == 1
    assert Notification.objects.get(recipient=neighbour).kind == Notice.AREA_DIGEST


def test_an_immediate_email_carries_the_one_click_unsubscribe_header(build, territory, neighbour):
    area_subscription_set(user=neighbour, area=territory["community"], channel=Channel.EMAIL, frequency="immediate")
    build("classified")
    [new] = alerts_of(neighbour)

    notification_deliver(notification_id=str(new.pk))

    [email] = mail.outbox
    assert email.extra_headers["List-Unsubscribe"].startswith("<http")
    assert "/alerts/unsubscribe/" in email.body


def test_unsubscribe_works_without_signing_in_by_get_or_one_click_post(client, territory, neighbour):
    first = area_subscription_set(user=neighbour, area=territory["community"], channel="inbox", frequency="daily")
    second = area_subscription_set(user=neighbour, area=territory["grid"], channel="inbox", frequency="daily")

    response = client.get(f"/alerts/unsubscribe/{unsubscribe_token(first)}/")
    assert response.status_code == HTTPStatus.OK
    assert not AreaSubscription.objects.filter(pk=first.pk).exists()

    response = client.post(f"/alerts/unsubscribe/{unsubscribe_token(second)}/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == HTTPStatus.OK
    assert AreaSubscription.objects.filter(user=neighbour).count() == 0


def test_a_forged_or_used_token_removes_nothing(client, territory, neighbour):
    kept = area_subscription_set(user=neighbour, area=territory["community"], channel="inbox", frequency="daily")
    token = unsubscribe_token(kept)

    assert client.get(f"/alerts/unsubscribe/{token[:-2]}xx/").status_code == HTTPStatus.NOT_FOUND
    assert AreaSubscription.objects.filter(pk=kept.pk).exists()
    kept.delete()
    again = area_subscription_set(user=neighbour, area=territory["community"], channel="inbox", frequency="daily")
    assert client.get(f"/alerts/unsubscribe/{token}/").status_code == HTTPStatus.NOT_FOUND  # the old one's token
    assert AreaSubscription.objects.filter(pk=again.pk).exists()


def test_a_street_is_followed_by_staff_only(territory, neighbour, street_officer):
    with pytest.raises(ValidationFailed):
        area_subscription_set(user=neighbour, area=territory["street"], channel="inbox", frequency="daily")
    with pytest.raises(ValidationFailed):
        area_subscription_set(user=neighbour, area=territory["building"], channel="inbox", frequency="daily")
    assert area_subscription_set(user=street_officer, area=territory["street"], channel="inbox", frequency="daily")


def test_follow_from_the_board_then_list_change_and_stop(client, territory, neighbour):
    board = f"/public/{territory['community'].code}/"
    assert client.post("/alerts/follow/", {"area": territory["grid"].code}).status_code == HTTPStatus.FOUND
    assert AreaSubscription.objects.count() == 0  # not signed in: to the login page

    client.force_login(neighbour)
    assert 'id="follow-button"' in client.get(board).content.decode()
    response = client.post(
        "/alerts/follow/",
        {"area": territory["grid"].code, "channel": "email", "frequency": "daily", "next": board},
    )
    assert response.status_code == HTTPStatus.FOUND and response["Location"] == board
    subscription = AreaSubscription.objects.get(user=neighbour)
    assert (subscription.area, subscription.channel, subscription.frequency) == (territory["grid"], "email", "daily")
    assert territory["grid"].name in client.get("/alerts/").content.decode()

    client.post("/alerts/follow/", {"area": territory["grid"].code, "channel": "inbox", "frequency": "immediate"})
    subscription.refresh_from_db()
    assert (subscription.channel, subscription.frequency) == ("inbox", "immediate")

    other = UserFactory(username="other_follower")
    client.force_login(other)
    assert client.post(f"/alerts/{subscription.pk}/unfollow/").status_code == HTTPStatus.NOT_FOUND
    client.force_login(neighbour)
    assert client.post(f"/alerts/{subscription.pk}/unfollow/").status_code == HTTPStatus.FOUND
    assert not AreaSubscription.objects.exists()


def test_the_inbox_links_the_board_and_the_unsubscribe(client, build, territory, neighbour):
    area_subscription_set(user=neighbour, area=territory["community"], channel=Channel.INBOX, frequency="immediate")
    build("classified")
    client.force_login(neighbour)

    page = client.get("/inbox/").content.decode()

    assert f'href="/public/{territory["community"].code}/"' in page
    assert 'class="unsubscribe" href="/alerts/unsubscribe/' in page


@pytest.mark.parametrize("how", ["private", "rejected"])
def test_waiting_alerts_are_withdrawn_when_the_issue_stops_being_public(
    build, territory, neighbour, community_staff, how
):
    area_subscription_set(user=neighbour, area=territory["community"], channel=Channel.INBOX, frequency="daily")
    issue = build("classified")
    kept = build("classified")
    assert AreaAlert.objects.count() == 2

    if how == "private":
        workflow.issue_set_privacy(issue=issue, actor=community_staff, private=True)
    else:
        workflow.issue_reject(issue=issue, actor=community_staff, reason="invalid")

    assert list(AreaAlert.objects.values_list("issue_id", flat=True)) == [kept.pk]
    area_alerts_digest()
    [digest] = alerts_of(neighbour)
    assert [item["number"] for item in digest.payload["items"]] == [kept.number]


def test_a_daily_digest_in_the_inbox_counts_in_the_followers_header_at_once(build, territory, neighbour):
    area_subscription_set(user=neighbour, area=territory["community"], channel=Channel.INBOX, frequency="daily")
    build("classified")
    assert unread_count_remembered(user=neighbour) == 0  # remembered: nothing in the inbox yet

    area_alerts_digest()

    assert unread_count_remembered(user=neighbour) == 1
