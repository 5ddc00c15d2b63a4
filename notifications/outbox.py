"""The outbox: turn an issue event and its audience into Notification rows, inside the caller's transaction.

Who hears what is the issues' business (issues.audience); issues.events.event_record hands it here with the
event. Delivery (notifications.tasks) is queued only after commit, and the outbox sweep re-queues what is still
pending, so a broker or worker outage delays a message but never loses it.
"""

import uuid
from collections.abc import Callable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import BooleanField, ExpressionWrapper
from django.utils import timezone

from config.bulk import rows_insert, rows_insert_grouped
from issues.models import Issue, issue_visibility_q
from notifications.alerts import area_alert_rows
from notifications.channels import channels_for_user
from notifications.inbox import inbox_rows_written
from notifications.models import Channel, Notification, WebhookEndpoint
from notifications.tasks import notifications_queue_on_commit
from notifications.webhooks import webhook_body, webhook_event_body
from orgs import auth_cache
from orgs.scoping import scopes_prefetch

# The webhook types any active endpoint of an active partner app subscribes to, remembered in the shared cache by
# orgs.auth_cache's rules (only when the cache is shared; forgotten at once and at commit by notifications.signals
# when an endpoint or a partner app is saved or deleted), so that an event no partner subscribed to (a submission,
# usually) costs no query for endpoints.
SUBSCRIBED_TYPES_KEY = "webhooks:subscribed-types"
# Read by every event (issues.events): kept in the process too, under the shared generation (orgs.auth_cache).
auth_cache.kept_in_process(SUBSCRIBED_TYPES_KEY)


def _payload(event, issue=None, tz=None) -> dict:
    """Capture what the message templates need, as it was when the change happened (about `issue`, default its own).

    `tz`: the current time zone, read once by a caller writing many (reading it costs more than the rest)."""
    issue, data = issue or event.issue, event.data or {}
    tz = tz or timezone.get_current_timezone()
    summary = issue.title or issue.description[:60]
    due = data.get("due_at")
    return {
        "number": issue.number,
        "summary": summary,
        "note": event.note or data.get("reason", "") or "",
        "level": data.get("to_level", issue.escalation_level),
        "reason": issue.reject_reason,
        "workdays": data.get("workdays", ""),
        "due": _local(datetime.fromisoformat(due), tz) if due else "",
        "response_due": _local(issue.response_due_at, tz),
    }


def _local(value, tz) -> str:
    return timezone.localtime(value, tz).strftime("%Y-%m-%d %H:%M") if value else ""


def _subscribed_endpoints(webhook_types) -> list[WebhookEndpoint]:
    """Return the active endpoints of active partners subscribed to any of `webhook_types`, with their partner's
    user (the users' scopes read in one query)."""
    active = list(
        WebhookEndpoint.objects.filter(is_active=True, partner__is_active=True).select_related(
            "partner__user", "partner__area"
        )
    )
    auth_cache.remember(SUBSCRIBED_TYPES_KEY, frozenset(t for endpoint in active for t in endpoint.events))
    endpoints = [endpoint for endpoint in active if set(endpoint.events) & set(webhook_types)]
    if endpoints:
        scopes_prefetch([endpoint.partner.user for endpoint in endpoints])  # every instance: one per endpoint row
    return endpoints


def _nobody_subscribes(webhook_type: str) -> bool:
    """Return whether no partner subscribes to `webhook_type`, as remembered (SUBSCRIBED_TYPES_KEY); False when
    nothing is remembered (the endpoints are read, and remembered by _subscribed_endpoints)."""
    remembered = auth_cache.remembered(SUBSCRIBED_TYPES_KEY)
    return isinstance(remembered, frozenset) and webhook_type not in remembered


def _partners_seeing(issues, endpoints) -> dict:
    """Return {issue pk: set of partner ids that may see it} (issue_visibility_q), in one query for all issues."""
    users = {endpoint.partner_id: endpoint.partner.user for endpoint in endpoints}
    if not users or not issues:
        return {}
    rows = Issue.objects.filter(pk__in=[issue.pk for issue in issues]).values(
        "pk",
        **{
            f"p{partner_id}": ExpressionWrapper(issue_visibility_q(user), output_field=BooleanField())
            for partner_id, user in users.items()
        },
    )
    return {row["pk"]: {pid for pid in users if row[f"p{pid}"]} for row in rows}


