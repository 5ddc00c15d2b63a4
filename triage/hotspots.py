"""Hot spots: a burst of reports of one category in one grid, far above that place's own baseline, raises ONE alert.

Run in Celery after each submission or classification commits (issues.events queues `hotspot_detect_task`), and
after an issue ends (closed or rejected) to close the alerts whose issues have all ended. Cost per new issue is a
constant number of small queries, whatever the number of issues:

- the issue is counted once (CountedIssue) into its place's day (PlaceDayCount: grid × category × local day);
- the window: its place's issues of the last WINDOW (the category-created index, bounded by the burst);
- the baseline: that place's daily counts over the BASELINE_DAYS before the window (at most that many rows);
- the rule: at least MIN_COUNT reports in the window, and a Poisson tail P(X >= observed | expected) below
  P_THRESHOLD, where expected = the place's daily rate (floored at RATE_FLOOR) × the window in days;
- an open alert of the same place whose last report is within the window takes the new issue (no second alert);
  otherwise a new alert links the window's issues and tells the street officers (inbox) and partner apps
  (`hotspot.raised` webhook), once.
"""

import logging
import math
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from grids.models import Area
from issues.models import Issue, Notice, WebhookType
from notifications.outbox import outbox_write_alert
from orgs.models import Role
from orgs.scoping import node_staff_ids
from triage.models import CountedIssue, HotSpot, PlaceDayCount

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
BASELINE_DAYS = 28
MIN_COUNT = 5
P_THRESHOLD = 0.001
# A place with no history is not "infinitely" surprised by its first reports: assume at least this many a day.
RATE_FLOOR = 0.2
ENDED = (Issue.Status.CLOSED, Issue.Status.REJECTED, Issue.Status.RESOLVED)


def poisson_tail(observed: int, expected: float) -> float:
    """Return P(X >= observed) for X ~ Poisson(expected)."""
    if observed <= 0:
        return 1.0
    term = math.exp(-expected)  # P(X = 0)
    below = term
    for k in range(1, observed):
        term *= expected / k
        below += term
    return max(0.0, 1.0 - below)


def _street_path(area_path: str) -> str:
    return "/".join(area_path.split("/")[:2])


def hotspot_detect(*, issue_id: int) -> HotSpot | None:
    """Count `issue` into its place's baseline and raise or grow the place's hot spot; return the alert it is in."""
    issue = Issue.objects.filter(pk=issue_id).only("pk", "grid_code", "category_id", "created_at", "area_path").first()
    if issue is None or not issue.category_id or not issue.grid_code:
        return None
    at = issue.created_at
    day = timezone.localdate(at)
    with transaction.atomic():
        _, new = CountedIssue.objects.get_or_create(issue_id=issue.pk)
        if new:
            row, created = PlaceDayCount.objects.get_or_create(
                grid_code=issue.grid_code, category_pk=issue.category_id, day=day, defaults={"count": 1}
            )
            if not created:
                PlaceDayCount.objects.filter(pk=row.pk).update(count=F("count") + 1)
        place = {"grid_code": issue.grid_code, "category_id": issue.category_id}
        spot = (
            HotSpot.objects.select_for_update()
            .filter(**place, status=HotSpot.Status.OPEN, last_at__gte=at - WINDOW)
            .first()
        )
        window = Issue.objects.filter(**place, created_at__gt=at - WINDOW, created_at__lte=at)
        observed = window.count()
        if spot is not None:
            spot.issues.add(issue.pk)
            HotSpot.objects.filter(pk=spot.pk).update(last_at=max(spot.last_at, at), observed=spot.issues.count())
            return spot
        baseline = (
            PlaceDayCount.objects.filter(
                grid_code=issue.grid_code,
                category_pk=issue.category_id,
                day__gte=day - timedelta(days=BASELINE_DAYS + 1),
                day__lt=day - timedelta(days=1),
            ).aggregate(n=Sum("count"))["n"]
            or 0
        )
        expected = max(baseline / BASELINE_DAYS, RATE_FLOOR) * (WINDOW / timedelta(days=1))
        p_value = poisson_tail(observed, expected)
        if observed < MIN_COUNT or p_value >= P_THRESHOLD:
            return None
        grid = Area.objects.only("pk", "code", "name", "path").get(code=issue.grid_code)
        members = list(window.order_by("created_at", "pk").values_list("pk", flat=True))
        spot = HotSpot.objects.create(
            street_code=grid.path.split("/")[1] if "/" in grid.path else "",
            area=grid,
            first_at=window.order_by("created_at").values_list("created_at", flat=True).first(),
            last_at=at,
            observed=observed,
            expected=expected,
            p_value=p_value,
            **place,
        )
        spot.issues.add(*members)
        _announce(spot, grid=grid, street_path=_street_path(grid.path))
        return spot


