"""Who hears what: for each event on an issue, the people told of it (and as which Notice), and the partners' webhook.

The lifecycle's knowledge, written against Event.Action and Issue.Status: issues.events.event_record asks
`audience_for(event)` and hands the answer to notifications.outbox, which only writes rows and queues delivery.
Every Event.Action is either heard by someone under these rules or listed in SILENT_ACTIONS.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import reverse

from issues.models import Event, ExtensionRequest, Issue, Notice, WebhookType
from issues.publicity import is_public, public_summary, public_text
from orgs.models import Role
from orgs.scoping import department_staff_ids, node_staff_ids

A, S = Event.Action, Issue.Status

# The actions nobody hears of, person or partner: they change neither the status nor who must act. Every other
# action has someone to tell in the rules below (tests/issues/test_audience.py drives each one to check it).
# Setting privacy changes only who outside the issue may read it: the public lists (issues.publicity), not its people.
SILENT_ACTIONS = frozenset({A.APPROVE_EXTENSION, A.COMMENT, A.RETENTION, A.SET_PRIVACY})
REMINDERS = {A.REMIND_RESPONSE: Notice.REMINDER_RESPONSE, A.REMIND_RESOLUTION: Notice.REMINDER_RESOLUTION}
# What the reporter hears when their issue arrives in a status.
REPORTER_NOTICES = {
    S.IN_PROGRESS: Notice.ACCEPTED,
    S.RESOLVED: Notice.RESOLVED,
    S.CLOSED: Notice.CLOSED,
    S.REJECTED: Notice.REJECTED,
}
ESCALATION_ROLES = {
    Issue.EscalationLevel.STREET: [Role.STREET_OFFICER],
    Issue.EscalationLevel.DISTRICT: [Role.DISTRICT_ADMIN],
}


@dataclass(frozen=True)
class Audience:
    """Who hears of one event: people {user id: Notice} (never its actor), the issue each hears about when it is not
    the event's own (a duplicate's reporter hears about their own report), and the partners' webhook type."""

    recipients: dict[int, str] = field(default_factory=dict)
    about: dict[int, Issue] = field(default_factory=dict)
    webhook_type: str | None = None
    # The issue as the partner app acting through a user may see it (the API's representation).
    partner_issue: Callable[..., dict] | None = None
    # (Notice, payload) for the followers of the issue's area (notifications.alerts), or None: public issues only.
    area_alert: tuple[str, dict] | None = None


def audience_for(event: Event, *, node_staff: Callable[..., list[int]] = node_staff_ids) -> Audience:
    """Return who hears of `event`: its recipients, the reporters of duplicates, and the partners' webhook type.

    `node_staff(path=…, roles=…)` answers who holds roles at or above a node: node_staff_ids, or for a batch of
    events orgs.scoping.node_staff_lookup read once for all of them (the same answer, one query).
    """
    recipients = recipients_for(event, node_staff=node_staff)
    about: dict[int, Issue] = {}
    issue = event.issue
    if event.to_status == S.REJECTED and issue.duplicate_of_id:
        about.update({uid: issue.duplicate_of for uid, kind in recipients.items() if kind == Notice.DUPLICATE_LINKED})
    if event.to_status == S.RESOLVED and event.from_status != S.RESOLVED:
        for uid, duplicate in _duplicate_reporters(issue, already=set(recipients) | {event.actor_id}).items():
            recipients[uid], about[uid] = Notice.DUPLICATE_RESOLVED, duplicate
    webhook_type = webhook_type_for(event)
    return Audience(
        recipients=recipients,
        about=about,
        webhook_type=webhook_type,
        partner_issue=partner_issue_data if webhook_type else None,
        area_alert=area_alert_for(event),
    )


