"""Random sequences of workflow actions by random actors keep the lifecycle's invariants (hypothesis, stateful).

After every step: the status moved only along the transition table; every change has its event, and the events
chain from → to without gaps up to the current status; an actor outside the issue's scope got NotFound and changed
nothing; a refused action changed nothing; the deadlines are the calendar's (issues.sla) from the classification,
plus the approved extensions.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from config.errors import NotFound, WorkflowError
from issues import workflow
from issues.escalation import auto_close_sweep, escalation_sweep
from issues.models import Dispatch, Event, ExtensionRequest, Issue
from issues.sla import add_workdays

pytestmark = pytest.mark.django_db

S = Issue.Status
MAX_ISSUES = 3

# Who may ever succeed at each action (API.md's action table), independently of the workflow's own checks.
TRIAGE = {"community_staff", "street_officer", "district_admin"}
DEPARTMENT = {"chengguan_staff", "shuiwu_staff"}
MAY_SUCCEED = {
    "classify": TRIAGE,
    "dispatch": TRIAGE,
    "reject": TRIAGE,
    "reopen": TRIAGE,
    "escalate": TRIAGE,
    "accept": DEPARTMENT,
    "return": DEPARTMENT,
    "resolve": TRIAGE | DEPARTMENT,
    "rate": {"reporter"},
    "extend": DEPARTMENT | {"street_officer", "district_admin"},
    "approve_extension": {"street_officer", "district_admin"},
}
# Never in scope: a resident who did not report it, staff of another community.
OUTSIDERS = {"stranger", "other_community_staff"}
ACTOR_NAMES = sorted(TRIAGE | DEPARTMENT | OUTSIDERS | {"reporter", "grid_worker"})
# Stale versions now and then (each is refused, so often would starve the machine of progress).
STALE = st.integers(0, 4).map(lambda n: n == 0)


def actor_for(action: str):
    """Return half the time an actor who may succeed at `action`, else anyone (outsiders included)."""
    return st.sampled_from(sorted(MAY_SUCCEED[action])) | st.sampled_from(ACTOR_NAMES)


def allowed_targets(action: str, from_status: str) -> set[str]:
    """Return the statuses `action` may lead to from `from_status` by the workflow's transition table."""
    transition = workflow.TRANSITIONS[action]
    if transition.target is None:
        return {from_status}
    if action == "rate":
        return {transition.target, workflow.RATE_REOPEN_TARGET}
    if action == "accept":  # a co-handling department's acceptance leaves the status as it is
        return {transition.target, from_status}
    return {transition.target}


def snapshot(pk) -> dict:
    """Return everything an action could change on an issue: its whole row, events, ratings, dispatches, extensions."""
    row = (
        Issue.objects.filter(pk=pk)
        .annotate(n_events=Count("events", distinct=True), n_ratings=Count("ratings", distinct=True))
        .values()
        .get()
    )
    row["dispatches"] = list(Dispatch.objects.filter(issue_id=pk).order_by("id").values())
    row["extensions"] = list(ExtensionRequest.objects.filter(issue_id=pk).order_by("id").values())
    return row