def _announce(spot: HotSpot, *, grid, street_path: str) -> None:
    """Tell the street officers (inbox and their channels) and the partner apps (`hotspot.raised`), once."""
    issues = list(spot.issues.select_related("category").order_by("created_at", "pk"))
    first = issues[0]
    payload = {
        "number": first.number,
        "summary": first.title or first.description[:60],
        "count": spot.observed,
        "expected": f"{spot.expected:.1f}",
        "grid": grid.name,
        "category": first.category.name,
        "hotspot": spot.pk,
    }

    def webhook_data(*, visible) -> dict:
        return {
            "hotspot": {
                "id": spot.pk,
                "grid": grid.code,
                "street": spot.street_code,
                "category": first.category.code,
                "observed": spot.observed,
                "expected": round(spot.expected, 2),
                "first_at": spot.first_at,
                "issues": [issue.number for issue in visible],  # only those this partner may see
            }
        }

    outbox_write_alert(
        kind=Notice.HOTSPOT_RAISED,
        recipients=node_staff_ids(path=street_path, roles=[Role.STREET_OFFICER]),
        issues=issues,
        payload=payload,
        webhook_type=WebhookType.HOTSPOT_RAISED,
        webhook_data=webhook_data,
        at=spot.created_at,
    )


def hotspots_close_ended(*, issue_ids: list[int]) -> int:
    """Close the open alerts of these issues whose issues have all ended (resolved, closed or rejected); return how
    many."""
    closed = 0
    for spot in HotSpot.objects.filter(issues__in=issue_ids, status=HotSpot.Status.OPEN).distinct():
        if not spot.issues.exclude(status__in=ENDED).exists():
            closed += HotSpot.objects.filter(pk=spot.pk, status=HotSpot.Status.OPEN).update(
                status=HotSpot.Status.CLOSED, closed_at=timezone.now()
            )
    return closed


@shared_task(name="triage.hotspot_detect")
def hotspot_detect_task(issue_id: int) -> int | None:
    spot = hotspot_detect(issue_id=issue_id)
    return spot.pk if spot else None


@shared_task(name="triage.hotspots_close_ended")
def hotspots_close_ended_task(issue_ids: list[int]) -> int:
    return hotspots_close_ended(issue_ids=issue_ids)


DETECT_ACTIONS = ("submit", "classify")


def hotspot_events_hook(*, events) -> None:
    """After these events commit (issues.events calls this; triage.apps registers it), queue detection of each
    submitted or classified issue, and one closing check for the issues that ended (a sweep's many at once)."""
    for event in events:
        if event.action in DETECT_ACTIONS:
            transaction.on_commit(lambda pk=event.issue_id: hotspot_queue(issue_ids=[pk], detect=True))
    ended = [event.issue_id for event in events if event.to_status in ENDED and event.action not in DETECT_ACTIONS]
    if ended:
        transaction.on_commit(lambda: hotspot_queue(issue_ids=ended, detect=False))


def hotspot_queue(*, issue_ids: list[int], detect: bool) -> None:
    """Queue detection of one new issue (or the closing check of ended ones); a broker outage is logged, never
    raised, so a submission never fails for it."""
    try:
        if detect:
            hotspot_detect_task.delay(issue_ids[0])
        else:
            hotspots_close_ended_task.delay(issue_ids)
    except Exception:  # noqa: BLE001 — hot spots are advice; the issue itself is saved
        logger.warning("hot spot check of issues %s not queued", issue_ids[:10], exc_info=True)


def hotspots_open_for(*, user, limit: int = 20, only: int | None = None) -> list[HotSpot]:
    """Return the open hot spots with an issue `user` may see (or just hot spot `only`), newest first, each with
    `shown`: those issues (oldest first). Two queries."""
    visible = Issue.objects.visible_to(user)
    spots = HotSpot.objects.filter(status=HotSpot.Status.OPEN, issues__in=visible)
    if only is not None:
        spots = spots.filter(pk=only)
    spots = list(spots.distinct().select_related("area", "category").order_by("-last_at", "-pk")[:limit])
    shown: dict[int, list] = {spot.pk: [] for spot in spots}
    through = HotSpot.issues.through
    rows = (
        through.objects.filter(hotspot_id__in=shown, issue__in=visible)
        .select_related("issue")
        .order_by("issue__created_at", "issue_id")
    )
    for row in rows:
        shown[row.hotspot_id].append(row.issue)
    for spot in spots:
        spot.shown = shown[spot.pk]
    return spots