def area_alert_for(event: Event) -> tuple[str, dict] | None:
    """Return what the followers of the issue's area hear of `event`, or None: a public issue (issues.publicity)
    that became public (classified, or put back by staff) or was resolved, told in public words only."""
    issue = event.issue
    if not is_public(issue):
        # Made private or rejected after it was announced: what still waits for a daily digest is withdrawn.
        return (Notice.AREA_WITHDRAWN, {}) if event.action in (A.SET_PRIVACY, A.REJECT) else None
    if event.action == A.CLASSIFY or (event.action == A.SET_PRIVACY and not (event.data or {}).get("private")):
        kind, note = Notice.AREA_NEW, ""
    elif event.action == A.RESOLVE:
        kind, note = Notice.AREA_RESOLVED, public_text(event.note)
    else:
        return None
    payload = {
        "number": issue.number,
        "category": issue.category.name if issue.category_id else "",
        "grid": issue.grid.name,
        "summary": public_summary(issue),
        "note": note,
        "board_path": reverse("public-board", kwargs={"code": issue.community_code}),
    }
    return kind, payload


def recipients_for(event: Event, *, node_staff: Callable[..., list[int]] = node_staff_ids) -> dict[int, str]:
    """Return {user id: Notice} of the people who hear about `event` (never its actor).

    Read from the change itself (the action, the from/to status, the issue's dispatches and level).
    """
    issue, action, data = event.issue, event.action, event.data or {}
    before, after = event.from_status, event.to_status
    heard: dict[int, str] = {}

    def _node_staff(issue: Issue, roles) -> list[int]:
        return node_staff(path=issue.area_path, roles=roles)

    def add(user_ids, kind):
        for uid in user_ids:
            if uid is not None and uid != event.actor_id:
                heard.setdefault(uid, kind)

    reporter = [issue.reporter_user_id] if issue.reporter_user_id else []
    reopened = before in (S.RESOLVED, S.CLOSED) and after == S.DISPATCHED
    rated_unsatisfied = action == A.RATE and reopened

    # The reporter: accepted, resolved, closed, rejected, reopened.
    if after and after != before:
        reporter_kind = Notice.REOPENED if reopened else REPORTER_NOTICES.get(after)
        if reporter_kind:
            add(reporter, reporter_kind)
    if after == S.REJECTED and issue.duplicate_of_id and issue.duplicate_of.reporter_user_id:
        add([issue.duplicate_of.reporter_user_id], Notice.DUPLICATE_LINKED)

    # Community staff of the scope: new submission, returned work, unsatisfied rating.
    if action == A.SUBMIT:
        add(_node_staff(issue, [Role.COMMUNITY_STAFF]), Notice.SUBMITTED)
    if action == A.RETURN:
        add(_node_staff(issue, [Role.COMMUNITY_STAFF]), Notice.RETURNED)
    if rated_unsatisfied:
        add(_node_staff(issue, [Role.COMMUNITY_STAFF]), Notice.RATED_UNSATISFIED)

    # Dispatched departments: dispatch (and a reopened issue back on their desk), summons, reminders.
    if after == S.DISPATCHED and before != after:
        add(_department_staff(_active_department_ids(issue)), Notice.REOPENED if reopened else Notice.DISPATCHED)
    if action == A.ESCALATE:
        # The departments the street office summoned (none when the sweep escalates an overdue issue).
        add(_department_staff(data.get("department_ids", [])), Notice.SUMMONED)
        level = data.get("to_level", issue.escalation_level)
        add(_node_staff(issue, ESCALATION_ROLES.get(level, [])), Notice.ESCALATED)
    if action in REMINDERS:
        add(data.get("user_ids", []), REMINDERS[action])

    # 督办: the departments working on it and the community staff; a refused request: the department that asked.
    if action == A.SUPERVISE:
        add(_department_staff(_active_department_ids(issue)), Notice.SUPERVISED)
        add(_node_staff(issue, [Role.COMMUNITY_STAFF]), Notice.SUPERVISED)
    if action == A.REFUSE_EXTENSION and data.get("department_id"):
        add(_department_staff([data["department_id"]]), Notice.EXTENSION_REFUSED)

    # Street officers: an extension request waiting for their approval.
    if action == A.EXTEND and issue.extensions.filter(status=ExtensionRequest.Status.PENDING).exists():
        add(_node_staff(issue, [Role.STREET_OFFICER]), Notice.EXTENSION_REQUESTED)
    return heard