class IssueLifecycle(RuleBasedStateMachine):
    """Drive the workflow with random actions; `actors`, `places` and `category` are set by the test."""

    actors: dict = {}
    places: dict = {}
    category = None

    issues = Bundle("issues")

    def __init__(self):
        super().__init__()
        # Each example runs in a savepoint rolled back at teardown: examples never see each other's rows.
        self._example = transaction.atomic()
        self._example.__enter__()
        self.pks: list = []
        # Set by every step that may have changed something; a refused step was already shown to change nothing.
        self.changed = True
        self.clock = timezone.now()

    def teardown(self):
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    # --- the step every action goes through -------------------------------------------------------------------

    def act(self, action: str, pk, actor_name: str, *, stale: bool = False, **kwargs):
        actor = self.actors[actor_name]
        before = snapshot(pk)
        visible = Issue.objects.visible_to(actor).filter(pk=pk).exists()
        if stale:
            kwargs["version"] = before["version"] - 1
        function = getattr(workflow, f"issue_{action}")
        try:
            function(issue=pk, actor=actor, **kwargs)
            error = None
        except WorkflowError as refused:
            error = refused
        after = snapshot(pk)

        if actor_name in OUTSIDERS:
            assert not visible, f"{actor_name} sees an issue outside their scope"
        if not visible:
            assert isinstance(error, NotFound), f"{actor_name} {action} on an unseen issue: {error!r}"
        if error is not None:
            assert after == before, f"refused {action} ({error.code}) by {actor_name} changed the issue"
            return
        self.changed = True
        assert not stale, f"{action} with a stale version succeeded"
        assert actor_name in MAY_SUCCEED[action], f"{actor_name} may not {action}"
        status_before, status_after = before["status"], after["status"]
        assert status_before in workflow.TRANSITIONS[action].sources
        assert status_after in allowed_targets(action, status_before), f"{action}: {status_before} → {status_after}"
        assert after["version"] == before["version"] + 1, "a change bumps the version once"
        assert after["n_events"] == before["n_events"] + 1, "a change writes exactly one event"
        event = Event.objects.filter(issue_id=pk).order_by("at", "id").last()
        assert (event.action, event.from_status, event.to_status) == (action, status_before, status_after)
        assert event.actor_id == actor.pk

    # --- rules ------------------------------------------------------------------------------------------------

    @initialize(target=issues, where=st.sampled_from(["grid", "building"]), urgent=st.booleans())
    def first_issue(self, where, urgent):
        return self.submit_issue(where, urgent)

    @precondition(lambda self: len(self.pks) < MAX_ISSUES)
    @rule(target=issues, where=st.sampled_from(["grid", "building"]), urgent=st.booleans())
    def submit(self, where, urgent):
        return self.submit_issue(where, urgent)

    def submit_issue(self, where: str, urgent: bool):
        reporter = self.actors["reporter"]
        issue = workflow.issue_submit(
            actor=reporter,
            description="楼道里堆满了杂物，消防通道被堵",
            urgent=urgent,
            **{where: self.places[where].code},
        )
        assert issue.status == S.SUBMITTED and issue.version == 1
        self.pks.append(issue.pk)
        self.changed = True
        return issue.pk

    @rule(issue=issues, data=st.data())
    def any_action(self, issue, data):
        """Take an action (half the time one the status allows), by an actor who may (half the time) or anyone."""
        status = Issue.objects.values_list("status", flat=True).get(pk=issue)
        allowed = sorted(a for a in MAY_SUCCEED if status in workflow.TRANSITIONS[a].sources)
        choices = st.sampled_from(sorted(MAY_SUCCEED))
        action = data.draw((st.sampled_from(allowed) | choices) if allowed else choices, label="action")
        actor = data.draw(actor_for(action), label="actor")
        arguments = data.draw(self.arguments(action), label="arguments")
        self.act(action, issue, actor, stale=data.draw(STALE, label="stale"), **arguments)

    def arguments(self, action: str):
        """Return the strategy of `action`'s keyword arguments."""
        text = st.just("请尽快处理")
        return {
            "classify": st.fixed_dictionaries(
                {"category": st.just(self.category.code), "urgent": st.none() | st.booleans()}
            ),
            "dispatch": st.fixed_dictionaries(
                {
                    "departments": st.sampled_from([["chengguan"], ["chengguan", "shuiwu"], ["shuiwu"]]),
                    # A lead outside the departments is refused (validation_error), which must change nothing.
                    "lead": st.sampled_from([None, "chengguan", "shuiwu"]),
                    "note": text,
                }
            ),
            "accept": st.just({}),
            "return": st.fixed_dictionaries({"reason": st.sampled_from(["不属于本部门职责", ""])}),
            "resolve": st.fixed_dictionaries({"note": text}),
            "rate": st.fixed_dictionaries({"score": st.integers(1, 5)}),
            "reopen": st.fixed_dictionaries({"reason": st.just("居民反映仍未解决")}),
            "reject": st.one_of(
                st.fixed_dictionaries({"reason": st.sampled_from(["invalid", "out_of_scope"])}),
                st.fixed_dictionaries({"reason": st.just("duplicate"), "duplicate_of": st.sampled_from(self.pks)}),
            ),
            "escalate": st.fixed_dictionaries({"departments": st.sampled_from([[], ["shuiwu"]]), "note": text}),
            "extend": st.fixed_dictionaries({"workdays": st.integers(0, 6), "reason": text}),
            "approve_extension": st.just({}),
        }[action]

    @rule(issue=issues, actor=st.sampled_from(ACTOR_NAMES), internal=st.booleans())
    def comment(self, issue, actor, internal):
        before = snapshot(issue)
        visible = Issue.objects.visible_to(self.actors[actor]).filter(pk=issue).exists()
        try:
            workflow.issue_comment(issue=issue, actor=self.actors[actor], text="已联系物业", internal=internal)
        except WorkflowError as refused:
            assert visible or isinstance(refused, NotFound)
            assert snapshot(issue) == before
            return
        self.changed = True
        assert visible and actor not in OUTSIDERS
        after = snapshot(issue)
        # A comment is an event but not a change: the version and everything else stay.
        assert after.pop("n_events") == before.pop("n_events") + 1
        assert after == before

    @rule(issue=issues, steps=st.integers(1, 5), score=st.integers(1, 5), joint=st.booleans())
    def progress(self, issue, steps, score, joint):
        """Take the issue up to `steps` steps along the main path with the right actors, so deep states are reached."""
        for _ in range(steps):
            status = Issue.objects.values_list("status", flat=True).get(pk=issue)
            if status == S.SUBMITTED:
                self.act("classify", issue, "community_staff", category=self.category.code)
            elif status == S.CLASSIFIED:
                departments = ["chengguan", "shuiwu"] if joint else ["chengguan"]
                self.act("dispatch", issue, "community_staff", departments=departments, lead="chengguan")
            elif status == S.DISPATCHED:
                self.act("accept", issue, "chengguan_staff")
            elif status == S.IN_PROGRESS:
                self.act("resolve", issue, "chengguan_staff", note="已清理完毕")
            elif status == S.RESOLVED:
                self.act("rate", issue, "reporter", score=score)
            else:
                return

    @rule(days=st.integers(1, 12))
    def time_passes(self, days):
        """Run the system's sweeps some days later: escalation of passed deadlines, auto-close of unrated issues."""
        self.clock += timedelta(days=days)
        self.changed = True
        escalation_sweep(now=self.clock)
        auto_close_sweep(now=self.clock)

    # --- invariants (checked on every issue, in three queries whatever the step) ------------------------------

    @invariant()
    def lifecycle_invariants_hold(self):
        if not self.changed:
            return
        self.changed = False
        issues = Issue.objects.select_related("category").in_bulk(self.pks)
        events: dict = {pk: [] for pk in self.pks}
        for event in Event.objects.filter(issue_id__in=self.pks).order_by("at", "id"):
            events[event.issue_id].append(event)
        extended: dict = {pk: 0 for pk in self.pks}
        for pk, workdays in ExtensionRequest.objects.filter(
            issue_id__in=self.pks, status=ExtensionRequest.Status.APPROVED
        ).values_list("issue_id", "workdays"):
            extended[pk] += workdays
        for pk, issue in issues.items():
            self.check_event_chain(issue, events[pk])
            self.check_deadlines(issue, extended[pk])

    @staticmethod
    def check_event_chain(issue: Issue, events: list[Event]) -> None:
        """The status moved only along the transition table, each change with its event, without gaps."""
        assert (events[0].action, events[0].from_status, events[0].to_status) == ("submit", "", S.SUBMITTED)
        for previous, event in zip(events, events[1:], strict=False):
            assert event.from_status == previous.to_status, f"gap before {event.action}"
            assert event.from_status in workflow.TRANSITIONS[event.action].sources, event.action
            assert event.to_status in allowed_targets(event.action, event.from_status), event.action
        assert events[-1].to_status == issue.status
        # Every change bumps the version and writes one event; a comment writes an event only.
        assert issue.version == sum(1 for e in events if e.action != "comment")

    @staticmethod
    def check_deadlines(issue: Issue, extended_workdays: int) -> None:
        """The deadlines are the calendar's from the classification, plus the approved extensions."""
        if issue.classified_at is None:
            assert (issue.response_due_at, issue.resolution_due_at) == (None, None)
            return
        category = issue.category
        hours = category.urgent_response_hours if issue.urgent else category.response_hours
        workdays = category.urgent_resolution_workdays if issue.urgent else category.resolution_workdays
        assert issue.response_due_at == issue.classified_at + timedelta(hours=hours)
        assert issue.resolution_due_at == add_workdays(start=issue.classified_at, workdays=workdays + extended_workdays)