def _partner_endpoints(issue, webhook_type: str) -> list[WebhookEndpoint]:
    """Return the active endpoints subscribed to `webhook_type` whose partner may see `issue` (issue_visibility_q).

    Three queries whatever the number of partners: the endpoints, the partners' memberships, and one read of the
    issue with each partner's visibility filter as a column; none while nobody subscribes to `webhook_type`.
    """
    if _nobody_subscribes(webhook_type):
        return []
    endpoints = _subscribed_endpoints([webhook_type])
    seen = _partners_seeing([issue], endpoints).get(issue.pk, set())
    return [endpoint for endpoint in endpoints if endpoint.partner_id in seen]


def outbox_write(
    *,
    event,
    recipients: dict[int, str],
    about: dict | None = None,
    webhook_type: str | None = None,
    partner_issue: Callable[..., dict] | None = None,
    area_alert: tuple[str, dict] | None = None,
) -> list[Notification]:
    """Write the outbox rows of `event` for the audience issues computed, and queue their delivery after commit.

    `recipients` is {user id: kind}: one row per recipient and channel; `about` names the issue a recipient hears
    about when it is not the event's own (told without the event's note). `webhook_type`: one row per partner
    endpoint subscribed to it whose partner may see the issue, its body `partner_issue(issue=…, viewer=…)` as that
    partner's service user sees it. `area_alert` (Notice, payload): the followers of the issue's area
    (notifications.alerts: a row now, or a wait for the daily digest).
    """
    rows = _person_rows(event, recipients, about or {}, _users_for(recipients))
    if webhook_type:
        endpoints = _partner_endpoints(event.issue, webhook_type)
        rows += _webhook_rows(
            event,
            webhook_type,
            endpoints,
            lambda endpoint: partner_issue(issue=event.issue, viewer=endpoint.partner.user),
        )
    if area_alert:
        kind, payload = area_alert
        rows += area_alert_rows(event=event, kind=kind, payload=payload)
    return _save(rows)


def outbox_silent(
    *, recipients: dict[int, str], webhook_type: str | None = None, area_alert: tuple[str, dict] | None = None
) -> bool:
    """Return whether outbox_write with this audience writes no row, told without the database: nobody to tell, no
    area alert, and no partner subscribed to the webhook type (as remembered)."""
    return not recipients and not area_alert and (not webhook_type or _nobody_subscribes(webhook_type))


