"""The staff panel of the issue page and where each role works: what the issue page and the desks both read.

Kept apart from the desk views (issues.desk_views), which stand on the issue page's views, so that the issue page
(issues.views) can offer the panel without importing the views built on it.
"""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from issues import desk_forms as f
from issues.models import Issue
from issues.selectors import issue_likely_duplicates_for_user, issue_open_supervision
from orgs.models import SUPERVISOR_ROLES, TRIAGE_ROLES, Role
from orgs.scoping import roles_on_issue, scope_for_user
from triage.suggest import triage_suggest

DUPLICATES_OFFERED = 10

ACTION_BUTTONS = {
    "classify": _("Classify"),
    "dispatch": _("Dispatch"),
    "accept": _("Accept"),
    "return": _("Return"),
    "resolve": _("Resolve"),
    "reopen": _("Reopen"),
    "reject": _("Reject"),
    "escalate": _("Escalate"),
    "extend": _("Extend"),
    "approve_extension": _("Approve"),
    "refuse_extension": pgettext_lazy("desk", "Refuse"),
    "supervise": pgettext_lazy("desk", "Supervise"),
    "set_privacy": _("Save privacy"),
}


def desk_queues_for(user) -> list[str]:
    """Return the queues `user` works at: triage (community and grid staff, and up), department, escalations."""
    scope = scope_for_user(user)
    roles = {role for role, _ in scope.node_roles}
    queues = []
    if roles & SUPERVISOR_ROLES:
        queues.append("escalations")
    if roles & (TRIAGE_ROLES | {Role.GRID_WORKER, Role.GRID_LEADER}):
        queues.append("triage")
    if scope.department_ids:
        queues.append("department")
    return queues


def desk_url_for(user) -> str | None:
    """Return the queue `user` lands on (the street's escalations, triage, a department's work), or None."""
    queues = desk_queues_for(user)
    return reverse(f"desk-{queues[0]}") if queues else None


def staff_form(action: str, *, issue: Issue, viewer, data=None, files=None):
    """Return the form of `action` on `issue` for `viewer`, bound to `data` or blank at the issue's version."""
    kwargs = {"prefix": action}
    if data is None:
        kwargs["initial"] = {"version": issue.version}
    if action == "classify":
        suggestions = triage_suggest(issue.description, place=issue.grid) if data is None else ()
        return f.ClassifyForm(data, issue=issue, suggestions=suggestions, **kwargs)
    if action == "dispatch":
        return f.DispatchForm(data, issue=issue, **kwargs)
    if action == "reject":
        duplicates = issue_likely_duplicates_for_user(user=viewer, issue=issue)[:DUPLICATES_OFFERED]
        return f.RejectForm(data, duplicates=list(duplicates), **kwargs)
    if action == "resolve":
        return f.ResolveForm(data, files, **kwargs)
    if action in ("reopen", "return"):
        return f.ReasonForm(data, **kwargs)
    if action == "escalate":
        summon = bool(roles_on_issue(viewer, issue) & SUPERVISOR_ROLES)
        return f.EscalateForm(data, issue=issue, summon=summon, **kwargs)
    if action == "extend":
        return f.ExtendForm(data, **kwargs)
    if action == "refuse_extension":
        return f.RefuseForm(data, **kwargs)
    if action == "supervise":
        return f.SuperviseForm(data, **kwargs)
    if action == "set_privacy":
        if data is None:
            kwargs["initial"]["private"] = issue.private
        return f.PrivacyForm(data, **kwargs)
    return f.IssueActionForm(data, **kwargs)  # accept, approve_extension: the version only


def staff_panel(issue: Issue, *, viewer, actions, forms: dict) -> dict:
    """Return the staff panel's context: a form for each action offered (bound ones kept), the open supervision."""
    panel = []
    for action in actions:
        if action not in ACTION_BUTTONS:
            continue
        form = forms.get(f"{action}_form") or staff_form(action, issue=issue, viewer=viewer)
        url = reverse(f"issue-{action.replace('_', '-')}", kwargs={"number": issue.number})
        panel.append({"action": action, "button": ACTION_BUTTONS[action], "form": form, "url": url})
    return {"staff_forms": panel, "open_supervision": issue_open_supervision(issue=issue)}
