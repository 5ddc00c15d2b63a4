"""One predicate per rule (issues.workflow.predicates): an action is offered exactly when taking it is not refused.

A property over issues built by the workflow in every status, with or without a reporter account, one or two
departments, a pending extension and escalations, and every role-actor in scope: issue_actions_for offers an
action iff calling it with valid arguments raises neither PermissionDenied nor InvalidTransition.
"""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.errors import InvalidTransition, PermissionDenied
from issues import workflow
from issues.models import Issue
from issues.workflow.predicates import PREDICATES

pytestmark = pytest.mark.django_db

PHONE = "13800138000"
ACTORS = [
    "resident",
    "other_resident",
    "grid_worker",
    "community_staff",
    "other_community_staff",
    "street_officer",
    "district_admin",
    "chengguan_staff",
    "shuiwu_staff",
]


def take(action: str, *, issue, actor) -> None:
    """Take `action` with valid arguments (the offered names that are not functions map to theirs)."""
    w = workflow
    calls = {
        "classify": lambda: w.issue_classify(issue=issue, actor=actor, category="stairwell"),
        "dispatch": lambda: w.issue_dispatch(issue=issue, actor=actor, departments=["chengguan"]),
        "accept": lambda: w.issue_accept(issue=issue, actor=actor),
        "return": lambda: w.issue_return(issue=issue, actor=actor, reason="Not ours."),
        "resolve": lambda: w.issue_resolve(issue=issue, actor=actor, note="Done."),
        "rate": lambda: w.issue_rate(issue=issue, actor=actor, score=4),
        "return_visit": lambda: w.issue_rate(issue=issue, actor=actor, score=4, return_visit=True),
        "reopen": lambda: w.issue_reopen(issue=issue, actor=actor, reason="Back again."),
        "reject": lambda: w.issue_reject(issue=issue, actor=actor, reason="invalid"),
        "escalate": lambda: w.issue_escalate(issue=issue, actor=actor),
        "extend": lambda: w.issue_extend(issue=issue, actor=actor, workdays=2),
        "approve_extension": lambda: w.issue_approve_extension(issue=issue, actor=actor),
        "refuse_extension": lambda: w.issue_refuse_extension(issue=issue, actor=actor),
        "supervise": lambda: w.issue_supervise(issue=issue, actor=actor, note="Today, please."),
        "set_privacy": lambda: w.issue_set_privacy(issue=issue, actor=actor, private=True),
        "comment": lambda: w.issue_comment(issue=issue, actor=actor, text="Noted."),
        "comment_internal": lambda: w.issue_comment(issue=issue, actor=actor, text="Noted.", internal=True),
    }
    calls[action]()


def succeeds(action: str, *, issue, actor) -> bool:
    """Return whether `action` is taken now; whatever it did is rolled back."""
    with transaction.atomic():
        try:
            take(action, issue=issue.pk, actor=actor)
        except (PermissionDenied, InvalidTransition):
            return False
        finally:
            transaction.set_rollback(True)
    return True


def build(status, *, anonymous, joint, extension, escalations, a, territory) -> Issue:
    """Drive an issue through the workflow to `status`, with the variations drawn."""
    w = workflow
    reporter = None if anonymous else a["resident"]
    issue = w.issue_submit(
        actor=reporter, description="楼道里堆满了杂物", building=territory["building"].code, reporter_phone=PHONE
    )
    triage, handler = a["community_staff"], a["chengguan_staff"]
    if status == "rejected":
        return w.issue_reject(issue=issue, actor=triage, reason="invalid")
    order = ["submitted", "classified", "dispatched", "in_progress", "resolved", "closed"]
    steps = {
        "classified": lambda i: w.issue_classify(issue=i, actor=triage, category="stairwell"),
        "dispatched": lambda i: w.issue_dispatch(
            issue=i, actor=triage, departments=["chengguan", "shuiwu"] if joint else ["chengguan"], lead="chengguan"
        ),
        "in_progress": lambda i: w.issue_accept(issue=i, actor=handler),
        "resolved": lambda i: w.issue_resolve(issue=i, actor=handler, note="Cleared."),
        "closed": lambda i: (
            w.issue_rate(issue=i, actor=triage, score=5, return_visit=True)
            if anonymous
            else w.issue_rate(issue=i, actor=reporter, score=5)
        ),
    }
    for step in order[1 : order.index(status) + 1]:
        issue = steps[step](issue)
    if extension and status in ("dispatched", "in_progress"):
        issue = w.issue_extend(issue=issue, actor=handler, workdays=2)
    for _ in range(escalations if issue.is_open else 0):
        issue = w.issue_escalate(issue=issue, actor=a["district_admin"])
    return issue


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    status=st.sampled_from(["submitted", "classified", "dispatched", "in_progress", "resolved", "closed", "rejected"]),
    anonymous=st.booleans(),
    joint=st.booleans(),
    extension=st.booleans(),
    escalations=st.integers(0, 2),
)
def test_an_action_is_offered_iff_taking_it_is_not_refused(
    request, territory, other_territory, category, shuiwu, status, anonymous, joint, extension, escalations
):
    a = {name: request.getfixturevalue(name) for name in ACTORS}
    issue = build(
        status,
        anonymous=anonymous,
        joint=joint,
        extension=extension,
        escalations=escalations,
        a=a,
        territory=territory,
    )
    assert issue.status == status
    for name, actor in a.items():
        seen = Issue.objects.visible_to(actor).prefetch_related("dispatches").filter(pk=issue.pk).first()
        if seen is None:
            continue
        offered = workflow.issue_actions_for(issue=seen, actor=actor)
        for action in PREDICATES:
            assert (action in offered) == succeeds(action, issue=issue, actor=actor), (name, action, offered)


def test_each_offered_name_has_a_predicate_and_the_actions_ask_them(territory, make, community_staff):
    """The predicates are the rules: refusing through the predicate gives the action's own error and code."""
    issue = make("submitted")
    assert set(PREDICATES) >= {"classify", "dispatch", "accept", "return", "resolve", "rate", "reopen", "reject"}
    refusal = PREDICATES["resolve"](actor=community_staff, issue=issue)
    with pytest.raises(InvalidTransition) as raised:
        workflow.issue_resolve(issue=issue, actor=community_staff, note="Done.")
    assert type(refusal) is type(raised.value) and refusal.code == raised.value.code == "invalid_transition"
