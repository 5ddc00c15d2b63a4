"""The issue and what hangs off it: categories, dispatches, events, ratings, photos, extensions."""

import datetime
import uuid
from enum import StrEnum
from functools import reduce
from operator import or_

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from grids.models import subtree_q
from orgs.scoping import scope_for_user


class Kind(models.TextChoices):
    """The five kinds of 12345 practice."""

    CONSULTATION = "consultation", _("consultation")
    SUGGESTION = "suggestion", _("suggestion")
    HELP = "help", _("help")
    COMPLAINT = "complaint", _("complaint")
    REPORT = "report", _("report")


class Category(models.Model):
    """A kind of problem, with the department that handles it and its time limits."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("parent")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.COMPLAINT)
    department = models.ForeignKey(
        "orgs.Department",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="categories",
        verbose_name=_("department"),
    )
    # Accept within this many hours of classification; resolve within this many working days.
    response_hours = models.PositiveIntegerField(_("response hours"), default=24)
    resolution_workdays = models.PositiveIntegerField(_("resolution working days"), default=5)
    # Urgent items: feedback the same day.
    urgent_response_hours = models.PositiveIntegerField(_("urgent response hours"), default=2)
    urgent_resolution_workdays = models.PositiveIntegerField(_("urgent resolution working days"), default=1)
    # Open311 service-definition attributes: [{"code", "datatype", "description", "required", "values"}].
    attributes = models.JSONField(_("attributes"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["code"]

    def __str__(self):
        return f"{self.name} ({self.code})"


def issue_visibility_q(user) -> Q:
    """Return the filter for the issues `user` may see: the one visibility rule, on their scope (orgs.scoping).

    A resident or partner app: what they reported. Node roles: everything under their nodes.
    Department staff: what was dispatched to their departments. Nobody signed in: nothing.
    """
    scope = scope_for_user(user)
    if scope.user_id is None:
        return Q(pk__in=[])
    parts = [Q(reporter_user_id=scope.user_id)]
    parts += [subtree_q("area_path", path) for path in sorted({p for _, p in scope.node_roles})]
    if scope.department_ids:
        # Dispatch is defined below; the name is read when the filter is built, not at import.
        dispatched = Dispatch.objects.filter(issue_id=OuterRef("pk"), department_id__in=scope.department_ids)
        parts.append(Q(Exists(dispatched)))
    return reduce(or_, parts)


class IssueQuerySet(models.QuerySet):
    def visible_to(self, user) -> "IssueQuerySet":
        """Return the issues `user` may see (issue_visibility_q)."""
        return self.filter(issue_visibility_q(user))

    def under(self, area) -> "IssueQuerySet":
        """Return the issues at or under the territory node `area`."""
        return self.filter(subtree_q("area_path", area.path))


# The statuses in which each deadline still runs: the response deadline until the lead department accepts, the
# resolution deadline until the issue is resolved. The one definition, used by Issue's partial indexes, the overdue
# filter (issues.sla.overdue_q) and the escalation sweep; module level because Issue.Meta cannot see Issue's body.
DEADLINE_STATUSES = {
    "response": ("classified", "dispatched"),
    "resolution": ("classified", "dispatched", "in_progress"),
}
# What ends a deadline for good: the lead's first acceptance ends the response deadline (on time or late, it is
# answered), so an issue reopened to its departments later is not overdue on it. A reopened issue is not resolved:
# its resolution deadline runs again.
DEADLINE_ENDED_BY = {"response": "accepted_at"}


def escalation_running_q(deadline: str) -> Q:
    """Return the filter for issues whose `deadline` still runs (its status; for the response deadline, no acceptance).

    The escalation sweep's candidates, minus "due before now" (which an index condition cannot hold) and minus "not
    escalated for this value yet" (EscalationMark, anti-joined): the partial indexes `issue_<deadline>_escalation` carry
    exactly this condition. Nothing the sweep changes on the issue row (escalation_level, version, updated_at) is in
    any index, so its updates are HOT: they write no index entry.
    """
    q = Q(status__in=list(DEADLINE_STATUSES[deadline]))
    ended_by = DEADLINE_ENDED_BY.get(deadline)
    if ended_by:
        q &= Q(**{f"{ended_by}__isnull": True})
    return q


class Issue(models.Model):
    """One report, from submission to closing; only issues.workflow changes its status."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("submitted")  # waiting for community triage
        CLASSIFIED = "classified", _("classified")  # category and deadlines set, not yet dispatched
        DISPATCHED = "dispatched", _("dispatched")  # sent to departments, waiting for the lead to accept
        IN_PROGRESS = "in_progress", _("in progress")  # the lead department accepted (报到)
        RESOLVED = "resolved", _("resolved")  # handled, waiting for the reporter's rating
        CLOSED = "closed", _("closed")  # rated satisfied, or closed unrated after the waiting days
        REJECTED = "rejected", _("rejected")  # invalid, duplicate or out of scope

    OPEN_STATUSES = (Status.SUBMITTED, Status.CLASSIFIED, Status.DISPATCHED, Status.IN_PROGRESS)
    # {"response": statuses, "resolution": statuses}: where each deadline still runs (see DEADLINE_STATUSES above).
    DEADLINE_STATUSES = DEADLINE_STATUSES
    DEADLINE_ENDED_BY = DEADLINE_ENDED_BY

    class RejectReason(models.TextChoices):
        INVALID = "invalid", _("invalid")
        DUPLICATE = "duplicate", _("duplicate")
        OUT_OF_SCOPE = "out_of_scope", _("out of scope")

    class Channel(models.TextChoices):
        """How the report reached us (shown on the issue, filtered on, counted in statistics)."""

        WEB = "web", _("web form")  # a resident (or anyone) on the web form
        PARTNER = "partner", _("partner app")  # a partner app's API (WeChat mini-program, …)
        OPEN311 = "open311", _("Open311")  # a GeoReport v2 client
        HOTLINE = "hotline", _("hotline")  # a 12345 call, taken by a hotline operator or the hotline's system
        PATROL = "patrol", _("grid patrol")  # found by a grid worker or leader on patrol
        ON_BEHALF = "on_behalf", _("on behalf")  # staff (a building leader, a grid worker) for a resident

    class EscalationLevel(models.IntegerChoices):
        COMMUNITY = 0, _("community")
        STREET = 1, _("street")
        DISTRICT = 2, _("district")

    class ClosedHow(models.TextChoices):
        RATED = "rated", _("rated")  # the reporter rated the result satisfied
        AUTO_CLOSED = "auto_closed", _("auto-closed")  # unrated after GRIDDESK_AUTO_CLOSE_DAYS

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Found by the whole number (unique index): the pattern index Django adds beside a unique CharField on PostgreSQL
    # is dropped (issues/migrations/0024): nothing matches numbers by prefix, and `q` reads the trigram index.
    number = models.CharField(_("number"), max_length=24, unique=True, editable=False)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.SUBMITTED)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.COMPLAINT)
    # No index of its own: issue_category_created leads with it (every create wrote an entry in both).
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, null=True, blank=True, related_name="issues", db_index=False
    )
    urgent = models.BooleanField(_("urgent"), default=False)
    title = models.CharField(_("title"), max_length=200, blank=True)
    description = models.TextField(_("description"))
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)

    # Where it is: the grid (always) and building (optional), and their codes copied for scoped queries.
    grid = models.ForeignKey("grids.Area", on_delete=models.PROTECT, related_name="grid_issues")
    building = models.ForeignKey(
        "grids.Area", on_delete=models.PROTECT, null=True, blank=True, related_name="building_issues"
    )
    area_path = models.CharField(max_length=160, editable=False)
    district_code = models.CharField(max_length=6, editable=False)
    street_code = models.CharField(max_length=9, editable=False)
    community_code = models.CharField(max_length=12, editable=False)
    grid_code = models.CharField(max_length=24, editable=False)
    building_code = models.CharField(max_length=24, blank=True, editable=False)

    # Who reported: the account that submitted (a resident, staff on patrol, a partner app's user) and the
    # person it is about (name and phone as given; masked for everyone but the reporter and handlers).
    # No index of its own: issue_reporter and issue_external_id lead with it.
    reporter_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reported_issues",
        db_index=False,
    )
    reporter_name = models.CharField(_("reporter name"), max_length=60, blank=True)
    reporter_phone = models.CharField(_("reporter phone"), max_length=20, blank=True)
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.WEB)

    escalation_level = models.PositiveSmallIntegerField(
        choices=EscalationLevel.choices, default=EscalationLevel.COMMUNITY
    )
    response_due_at = models.DateTimeField(_("response deadline"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution deadline"), null=True, blank=True)

    duplicate_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="duplicates")
    reject_reason = models.CharField(max_length=12, choices=RejectReason.choices, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    # How it closed (ClosedHow); blank while it is open.
    closed_how = models.CharField(max_length=12, choices=ClosedHow.choices, blank=True)
    # Staff keep it off every public list (the board, Open311's keyless list, area alerts): issues.publicity.
    # Changed only by issues.workflow.issue_set_privacy, with its event.
    private = models.BooleanField(_("private"), default=False)
    retained_until = models.DateTimeField(null=True, blank=True, editable=False)
    personal_data_removed_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    classified_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Optimistic concurrency: every change bumps it; a caller's stale version gets 409 stale_version.
    version = models.PositiveIntegerField(default=1)

    objects = IssueQuerySet.as_manager()

    class Meta:
        verbose_name = _("issue")
        verbose_name_plural = _("issues")
        ordering = ["-created_at", "-id"]
        indexes = [
            # Scoped lists and statistics: "everything under node X" is a prefix match on the path.
            models.Index(fields=["area_path"], name="issue_area_path", opclasses=["varchar_pattern_ops"]),
            # Cursor pagination of lists, newest first.
            models.Index(fields=["-created_at", "-id"], name="issue_created"),
            # A resident's "my reports".
            models.Index(fields=["reporter_user", "-created_at"], name="issue_reporter"),
            # Status filters and per-status counts.
            models.Index(fields=["status", "created_at"], name="issue_status_created"),
            # The desks' tab counts over a scope's open issues (Issue.OPEN_STATUSES): read from this index alone
            # (path, status, and what the visibility rule and COUNT read), never from the rows.
            models.Index(
                fields=["area_path", "status"],
                name="issue_open_area",
                opclasses=["varchar_pattern_ops", ""],
                include=["reporter_user", "id"],
                condition=Q(status__in=["submitted", "classified", "dispatched", "in_progress"]),
            ),
            # The escalation sweep, the overdue filter and the statistics' live part: issues whose deadline still runs
            # (escalation_running_q, the same filter as issues.sla.deadline_running_q), with their id so the
            # candidate read, anti-joined with EscalationMark, reads the index alone, and their created_at, which
            # each chunk names so that a table partitioned by month reads only its months (issues.escalation).
            # Nothing an escalation changes is in the condition (the marks live in their own table): escalations
            # are HOT updates.
            models.Index(
                fields=["response_due_at"],
                name="issue_response_escalation",
                include=["id", "created_at"],
                condition=escalation_running_q("response"),
            ),
            models.Index(
                fields=["resolution_due_at"],
                name="issue_resolution_escalation",
                include=["id", "created_at"],
                condition=escalation_running_q("resolution"),
            ),
            # Statistics' live part (issues.stats.due_running_q): a resolution deadline that passed in the other open
            # statuses (issues.figures.OTHER_OPEN_STATUSES: submitted), beside issue_resolution_escalation.
            models.Index(
                fields=["resolution_due_at"], name="issue_resolution_due_other", condition=Q(status="submitted")
            ),
            # Auto-close of unrated resolved issues.
            models.Index(fields=["resolved_at"], name="issue_resolved_waiting", condition=Q(status="resolved")),
            # Likely duplicates: open issues of one category, recent first.
            models.Index(fields=["category", "created_at"], name="issue_category_created"),
            # Partner apps find their own issues by their id.
            models.Index(fields=["reporter_user", "external_id"], name="issue_external_id"),
            # Retention sweep: closed issues whose personal data is still there.
            models.Index(
                fields=["closed_at"], name="issue_retention", condition=Q(personal_data_removed_at__isnull=True)
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class EscalationMark(models.Model):
    """Remember a deadline value an issue escalated for: a deadline escalates once per value, however many sweeps run.

    Kept out of the issue row on purpose: a marker there sat in the sweep's partial index conditions, so every
    escalation was a non-HOT update writing an entry into each of the issue table's two dozen indexes. A changed
    deadline (an extension, a reopening) has a new value, so it escalates again. Only issues.workflow writes marks.
    """

    class Deadline(models.TextChoices):
        RESPONSE = "response", _("response deadline")
        RESOLUTION = "resolution", _("resolution deadline")

    pk = models.CompositePrimaryKey("issue_id", "deadline", "due_at")
    # The primary key leads with issue_id and serves every lookup by issue: an index of its own would cost each
    # escalation one more entry (a sweep writes 10,000), at a random place of a large index.
    # No database check of the key either: a mark is written with its escalation's event, in the transaction holding
    # the issue's row, and the events' key keeps an issue with events from ever being deleted; the check was a lookup
    # and a row lock of the issue per escalation at commit.
    issue = models.ForeignKey(
        Issue, on_delete=models.CASCADE, related_name="escalation_marks", db_index=False, db_constraint=False
    )
    deadline = models.CharField(max_length=10, choices=Deadline.choices)
    due_at = models.DateTimeField()

    class Meta:
        verbose_name = _("escalation mark")
        verbose_name_plural = _("escalation marks")

    def __str__(self):
        return f"{self.issue_id} {self.deadline} {self.due_at.isoformat()}"


class EscalationHorizon(models.Model):
    """How far back the escalation sweep must read: one row, written by each sweep (issues.escalation).

    Without it every minute's sweep read every running deadline that ever passed and anti-joined their marks, so its
    cost grew with the backlog of overdue issues already escalated (170,000 at 10 M issues: 0.2–0.3 s a minute), not
    with what changed. `covered_until`: every running deadline that had passed before it, as the sweep read the
    database, was escalated; `full_read_at`: when a sweep last read every running deadline (the backstop for a change
    that reached the database without an event).
    """

    name = models.CharField(primary_key=True, max_length=20)
    covered_until = models.DateTimeField()
    full_read_at = models.DateTimeField()

    class Meta:
        verbose_name = _("escalation sweep horizon")
        verbose_name_plural = _("escalation sweep horizons")

    def __str__(self):
        return f"{self.name} {self.covered_until.isoformat()}"


class IssueCounter(models.Model):
    """Hand out the daily sequence behind issue numbers (GD-YYYYMMDD-NNNNN)."""

    day = models.DateField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.day}: {self.last}"


class Dispatch(models.Model):
    """Send an issue to a department; several at once for joint handling, one of them the lead."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")  # waiting for the department to accept (报到)
        ACCEPTED = "accepted", _("accepted")
        RETURNED = "returned", _("returned")  # misrouted; sent back with a reason

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="dispatches")
    department = models.ForeignKey("orgs.Department", on_delete=models.PROTECT, related_name="dispatches")
    lead = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Only the current round counts; a return or a new dispatch retires the old rows (kept for history).
    active = models.BooleanField(default=True)
    summoned = models.BooleanField(default=False, help_text="Summoned by the street office (吹哨).")
    note = models.TextField(blank=True)
    return_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("dispatch")
        verbose_name_plural = _("dispatches")
        ordering = ["-lead", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["issue", "department"], condition=Q(active=True), name="dispatch_one_active_per_department"
            ),
            models.UniqueConstraint(fields=["issue"], condition=Q(active=True, lead=True), name="dispatch_one_lead"),
        ]
        indexes = [
            # A department's queue: what was dispatched to it (scoping for department staff).
            models.Index(fields=["department", "issue"], name="dispatch_department"),
        ]

    def __str__(self):
        return f"{self.issue} → {self.department.code}"


class EventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Events are append-only: they are never updated.")

    def delete(self):
        raise TypeError("Events are append-only: they are never deleted.")


class Event(models.Model):
    """Record one thing that happened to an issue; append-only (also enforced by a PostgreSQL trigger).

    Written only through issues.events.event_record, which also writes who hears of it.
    """

    class Action(models.TextChoices):
        # The actions of API.md, one per workflow function (issues.workflow.rules.TRANSITIONS).
        SUBMIT = "submit", _("submit")
        CLASSIFY = "classify", _("classify")
        DISPATCH = "dispatch", _("dispatch")
        ACCEPT = "accept", _("accept")
        RETURN = "return", _("return")
        RESOLVE = "resolve", _("resolve")
        RATE = "rate", _("rate")
        REOPEN = "reopen", _("reopen")
        REJECT = "reject", _("reject")
        ESCALATE = "escalate", _("escalate")
        EXTEND = "extend", _("extend")
        APPROVE_EXTENSION = "approve_extension", _("approve extension")
        COMMENT = "comment", _("comment")
        REFUSE_EXTENSION = "refuse_extension", _("refuse extension")
        SUPERVISE = "supervise", _("supervise")
        # Staff keep an issue off the public lists, or put it back (issues.publicity).
        SET_PRIVACY = "set_privacy", _("set privacy")
        # The system's own: auto-close (issues.workflow.system), deadline reminders (issues.reminders), removal of
        # personal data after the retention period (issues.retention).
        AUTO_CLOSE = "auto_close", _("auto-close")
        REMIND_RESPONSE = "remind_response", _("response deadline reminder")
        REMIND_RESOLUTION = "remind_resolution", _("resolution deadline reminder")
        RETENTION = "retention", _("personal data removed")

    issue = models.ForeignKey(Issue, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Null for the system (sweeps, auto-close, retention).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=30, choices=Action.choices)
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12, blank=True)
    note = models.TextField(blank=True)
    internal = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["at", "id"]
        indexes = [
            # Statistics by action over a period (response: accept events).
            models.Index(fields=["action", "at"], name="event_action_at"),
        ]

    def __str__(self):
        return f"{self.issue} {self.action} {self.from_status}→{self.to_status}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Events are append-only: they are never updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Events are append-only: they are never deleted.")


class Notice(StrEnum):
    """What a person is told of an event: the kind of their notification (issues.audience decides who hears which;
    notifications.messages holds the words of each)."""

    SUBMITTED = "issue.submitted"  # community staff: a new report to triage
    RETURNED = "issue.returned"  # community staff: a department sent it back
    RATED_UNSATISFIED = "issue.rated_unsatisfied"  # community staff: the reporter was not satisfied
    DISPATCHED = "issue.dispatched"  # department staff: on their desk
    SUMMONED = "issue.summoned"  # department staff: summoned by the street office (吹哨)
    REOPENED = "issue.reopened"  # the reporter and the departments: open again
    ACCEPTED = "issue.accepted"  # the reporter: a department is handling it
    RESOLVED = "issue.resolved"  # the reporter: please rate
    CLOSED = "issue.closed"  # the reporter
    REJECTED = "issue.rejected"  # the reporter
    DUPLICATE_LINKED = "issue.duplicate_linked"  # the original's reporter: another report was joined to theirs
    DUPLICATE_RESOLVED = "issue.duplicate_resolved"  # each duplicate's reporter: the original is resolved
    ESCALATED = "issue.escalated"  # the street officers (level 1) or district admins (level 2)
    EXTENSION_REQUESTED = "issue.extension_requested"  # street officers: a request waiting for approval
    EXTENSION_REFUSED = "issue.extension_refused"  # the department that asked: the street office said no
    SUPERVISED = "issue.supervised"  # the departments on it and the community staff: the street office supervises
    REMINDER_RESPONSE = "reminder.response"  # the holders: accept before the response deadline
    REMINDER_RESOLUTION = "reminder.resolution"  # the holders: resolve before the resolution deadline
    # Area alerts (notifications.alerts): followers of a grid, community or street, of public issues only.
    AREA_NEW = "area.new"  # a new public issue there
    AREA_RESOLVED = "area.resolved"  # a public issue there was resolved
    AREA_DIGEST = "area.digest"  # the day's alerts of one subscription, in one message
    AREA_WITHDRAWN = "area.withdrawn"  # not a message: the issue stopped being public, drop its waiting alerts
    HOTSPOT_RAISED = "hotspot.raised"  # the street officers: a burst of similar reports in one grid (triage.hotspots)


class WebhookType(StrEnum):
    """The event types a partner app's webhook endpoint subscribes to (API.md "Webhooks")."""

    CREATED = "issue.created"
    STATUS_CHANGED = "issue.status_changed"
    ESCALATED = "issue.escalated"
    HOTSPOT_RAISED = "hotspot.raised"  # a burst of similar reports in one grid (triage.hotspots), once per alert
    HOTSPOT_CLOSED = "hotspot.closed"  # all the issues of a hot spot have ended (triage.hotspots), once per alert


class Rating(models.Model):
    """The reporter's score of a resolution: 3–5 satisfied (closes), 1–2 unsatisfied (reopens)."""

    SATISFIED_MIN = 3

    class Via(models.TextChoices):
        REPORTER = "reporter", _("the reporter's account")
        FOLLOW = "follow", _("the follow page (number and phone)")  # a reporter without an account, or by phone
        RETURN_VISIT = "return_visit", _("a return visit")  # staff recorded what the caller said (回访)

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="ratings")
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    # The reporter's account; null when the reporter rated by phone or on a return visit (the event names who).
    rated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # db_default too: rows written by raw SQL (bench) or by code that predates the column are the reporter's own.
    via = models.CharField(max_length=12, choices=Via.choices, default=Via.REPORTER, db_default=Via.REPORTER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="rating_score_1_5")]
        indexes = [models.Index(fields=["created_at"], name="rating_created")]

    @property
    def satisfied(self) -> bool:
        return self.score >= self.SATISFIED_MIN

    def __str__(self):
        return f"{self.issue_id}: {self.score}"


def photo_upload_to(photo, filename):
    return f"issues/{photo.issue_id}/{uuid.uuid4().hex}.{photo.format.lower()}"


class Photo(models.Model):
    """A re-encoded photo of an issue (EXIF removed), taken before (with the report) or after (with the result)."""

    class Stage(models.TextChoices):
        REPORT = "report", _("before")  # sent with the report, or added while it is handled
        RESOLUTION = "resolution", _("after")  # sent with the resolution: the result

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="photos")
    # db_default too: rows written by raw SQL (bench) or by code that predates the column are "before" photos.
    stage = models.CharField(
        _("stage"), max_length=10, choices=Stage.choices, default=Stage.REPORT, db_default=Stage.REPORT
    )
    image = models.FileField(upload_to=photo_upload_to)
    format = models.CharField(max_length=8)  # JPEG, PNG, WEBP
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.image.name


