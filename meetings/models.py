"""The weekly meeting of a community or a street (说议办评): its agenda items, what was decided, and the record.

说 the agenda (the week's hard cases and staff's own items), 议 what was decided and who does it by when, 办 what
became of it (the linked issues' current states), 评 how it was judged (the issues' ratings; staff mark each item done
or carried). An item not marked done is carried into the area's next meeting, until it is. A finalised meeting is
read-only: its minutes are the record. Only meetings.services writes these rows.
"""

from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def week_label(monday: date) -> str:
    """Return the ISO week of `monday` as it appears in URLs: 2026-W49."""
    year, week, _day = monday.isocalendar()
    return f"{year}-W{week:02d}"


class Meeting(models.Model):
    """One weekly meeting of one area (a community or a street) for one ISO week."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")  # items, decisions and marks may still be recorded
        FINAL = "final", _("finalised")  # the minutes are read-only

    area = models.ForeignKey("grids.Area", on_delete=models.PROTECT, related_name="meetings", verbose_name=_("area"))
    # The Monday of the ISO week (Asia/Shanghai dates).
    week = models.DateField(_("week"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(auto_now_add=True)
    finalised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    finalised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ["-week", "area__path"]
        constraints = [
            models.UniqueConstraint(fields=["area", "week"], name="meeting_one_per_area_week"),
        ]

    def __str__(self):
        return f"{self.area_id} {week_label(self.week)}"

    @property
    def week_label(self) -> str:
        return week_label(self.week)

    @property
    def week_end(self) -> date:
        """Return the Sunday of the week."""
        return self.week + timedelta(days=6)

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class Item(models.Model):
    """One point on a meeting's agenda: a hard case, a rising category, staff's own point, or one carried forward."""

    class Source(models.TextChoices):
        CARRIED = "carried", _("carried from last meeting")  # an earlier meeting's item not yet done
        HARD_CASE = "hard_case", _("hard case of the week")  # escalated, reopened, overdue or rated 1–2
        CATEGORY = "category", _("rising category")  # a category whose intake rose most against the weeks before
        STAFF = "staff", _("raised by staff")  # free text, optionally linked to issues

    class Outcome(models.TextChoices):
        PENDING = "", _("not reviewed")
        DONE = "done", _("done")  # closes the item: it is not carried again
        CARRIED = "carried", _("carried forward")  # not done: carried into the next meeting

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(default=0)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    # Why a hard case is on the agenda: HardCase values (escalated, reopened, overdue, rated_low), in that order.
    reasons = models.JSONField(default=list, blank=True)
    # Staff's words; blank for a hard case, whose words are its issue's as they are now (heading): the minutes keep
    # no copy of a resident's text past the issue's retention (docs/privacy.md).
    title = models.CharField(_("item"), max_length=300, blank=True)
    issues = models.ManyToManyField("issues.Issue", blank=True, related_name="meeting_items", verbose_name=_("issues"))
    category = models.ForeignKey("issues.Category", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # The earlier meeting's item this one continues (the chain goes back to where it was first raised).
    carried_from = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="carried_to"
    )
    # 议: what was decided, who does it (a department or a person), by when.
    decision = models.TextField(_("decision"), blank=True)
    assignee_department = models.ForeignKey(
        "orgs.Department", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    assignee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    # 评: staff's mark at this meeting.
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices, blank=True, default="")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # null: built from the week's cases when the meeting opened
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("agenda item")
        verbose_name_plural = _("agenda items")
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.meeting} #{self.position}"

    @property
    def heading(self) -> str:
        """Return the item's words: staff's own, else its first issue's title or description (read from the
        prefetched issues: no query when the caller prefetched them)."""
        if self.title:
            return self.title
        issue = next(iter(self.issues.all()), None)
        return (issue.title or issue.description) if issue else ""

    @property
    def assignee(self) -> str:
        """Return who does it, by name: the department's, or the person's (their full name, else username)."""
        if self.assignee_department_id:
            return self.assignee_department.name
        if self.assignee_user_id:
            return self.assignee_user.get_full_name() or self.assignee_user.get_username()
        return ""


class Record(models.Model):
    """Record who wrote what into the minutes, and when; append-only, like an issue's events."""

    class Action(models.TextChoices):
        OPEN = "open", _("opened the meeting")
        REFRESH = "refresh", _("added the week's new cases")
        ADD = "add", _("added an item")
        DECIDE = "decide", _("recorded a decision")
        REVIEW = "review", _("marked an item")
        FINALISE = "finalise", _("finalised the minutes")

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="records")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, null=True, blank=True, related_name="records")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)
    at = models.DateTimeField(auto_now_add=True)
    # What was written, as it was written (the decision, the assignee's name, the due date, the mark, …).
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.meeting} {self.action} by {self.actor_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Meeting records are append-only: they are never updated.")
        super().save(*args, **kwargs)
