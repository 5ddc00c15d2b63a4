"""What the issue page shows, read for one viewer: the timeline, who acted (by role and unit), photos, deadlines.

Reads only; who may see the issue at all is decided before (orgs.scoping, or a follow grant), and internal notes
are shown to the staff handling the issue only (issues.personal_data.handles_issue, the API's rule). Staff appear by
role and unit ("社区工作者 · 金东南路社区"), never by username, to anyone but the staff handling the issue.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from issues.models import Dispatch, Event, Issue, Photo
from issues.personal_data import can_see_reporter, handles_issue, mask_name, mask_phone
from orgs.models import Membership, Role
from orgs.scoping import ancestor_paths

ACTION_LABELS = {
    "submit": _("Reported"),
    "classify": _("Classified"),
    "dispatch": _("Dispatched"),
    "accept": _("Accepted"),
    "return": _("Returned"),
    "resolve": _("Resolved"),
    "rate": _("Rated"),
    "reopen": _("Reopened"),
    "reject": _("Rejected"),
    "escalate": _("Escalated"),
    "extend": _("Extension"),
    "approve_extension": _("Extension approved"),
    "refuse_extension": pgettext_lazy("desk", "Extension refused"),
    "supervise": pgettext_lazy("desk", "Supervised"),
    "comment": _("Comment"),
    "auto_close": _("Closed without a rating"),
    "set_privacy": _("Public or private changed"),
}


def issue_page_queryset():
    """Return issues with everything the page reads, in a constant number of queries whatever their history.

    Not the ratings: the page shows a rating through its event, and no action it offers reads them.
    """
    return Issue.objects.select_related("category", "category__department", "grid", "building").prefetch_related(
        Prefetch("dispatches", queryset=Dispatch.objects.select_related("department")),
        Prefetch("events", queryset=Event.objects.select_related("actor").order_by("at", "id")),
        Prefetch("photos", queryset=Photo.objects.order_by("created_at", "id")),
    )


@dataclass(frozen=True)
class Entry:
    """One line of the timeline as the viewer may read it."""

    at: datetime
    action: str
    label: str
    actor: str
    note: str
    internal: bool
    to_status: str
    detail: str


@dataclass(frozen=True)
class Deadline:
    """A running deadline: its name, its exact time, and how far it is for people ("due in 2 days")."""

    name: str
    due_at: datetime
    phrase: str
    overdue: bool


def deadline_phrase(due_at: datetime, now: datetime) -> tuple[str, bool]:
    """Return ("due in 2 days" or "2 hours overdue", overdue?) in the largest whole unit."""
    seconds = (due_at - now).total_seconds()
    overdue, seconds = seconds < 0, abs(seconds)
    if seconds >= 86400:
        count = int(seconds // 86400)
        phrase = (
            ngettext("%(count)d day overdue", "%(count)d days overdue", count)
            if overdue
            else ngettext("due in %(count)d day", "due in %(count)d days", count)
        )
    elif seconds >= 3600:
        count = int(seconds // 3600)
        phrase = (
            ngettext("%(count)d hour overdue", "%(count)d hours overdue", count)
            if overdue
            else ngettext("due in %(count)d hour", "due in %(count)d hours", count)
        )
    else:
        count = max(1, int(seconds // 60))
        phrase = (
            ngettext("%(count)d minute overdue", "%(count)d minutes overdue", count)
            if overdue
            else ngettext("due in %(count)d minute", "due in %(count)d minutes", count)
        )
    return phrase % {"count": count}, overdue


def running_deadlines(issue: Issue, *, now: datetime | None = None) -> list[Deadline]:
    """Return the deadlines still running on `issue` (Issue.DEADLINE_STATUSES), response first."""
    now = now or timezone.now()
    names = {"response": gettext("Response deadline"), "resolution": gettext("Resolution deadline")}
    out = []
    for deadline, statuses in Issue.DEADLINE_STATUSES.items():
        due = getattr(issue, f"{deadline}_due_at")
        ended = Issue.DEADLINE_ENDED_BY.get(deadline)
        if due is None or issue.status not in statuses or (ended and getattr(issue, ended) is not None):
            continue
        phrase, overdue = deadline_phrase(due, now)
        out.append(Deadline(name=names[deadline], due_at=due, phrase=phrase, overdue=overdue))
    return out


# Set on an issue by whoever read its staff's memberships with it (issues.views.issue_page_remembered): the rows
# _unit_labels would read, as unit_rows_sql gives them.
UNIT_ROWS_ATTR = "_timeline_unit_rows"


def unit_rows_sql(vendor: str, issue_column: str) -> str:
    """Return the SQL of one JSON array of the memberships of everyone who acted on the issue `issue_column` names,
    oldest first, each [user id, role, department id, department name, area id, area name, area path]: the rows
    _unit_labels reads, for a correlated subquery on the database `vendor`."""
    membership, department = Membership._meta.db_table, Membership._meta.get_field("department").related_model
    area, event = Membership._meta.get_field("area").related_model._meta.db_table, Event._meta.db_table
    rows = (
        f"SELECT m.id AS id, m.user_id AS user_id, m.role AS role, m.department_id AS department_id,"
        f" dep.name AS department, m.area_id AS area_id, a.name AS area, a.path AS path"
        f" FROM {membership} m LEFT JOIN {department._meta.db_table} dep ON dep.id = m.department_id"
        f" LEFT JOIN {area} a ON a.id = m.area_id"
        f" WHERE m.user_id IN (SELECT e.actor_id FROM {event} e WHERE e.issue_id = {issue_column})"
    )
    values = "x.user_id, x.role, x.department_id, x.department, x.area_id, x.area, x.path"
    if vendor == "postgresql":
        return f"SELECT json_agg(json_build_array({values}))::text FROM ({rows} ORDER BY m.id) x"
    # SQLite has no ORDER BY inside an aggregate: it aggregates an ordered subquery in order.
    return f"SELECT json_group_array(json_array({values})) FROM ({rows} ORDER BY m.id) x"


def _unit_labels(issue: Issue, actor_ids: set[int]) -> dict[int, str]:
    """Return {user id: "role · unit"} for the staff among `actor_ids`, preferring the role they hold on `issue`.

    One query whatever the number of actors: their memberships with the node or department named (none when they were
    read with the issue: UNIT_ROWS_ATTR).
    """
    if not actor_ids:
        return {}
    rows = getattr(issue, UNIT_ROWS_ATTR, None)
    if rows is None:
        rows = (
            Membership.objects.filter(user_id__in=actor_ids)
            .order_by("pk")
            .values_list("user_id", "role", "department_id", "department__name", "area_id", "area__name", "area__path")
        )
    above = set(ancestor_paths(issue.area_path))
    dispatched = {d.department_id for d in issue.dispatches.all()}
    best: dict[int, tuple[int, str]] = {}
    for user_id, role, department_id, department, area_id, area, path in rows:
        if user_id not in actor_ids:
            continue
        unit = department if department_id else (area if area_id else "")
        on_issue = (department_id in dispatched) if department_id else (area_id and path in above)
        rank = 0 if on_issue else 1
        role = capfirst(Role(role).label)
        label = f"{role} · {unit}" if unit else role
        if user_id not in best or rank < best[user_id][0]:
            best[user_id] = (rank, label)
    return {uid: label for uid, (_rank, label) in best.items()}


def _detail(event: Event) -> str:
    data = event.data or {}
    parts = []
    if event.action == "rate" and "score" in data:
        parts.append(gettext("Rating: %(score)s") % {"score": data["score"]})
        if data.get("return_visit"):
            parts.append(gettext("recorded from a return visit"))
        elif data.get("via") == "follow":
            parts.append(gettext("given on the follow page"))
    if event.action == "escalate" and "to_level" in data:
        levels = dict(Issue.EscalationLevel.choices)
        parts.append(gettext("to the %(level)s") % {"level": levels.get(data["to_level"], data["to_level"])})
    return " · ".join(str(p) for p in parts)


def timeline_for(issue: Issue, *, viewer) -> list[Entry]:
    """Return the events of `issue` the viewer may read, oldest first, each actor named as the viewer may see them.

    `viewer` is a user (or None for a follower by number and phone): internal notes only for staff handling it.
    """
    handles = handles_issue(viewer, issue)
    events = [e for e in issue.events.all() if handles or not e.internal]
    units = _unit_labels(issue, {e.actor_id for e in events if e.actor_id and e.actor_id != issue.reporter_user_id})
    entries = []
    for event in events:
        if event.actor_id is None:
            data = event.data or {}
            actor = gettext("Reporter") if event.action in ("submit", "rate") and not data.get("automatic") else ""
            actor = actor or gettext("System")
        elif event.actor_id == issue.reporter_user_id:
            actor = gettext("Reporter")
        else:
            actor = units.get(event.actor_id) or gettext("Staff")
            if handles:
                actor = f"{actor} ({event.actor.get_username()})"
        entries.append(
            Entry(
                at=event.at,
                action=event.action,
                label=str(ACTION_LABELS.get(event.action, event.action.replace("_", " "))),
                actor=actor,
                note=event.note,
                internal=event.internal,
                to_status=event.to_status if event.to_status != event.from_status else "",
                detail=_detail(event),
            )
        )
    return entries


def photos_by_stage(issue: Issue) -> dict[str, list[Photo]]:
    """Return {"report": [...], "resolution": [...]}: the photos before (at report) and after (at resolve)."""
    out = {Photo.Stage.REPORT: [], Photo.Stage.RESOLUTION: []}
    for photo in issue.photos.all():
        out[photo.stage].append(photo)
    return out


def reporter_shown(issue: Issue, *, viewer, is_reporter: bool = False) -> dict:
    """Return the reporter's name and phone as the viewer may read them (unmasked for the reporter and handlers)."""
    if is_reporter or can_see_reporter(viewer, issue):
        return {"name": issue.reporter_name, "phone": issue.reporter_phone}
    return {"name": mask_name(issue.reporter_name), "phone": mask_phone(issue.reporter_phone)}


def resolution_note(issue: Issue) -> str:
    """Return the public note of the latest resolution, or ""."""
    notes = [e.note for e in issue.events.all() if e.action == "resolve" and not e.internal]
    return notes[-1] if notes else ""