def outbox_write_many(*, writes: list[dict], partner_issues: Callable[..., dict] | None = None) -> list[str]:
    """Write what outbox_write writes for each of many events (a sweep's), in a number of queries that does not grow
    with them; queue their delivery after commit; return the rows' ids.

    `writes`: one dict of outbox_write's keyword arguments per event (`event`, `recipients`, `about`,
    `webhook_type`, `area_alert`). `partner_issues(issues=…, viewer=…)` returns {issue pk: body data} for many
    issues at once, as `partner_issue` would for each. The rows go in as columns (config.bulk.rows_insert: one
    INSERT … SELECT FROM unnest(…) on PostgreSQL), never as a model instance each.
    """
    users = _users_for({uid for write in writes for uid in write["recipients"]})
    tz = timezone.get_current_timezone()
    rows: list[tuple] = []  # in ROW_COLUMNS order; turned into columns at the end, in one pass (zip)
    add = rows.append
    # An event's rows to people about its own issue differ only by (kind, channel, recipient), and a sweep's events
    # mostly have the same few recipients: those rows go in as one row per event (its payload) times the rows of its
    # recipients' group, multiplied out by the database (config.bulk.rows_insert_grouped).
    groups: dict[tuple, int] = {}  # an event's recipients, as sorted (uid, kind) pairs -> group number
    grouped: dict[str, list] = {"group": [], "kind": [], "channel": [], "recipient_id": []}
    told = set()  # the groups someone hears in
    shared: list[tuple] = []  # (group, issue pk, event pk, payload) of each event whose people hear about its issue

    for write in writes:
        event, recipients, about = write["event"], write["recipients"], write.get("about") or {}
        if about:
            for kind, channel, user, issue, payload in _person_messages(event, recipients, about, users, tz):
                add((kind, channel, user.pk, None, issue.pk, event.pk, payload))
        elif recipients:
            key = tuple(sorted(recipients.items()))
            group = groups.get(key)
            if group is None:
                group = groups[key] = len(groups)
                for kind, channel, user in _heard(recipients, users):
                    told.add(group)
                    for name, value in zip(grouped, (group, kind, channel, user.pk), strict=True):
                        grouped[name].append(value)
            if group in told:
                shared.append((group, event.issue.pk, event.pk, _payload(event, tz=tz)))
        if write.get("area_alert"):
            kind, payload = write["area_alert"]
            for row in area_alert_rows(event=event, kind=kind, payload=payload):
                add(tuple(getattr(row, name) for name in ROW_COLUMNS))
    types = {write["webhook_type"] for write in writes if write.get("webhook_type")}
    heard = {webhook_type for webhook_type in types if not _nobody_subscribes(webhook_type)}  # no read while none does
    typed = [write for write in writes if write.get("webhook_type") in heard]
    if typed:
        endpoints = _subscribed_endpoints(heard)
        seen = _partners_seeing([write["event"].issue for write in typed], endpoints)
        data: dict = {}  # (partner id, issue pk) -> body data, read for all issues of a partner at once
        for partner_id in {endpoint.partner_id for endpoint in endpoints}:
            viewer = next(e.partner.user for e in endpoints if e.partner_id == partner_id)
            visible = [w["event"].issue for w in typed if partner_id in seen.get(w["event"].issue.pk, ())]
            if visible:
                for pk, body in partner_issues(issues=visible, viewer=viewer).items():
                    data[partner_id, pk] = body
        for write in typed:
            event, webhook_type = write["event"], write["webhook_type"]
            mine = [e for e in endpoints if webhook_type in e.events and e.partner_id in seen.get(event.issue.pk, ())]
            for endpoint, payload in _webhook_messages(
                event, webhook_type, mine, lambda endpoint, e=event: data[endpoint.partner_id, e.issue.pk]
            ):
                add((webhook_type, Channel.WEBHOOK, None, endpoint.pk, event.issue.pk, event.pk, payload))
    ids: list[str] = []
    pairs: set[tuple] = set()  # (channel, recipient id) of the rows written: their inbox counts change
    if shared:
        names = ("group", "issue_id", "event_id", "payload")
        columns = dict(zip(names, map(list, zip(*shared, strict=True)), strict=True))
        ids += rows_insert_grouped(model=Notification, columns=columns, grouped=grouped, on="group")
        pairs.update(zip(grouped["channel"], grouped["recipient_id"], strict=True))
    if rows:
        columns = dict(zip(ROW_COLUMNS, map(list, zip(*rows, strict=True)), strict=True))
        # The ids are made here (what the field's default makes), so none has to come back from the database.
        made = [str(uuid.uuid4()) for _ in rows]
        rows_insert(model=Notification, columns={"id": made, **columns})
        ids += made
        pairs.update(zip(columns["channel"], columns["recipient_id"], strict=True))
    inbox_rows_written(pairs)
    notifications_queue_on_commit(ids=ids)
    return ids