def webhook_type_for(event: Event) -> str | None:
    """Return the webhook event type of `event` (API.md "Webhooks"), or None when partners do not hear of it."""
    if event.action == A.SUBMIT:
        return WebhookType.CREATED
    if event.action == A.ESCALATE:
        return WebhookType.ESCALATED
    if event.to_status and event.from_status != event.to_status:
        return WebhookType.STATUS_CHANGED
    return None


# How a partner app sees an issue is the API's representation. The API layer hands it in when the issues app is
# ready (issues.apps.IssuesConfig.ready → partner_representation_set), so this module, below the API, imports nothing
# of it.
_partner_representation: Callable[..., dict] | None = None
_partner_representations: Callable[..., list[dict]] | None = None


def partner_representation_set(representation: Callable[..., dict], *, many: Callable | None = None) -> None:
    """Set the function `(issue, viewer) -> dict` that renders an issue as the partner app `viewer` sees it, and
    `many(issues, viewer) -> [dict, …]` that renders many at once the same way (default: one at a time)."""
    global _partner_representation, _partner_representations
    _partner_representation = representation
    _partner_representations = many or (lambda issues, viewer: [representation(issue, viewer) for issue in issues])


def partner_issue_data(*, issue: Issue, viewer) -> dict:
    """Return the issue as the partner app acting through `viewer` sees it in the API (the API's representation).

    Read afresh from the database (the caller's copy may hold stale prefetched rows), plus `external_id`, the
    partner's own reference. It is built when the event happens and stored, so every retry sends the same bytes.
    """
    if _partner_representation is None:
        raise RuntimeError("issues.api has not handed in the partner representation (IssuesConfig.ready)")
    fresh = (
        Issue.objects.select_related("category")
        .prefetch_related("dispatches__department", "ratings", "photos")
        .get(pk=issue.pk)
    )
    return {**_partner_representation(fresh, viewer), "external_id": fresh.external_id}


def partner_issues_data(*, issues, viewer) -> dict:
    """Return {issue pk: partner_issue_data(issue=…, viewer=…)} for many issues, read afresh in one go (a sweep's)."""
    if _partner_representations is None:
        raise RuntimeError("issues.api has not handed in the partner representation (IssuesConfig.ready)")
    fresh = list(
        Issue.objects.select_related("category")
        .prefetch_related("dispatches__department", "ratings", "photos")
        .filter(pk__in=[issue.pk for issue in issues])
    )
    bodies = _partner_representations(fresh, viewer)
    return {issue.pk: {**body, "external_id": issue.external_id} for issue, body in zip(fresh, bodies, strict=True)}


def _duplicate_reporters(issue: Issue, *, already: set) -> dict[int, Issue]:
    """Return {user id: their duplicate} for the reporters of duplicates of `issue` not told already, one each.

    The reporters of duplicates hear the outcome of the report theirs was joined to (DESIGN.md "Duplicates"), each
    about their own report. Partner apps' service users hear through webhooks; inactive accounts hear nothing.
    """
    duplicates = (
        issue.duplicates.filter(
            reporter_user__isnull=False, reporter_user__is_active=True, reporter_user__partner_app__isnull=True
        )
        .exclude(reporter_user_id__in=[uid for uid in already if uid is not None])
        .only("pk", "reporter_user_id")
    )
    told: dict[int, Issue] = {}
    for duplicate in duplicates:
        told.setdefault(duplicate.reporter_user_id, duplicate)
    return told


def _department_staff(department_ids) -> list[int]:
    return department_staff_ids(department_ids=department_ids)


def _active_department_ids(issue: Issue, **filters) -> list[int]:
    return list(issue.dispatches.filter(active=True, **filters).values_list("department_id", flat=True))