@pytest.fixture
def actors(
    territory,
    resident,
    other_resident,
    grid_worker,
    community_staff,
    other_community_staff,
    street_officer,
    district_admin,
    chengguan_staff,
    shuiwu_staff,
):
    return {
        "reporter": resident,
        "stranger": other_resident,
        "grid_worker": grid_worker,
        "community_staff": community_staff,
        "other_community_staff": other_community_staff,
        "street_officer": street_officer,
        "district_admin": district_admin,
        "chengguan_staff": chengguan_staff,
        "shuiwu_staff": shuiwu_staff,
    }


def test_random_action_sequences_keep_the_lifecycle_invariants(actors, territory, category):
    class Lifecycle(IssueLifecycle):
        pass

    Lifecycle.actors = actors
    Lifecycle.places = {"grid": territory["grid"], "building": territory["building"]}
    Lifecycle.category = category
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            database=None,  # no .hypothesis/ directory in the checkout
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_an_outsider_never_sees_the_issue_a_resident_reported(actors, territory):
    # A fixed sanity check of the machine's assumption about OUTSIDERS.
    issue = workflow.issue_submit(actor=actors["reporter"], description="楼道灯坏了很久", grid=territory["grid"].code)
    for name in OUTSIDERS:
        assert not Issue.objects.visible_to(actors[name]).filter(pk=issue.pk).exists()