def outbox_write_alert(
    *, kind: str, recipients: list[int], issues: list, payload: dict, webhook_type: str, webhook_data: Callable, at
) -> list[Notification]:
    """Write the rows of an alert about many issues (a hot spot, triage.hotspots) that no single event stands for:
    one row per recipient and channel (`kind`, `payload`, told about the first of `issues`), and one webhook row of
    `webhook_type` per subscribed endpoint whose partner may see any of `issues`, its body
    `webhook_data(visible=[the issues that partner may see])`. Queued after commit; a constant number of queries."""
    rows: list[Notification] = []
    users = _users_for(set(recipients))
    for user, channels in (users[uid] for uid in sorted(users)):
        for channel in channels:
            rows.append(Notification(kind=kind, channel=channel, recipient=user, issue=issues[0], payload=payload))
    endpoints = _subscribed_endpoints([webhook_type])
    seen = _partners_seeing(issues, endpoints)
    bodies: dict[int, str] = {}
    for endpoint in endpoints:
        visible = [issue for issue in issues if endpoint.partner_id in seen.get(issue.pk, ())]
        if not visible:
            continue
        if endpoint.partner_id not in bodies:
            data = webhook_data(visible=visible)
            bodies[endpoint.partner_id] = webhook_event_body(event_type=webhook_type, at=at, data=data)
        rows.append(
            Notification(
                kind=webhook_type,
                channel=Channel.WEBHOOK,
                webhook=endpoint,
                issue=visible[0],
                payload={"body": bodies[endpoint.partner_id]},
            )
        )
    return _save(rows)


def _users_for(recipient_ids) -> dict:
    if not recipient_ids:
        return {}
    users = (
        get_user_model()
        # A partner app's service user hears through its webhooks, not an inbox nobody reads.
        .objects.filter(pk__in=recipient_ids, is_active=True, partner_app__isnull=True)
        .select_related("contact")
        .prefetch_related("notification_prefs")
    )
    return {user.pk: (user, channels_for_user(user)) for user in users}


# The columns outbox_write_many writes of each row (the rest take their defaults: pending, no attempt yet).
ROW_COLUMNS = ("kind", "channel", "recipient_id", "webhook_id", "issue_id", "event_id", "payload")


def _heard(recipients: dict[int, str], users: dict) -> list[tuple]:
    """Return (kind, channel, user) of each person's row: one per recipient who hears (in `users`) and channel."""
    return [
        (recipients[user.pk], channel, user)
        for user, channels in (users[uid] for uid in sorted(recipients) if uid in users)
        for channel in channels
    ]


def _person_messages(event, recipients: dict[int, str], about: dict, users: dict, tz=None):
    """Yield (kind, channel, user, issue, payload) of each person's row about `event`: one per recipient and channel,
    about the issue `about` names for them (told without the event's note) or the event's own."""
    issue = event.issue
    payloads = {None: _payload(event, tz=tz)}
    for kind, channel, user in _heard(recipients, users):
        subject = about.get(user.pk)
        if subject is not None and subject.pk not in payloads:
            payloads[subject.pk] = {**_payload(event, subject, tz), "note": ""}
        payload = payloads[subject.pk if subject is not None else None]
        yield kind, channel, user, subject or issue, payload


def _person_rows(event, recipients: dict[int, str], about: dict, users: dict) -> list[Notification]:
    return [
        Notification(kind=kind, channel=channel, recipient=user, issue=issue, event=event, payload=payload)
        for kind, channel, user, issue, payload in _person_messages(event, recipients, about, users)
    ]


def _webhook_messages(event, webhook_type: str, endpoints, body_data: Callable):
    """Yield (endpoint, payload) of each partner endpoint's row about `event`: one body per partner, what it may see."""
    at = event.at or timezone.now()
    bodies: dict[int, str] = {}
    for endpoint in endpoints:
        if endpoint.partner_id not in bodies:
            data = body_data(endpoint)
            bodies[endpoint.partner_id] = webhook_body(event_type=webhook_type, at=at, issue_data=data)
        yield endpoint, {"body": bodies[endpoint.partner_id]}


def _webhook_rows(event, webhook_type: str, endpoints, body_data: Callable) -> list[Notification]:
    return [
        Notification(
            kind=webhook_type,
            channel=Channel.WEBHOOK,
            webhook=endpoint,
            issue=event.issue,
            event=event,
            payload=payload,
        )
        for endpoint, payload in _webhook_messages(event, webhook_type, endpoints, body_data)
    ]


def _save(rows: list[Notification]) -> list[Notification]:
    if rows:
        Notification.objects.bulk_create(rows, batch_size=2000)
        inbox_rows_written((n.channel, n.recipient_id) for n in rows)
        notifications_queue_on_commit(ids=[str(n.id) for n in rows])
    return rows