class ExtensionRequest(models.Model):
    """A request to move the resolution deadline (延期), approved by the street office."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="extensions")
    workdays = models.PositiveSmallIntegerField()
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey("orgs.Department", on_delete=models.PROTECT, null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    old_due_at = models.DateTimeField(null=True, blank=True)
    new_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["issue"], condition=Q(status="pending"), name="extension_one_pending")
        ]

    def __str__(self):
        return f"{self.issue_id} +{self.workdays} ({self.status})"


class CalendarDay(models.Model):
    """Say whether one date is a working day, overriding chinesecalendar (issues.sla reads these first).

    Operators fill it when the State Council publishes a year's holidays and swapped working days (调休) that the
    installed chinesecalendar does not know yet (see docs/calendar.md).
    """

    date = models.DateField(_("date"), unique=True)
    is_workday = models.BooleanField(_("working day"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["date"]

    def __str__(self):
        return f"{self.date.isoformat()} {'working day' if self.is_workday else 'day off'}"


class IdempotencyRecord(models.Model):
    """Remember a create request by (caller, Idempotency-Key) for 24 hours, to answer a retry the same way."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key")]

    def __str__(self):
        return f"{self.user_id}:{self.key}"


def export_upload_to(job, filename):
    return f"exports/{job.pk}/{filename}"


