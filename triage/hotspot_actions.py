"""Handling a hot spot's cluster at once, through the workflow (one issue_<verb> per issue, each checked as usual).

Kept apart from triage.hotspots, which issues.events imports: this one imports issues.workflow.
"""

from django.utils.translation import gettext_noop

from config.errors import ValidationFailed, WorkflowError
from issues import workflow
from issues.models import Issue
from triage.models import HotSpot

# Rejecting as a duplicate is the workflow's from submitted or classified (issues.workflow.rules).
LINKABLE = (Issue.Status.SUBMITTED, Issue.Status.CLASSIFIED)


def _cluster(*, spot: HotSpot, actor) -> list[Issue]:
    return list(Issue.objects.visible_to(actor).filter(hotspots=spot).order_by("created_at", "pk"))


def hotspot_link_duplicates(*, spot: HotSpot, actor) -> tuple[Issue | None, list[str], list[str]]:
    """Reject every linkable issue of `spot` the actor sees as a duplicate of the oldest open one; return (the
    original, numbers done, refusals "number: message")."""
    issues = [issue for issue in _cluster(spot=spot, actor=actor) if issue.status in Issue.OPEN_STATUSES]
    if not issues:
        return None, [], []
    original, done, refused = issues[0], [], []
    for issue in issues[1:]:
        if issue.status not in LINKABLE:
            continue
        try:
            workflow.issue_reject(
                issue=issue, actor=actor, reason=Issue.RejectReason.DUPLICATE, duplicate_of=original.pk
            )
            done.append(issue.number)
        except WorkflowError as error:
            refused.append(f"{issue.number}: {error.message}")
    return original, done, refused


def hotspot_dispatch(*, spot: HotSpot, actor) -> tuple[list[str], list[str]]:
    """Dispatch every new or classified issue of `spot` the actor sees to its category's department (classifying a
    new one with the hot spot's category first, if it has one); return (numbers done, refusals "number: message")."""
    done, refused = [], []
    for issue in _cluster(spot=spot, actor=actor):
        if issue.status not in LINKABLE:
            continue
        try:
            if issue.status == Issue.Status.SUBMITTED:
                category = issue.category or spot.category  # a near-duplicate text alert has none to give
                if category is None:
                    raise ValidationFailed.on("category", gettext_noop("No category yet: classify it first."))
                issue = workflow.issue_classify(issue=issue, actor=actor, category=category)
            department = issue.category.department
            if department is None:
                raise ValidationFailed.on("category", gettext_noop("The category names no department."))
            workflow.issue_dispatch(issue=issue, actor=actor, departments=[department])
            done.append(issue.number)
        except WorkflowError as error:
            refused.append(f"{issue.number}: {error.message}")
    return done, refused