class ExportJob(models.Model):
    """Record one export of issues: who, when, which filters, which format, masked or not, how many rows.

    Every export writes one, whether answered in the request (`direct`) or run as a job (issues.exports), so that
    district admins can see who took which personal data out. A job's file expires (GRIDDESK_EXPORT_FILE_DAYS).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    file_format = models.CharField(_("format"), max_length=4)
    lang = models.CharField(max_length=2, default="zh")
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    masked = models.BooleanField(_("masked"), default=True)
    direct = models.BooleanField(_("answered directly"), default=False)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to=export_upload_to, blank=True, max_length=200)
    expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.requested_by_id} {self.file_format} {self.created_at:%Y-%m-%d %H:%M}"


def _count():
    # Signed: a refresh adds and subtracts in one upsert; a consistent table never goes below 0.
    return models.IntegerField(default=0)


class StatsRollup(models.Model):
    """Counts of the issues created on one local day (or month) in one area, category and channel (issues.rollups).

    The leaf rows (day × the issue's own grid or building path × category × channel) are the truth that each issue's
    StatsEntry points at. The other rows are the same counts summed up the tree, by day and by month, each for what
    a large scope reads: a street's and a district's per-category rows (all channels: channel ""), per-channel rows
    (all categories: category -1), and the community and street rows of all categories and channels (a street's and
    a district's children). Only issues.rollups writes them; issues.stats reads them. None of the figures here depends
    on the time of reading: what does (overdue, deadlines passed) is DeadlineRollup's, plus today's deadlines live.
    """

    class Grain(models.TextChoices):
        DAY = "day", _("day")
        MONTH = "month", _("month")
        # The /stats/ page's kinds and weekly trend (issues.rollups): a community's, street's or district's issues
        # created on `period`, one row per kind (resolved_on NO_DAY) and one per resolution day (kind "").
        TREND = "trend", _("trend")

    class Level(models.TextChoices):
        LEAF = "leaf", _("leaf")  # the issue's own node (grid or building): all five codes
        COMMUNITY = "community", _("community")  # path and codes down to the community
        STREET = "street", _("street")  # path and codes down to the street
        DISTRICT = "district", _("district")  # the district's path and code

    ALL_CATEGORIES = -1
    ALL_CHANNELS = ""
    ALL_KINDS = ""
    NO_DAY = datetime.date(1, 1, 1)  # resolved_on of every row but a trend row of a resolution day

    grain = models.CharField(max_length=5, choices=Grain.choices)
    level = models.CharField(max_length=9, choices=Level.choices)
    period = models.DateField()  # the local day, or the first day of the month
    area_path = models.CharField(max_length=160)
    district_code = models.CharField(max_length=6)
    street_code = models.CharField(max_length=9)
    community_code = models.CharField(max_length=12, blank=True)
    grid_code = models.CharField(max_length=24, blank=True)
    building_code = models.CharField(max_length=24, blank=True)
    # The category's id, 0 for unclassified (a unique key wants no NULL), ALL_CATEGORIES for a row of every category.
    category_pk = models.IntegerField()
    channel = models.CharField(max_length=10, blank=True)  # "" (ALL_CHANNELS): a row of every channel
    kind = models.CharField(max_length=12, blank=True, default="", db_default="")  # trend rows only
    resolved_on = models.DateField(default=NO_DAY, db_default=NO_DAY)  # trend rows only: the local resolution day
    # One of SLOTS copies of each row (issues.rollups): concurrent changes add to different copies instead of waiting
    # on one row's lock through each other's commit. Readers sum over them, as they sum over periods.
    slot = models.PositiveSmallIntegerField(default=0, db_default=0)

    total = _count()
    status_submitted = _count()
    status_classified = _count()
    status_dispatched = _count()
    status_in_progress = _count()
    status_resolved = _count()
    status_closed = _count()
    status_rejected = _count()
    dispatched = _count()
    responded_on_time = _count()
    accepted = _count()
    resolved = _count()
    due_resolved = _count()  # the part of `due` that time cannot change: resolved or closed, with a deadline
    resolved_on_time = _count()
    escalated = _count()
    ratings = _count()
    satisfied = _count()

    class Meta:
        verbose_name = _("statistics rollup")
        verbose_name_plural = _("statistics rollups")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    *["grain", "level", "period", "area_path", "category_pk", "channel", "kind", "resolved_on"],
                    "slot",
                ],
                name="rollup_key",
            )
        ]
        indexes = [
            # A scope's rows of one shape in a period: the path prefix, then the period.
            models.Index(
                fields=["level", "grain", "area_path", "period"],
                name="rollup_scope_period",
                opclasses=["", "", "varchar_pattern_ops", ""],
            ),
        ]

    def __str__(self):
        return f"{self.grain} {self.period} {self.area_path} {self.category_pk} {self.channel}"


class DeadlineRollup(models.Model):
    """Open issues by the local day their deadline passes, for the statistics' figures that depend on `now`.

    `overdue` and `due_running` (issues.figures.clock_terms) count an issue from the moment its earliest relevant
    deadline passes until it changes: each open issue with such a deadline counts here in rows keyed by that moment's
    local day (`due_on`), besides its creation day (or month), place, category and channel as in StatsRollup. A
    reader sums the rows of deadline days before today and counts live only the issues whose deadline falls today.
    Rows: the leaf rows (creation day × the issue's own path × category × channel, by deadline day) and, for a
    street's and a district's cuts (every channel), the community and street rows of every category and the street
    and district rows by category, by creation day and deadline day, by creation month and deadline day, and by
    creation month and deadline month (`due_grain`): a year reads a few rows per month, not one per deadline day.
    Only issues.rollups writes them; StatsEntry remembers the days an issue counts on.
    """

    grain = models.CharField(max_length=5, choices=StatsRollup.Grain.choices[:2])  # of the creation period
    level = models.CharField(max_length=9, choices=StatsRollup.Level.choices)
    period = models.DateField()  # the local creation day, or the first day of its month
    area_path = models.CharField(max_length=160)
    district_code = models.CharField(max_length=6)
    street_code = models.CharField(max_length=9)
    community_code = models.CharField(max_length=12, blank=True)
    grid_code = models.CharField(max_length=24, blank=True)
    building_code = models.CharField(max_length=24, blank=True)
    category_pk = models.IntegerField()  # as StatsRollup's: 0 unclassified, ALL_CATEGORIES every category
    channel = models.CharField(max_length=10, blank=True)  # "" every channel (every row above the leaf)
    due_grain = models.CharField(max_length=5, choices=StatsRollup.Grain.choices[:2])  # of the deadline period
    due_on = models.DateField()  # the local day the deadline passes, or the first day of its month
    slot = models.PositiveSmallIntegerField(default=0, db_default=0)  # as StatsRollup's

    overdue = _count()  # issues whose overdue deadline (the earliest running one) passes on due_on
    due_running = _count()  # open issues whose resolution deadline passes on due_on

    class Meta:
        verbose_name = _("statistics deadline rollup")
        verbose_name_plural = _("statistics deadline rollups")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    *["grain", "level", "period", "area_path", "category_pk", "channel", "due_grain", "due_on"],
                    "slot",
                ],
                name="deadline_rollup_key",
            )
        ]
        indexes = [
            # A scope's rows of one shape in a period, as rollup_scope_period; the deadline's grain and day checked in
            # the index, so the rows of other deadline days are not fetched.
            models.Index(
                fields=["level", "grain", "area_path", "period", "due_grain", "due_on"],
                name="deadline_rollup_scope",
                opclasses=["", "", "varchar_pattern_ops", "", "", ""],
            ),
        ]

    def __str__(self):
        return f"{self.grain} {self.period} {self.area_path} {self.category_pk} {self.channel} {self.due_on}"


class StatsEntry(models.Model):
    """What one issue adds to its leaf day rollup row: the row and the issue's flags (issues.rollups)."""

    # No foreign key constraint in the database: its check would take a share lock on the issue row, and a rebuild
    # (which holds the rollup tables) would then wait on a change holding that row and waiting on the tables.
    # Issues are never deleted (their events protect them); Django still cascades.
    issue = models.OneToOneField(
        Issue, on_delete=models.CASCADE, primary_key=True, related_name="stats_entry", db_constraint=False
    )
    rollup = models.ForeignKey(StatsRollup, on_delete=models.CASCADE, related_name="+")
    flags = models.PositiveIntegerField()  # one bit per issues.rollups.FLAG_KEYS
    ratings = models.PositiveSmallIntegerField()
    satisfied = models.PositiveSmallIntegerField()
    # What it adds to the trend rows: its kind, and its local resolution day while resolved or closed (else NO_DAY).
    kind = models.CharField(max_length=12, default="", db_default="")
    resolved_on = models.DateField(default=StatsRollup.NO_DAY, db_default=StatsRollup.NO_DAY)
    # The local days it counts on in DeadlineRollup (its leaf row's key otherwise), NO_DAY where it counts on none.
    overdue_on = models.DateField(default=StatsRollup.NO_DAY, db_default=StatsRollup.NO_DAY)
    due_on = models.DateField(default=StatsRollup.NO_DAY, db_default=StatsRollup.NO_DAY)

    class Meta:
        verbose_name = _("statistics entry")
        verbose_name_plural = _("statistics entries")

    def __str__(self):
        return f"{self.issue_id}: {self.flags}"


class StatsPending(models.Model):
    """A submission not counted in the statistics rollup yet (issues.rollups.rollup_fold).

    On PostgreSQL a submission writes this one row in place of its leaf row, the rows summed up the tree and its
    StatsEntry: the sixteen shared rows were the cost of a create beyond a plain insert. A fold counts it (the
    readers fold first, a Celery task every few seconds) and deletes the row; a change of the issue before that
    counts it as an issue without an entry (rollup_refresh), and the fold then finds nothing left to add.
    """

    # No foreign key constraint: the insert stays one index entry, and issues are never deleted (StatsEntry's).
    issue = models.OneToOneField(
        Issue, on_delete=models.CASCADE, primary_key=True, related_name="+", db_constraint=False
    )

    class Meta:
        verbose_name = _("submission not yet counted")
        verbose_name_plural = _("submissions not yet counted")

    def __str__(self):
        return str(self.issue_id)


class DepartmentRollup(models.Model):
    """Counts of the dispatches to one department of the issues created on one local day (or month) in one area.

    The /stats/ page's departments (issues.stats_report, 红黄榜): like StatsRollup, the leaf day rows (the issue's own
    grid or building path) are the truth each DepartmentEntry adds to, and the community, street and district rows
    by day and by month are the same counts summed up the tree, for what those scopes read. Only issues.rollups writes
    them. What depends on the time of reading (a lead's open issues past their deadline) is counted live.
    """

    grain = models.CharField(max_length=5, choices=StatsRollup.Grain.choices[:2])
    level = models.CharField(max_length=9, choices=StatsRollup.Level.choices)
    period = models.DateField()  # the local day, or the first day of the month
    area_path = models.CharField(max_length=160)
    district_code = models.CharField(max_length=6)
    street_code = models.CharField(max_length=9)
    community_code = models.CharField(max_length=12, blank=True)
    # No constraint in the database (as StatsEntry): departments with dispatches are never deleted (PROTECT there).
    department = models.ForeignKey(
        "orgs.Department", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )

    dispatched = _count()  # dispatch rows, every round
    accepted_on_time = _count()  # accepted (报到) at or before the issue's response deadline
    returned = _count()  # sent back (退单)
    # As the lead of the current round: issue_stats' flags of its issues, and their ratings.
    accepted = _count()
    resolved = _count()
    due_resolved = _count()
    resolved_on_time = _count()
    ratings = _count()
    satisfied = _count()

    class Meta:
        verbose_name = _("department statistics rollup")
        verbose_name_plural = _("department statistics rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "level", "period", "area_path", "department"], name="department_rollup_key"
            )
        ]
        indexes = [
            # A scope's rows in a period: the path prefix, then the period.
            models.Index(
                fields=["level", "grain", "area_path", "period"],
                name="department_rollup_scope",
                opclasses=["", "", "varchar_pattern_ops", ""],
            ),
        ]

    def __str__(self):
        return f"{self.grain} {self.period} {self.area_path} {self.department_id}"


class DepartmentEntry(models.Model):
    """What one issue adds to one department's leaf day DepartmentRollup row (issues.rollups)."""

    # No foreign key constraints in the database, for StatsEntry's reason.
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, db_constraint=False, related_name="+")
    department = models.ForeignKey(
        "orgs.Department", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # The leaf row it adds to: the issue's local creation day and place when it was counted.
    period = models.DateField()
    area_path = models.CharField(max_length=160)
    district_code = models.CharField(max_length=6)
    street_code = models.CharField(max_length=9)
    community_code = models.CharField(max_length=12, blank=True)
    dispatched = models.PositiveSmallIntegerField()
    accepted_on_time = models.PositiveSmallIntegerField()
    returned = models.PositiveSmallIntegerField()
    accepted = models.PositiveSmallIntegerField()
    resolved = models.PositiveSmallIntegerField()
    due_resolved = models.PositiveSmallIntegerField()
    resolved_on_time = models.PositiveSmallIntegerField()
    ratings = models.PositiveSmallIntegerField()
    satisfied = models.PositiveSmallIntegerField()
    # The issue's resolution deadline while the department leads it and it is open (else null): the part of `due`
    # that time changes is read live from here, through the index of the open ones, without joining dispatches.
    lead_due_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = _("department statistics entry")
        verbose_name_plural = _("department statistics entries")
        constraints = [models.UniqueConstraint(fields=["issue", "department"], name="department_entry_key")]
        indexes = [
            models.Index(
                fields=["lead_due_at"], name="department_entry_lead_due", condition=Q(lead_due_at__isnull=False)
            )
        ]

    def __str__(self):
        return f"{self.issue_id} → {self.department_id}"
