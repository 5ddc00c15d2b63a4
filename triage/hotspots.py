"""Hot spots: a burst of similar reports in one grid or one building, far above that place's own baseline, raises ONE
alert; the alert closes when its issues have all ended.

Run in Celery after each submission or classification commits, and after an issue ends (resolved, closed, or
rejected — a duplicate merged into another included) to close the alerts whose issues have all ended; a beat sweep
(`hotspots_close_sweep_task`) closes any an event missed, and drains what waits for detection. Cost per new issue is
a constant number of small queries, whatever the number of issues:

- one detection per grid at a time (the grid's row is locked), so two reports of one burst never both raise;
- the issue is seen once (SeenIssue: its grid, building and time copied) and counted once, when it has a category,
  into its places' days (PlaceDayCount: grid × category × local day, and building × category × local day);
- the window: the newest WINDOW_LIMIT reports of its grid in the last WINDOW (SeenIssue's grid-and-time index), with
  the open alert each is in; "similar" means the same category, or a near-duplicate description (character 2–3-gram
  cosine at least NEAR_DUPLICATE: the same report retyped or forwarded, whatever category it was given, if any);
- an open alert holding a similar report of its building, else of its grid, takes the new issue (no second alert);
- otherwise the rule, for its building first (when it names one), then its grid, counting the similar reports of
  that place in no open alert: at least MIN_COUNT, and a Poisson tail P(X >= observed | expected) below P_THRESHOLD,
  expected = the place's daily rate of the category over the BASELINE_DAYS before the window (at most that many
  rows; floored at RATE_FLOOR; a report with no category has no rate to compare with: the floor) × the window in
  days. A building's burst raises its building's alert and not its grid's: an issue is in one open alert at most.
  A new alert links those reports and tells the street officers (inbox) and partner apps (`hotspot.raised`), once.

Publishing a new issue for detection is on the submission's path, so it is one Redis round trip when the broker is
Redis: the issue's id is appended to a list (DETECT_QUEUE) in the broker's Redis, and a drain task is queued only when
none is pending (the DRAINING flag, set if absent). The drain reads the list, detects each issue and only then removes
it: an id stays listed until it was seen, whatever worker dies (detection is idempotent: an issue is counted once and
joins one alert), and one whose detection failed goes behind the others; a drain lost or failed with the flag held is
restarted by the next submission after DRAINING_SECONDS, or by the beat sweep. Another broker (the embedded
filesystem one) gets one `hotspot_detect_task` per issue.
"""

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Subquery, Sum
from django.utils import timezone
from sklearn.feature_extraction.text import HashingVectorizer

from config.redis_cache import send_unread
from grids.models import Area
from issues.models import Issue, Notice, WebhookType
from notifications.outbox import outbox_write_alert
from orgs.models import Role
from orgs.scoping import node_staff_ids
from triage.models import HotSpot, PlaceDayCount, SeenIssue

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
BASELINE_DAYS = 28
MIN_COUNT = 5
P_THRESHOLD = 0.001
# A place with no history is not "infinitely" surprised by its first reports: assume at least this many a day.
RATE_FLOOR = 0.2
# The newest reports of a grid's window read per new issue: bounds detection's cost whatever the burst (a window this
# full is far above any grid's baseline already).
WINDOW_LIMIT = 200
# Cosine of character 2–3-grams from which two descriptions are near-duplicates: the same report retyped, shortened
# or forwarded measured 0.5–0.9; two residents' own words about one problem 0–0.4 (tests/triage/test_hotspots.py).
NEAR_DUPLICATE = 0.5
ENDED = (Issue.Status.CLOSED, Issue.Status.REJECTED, Issue.Status.RESOLVED)

# Hashed n-grams: nothing to fit or load, the same vector for a text in every process.
_VECTORIZER = HashingVectorizer(analyzer="char", ngram_range=(2, 3), n_features=2**18, alternate_sign=False)


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


def text_similarities(text: str, others: list[str]) -> list[float]:
    """Return the cosine similarity of `text` with each of `others` (character 2–3-grams)."""
    if not others:
        return []
    matrix = _VECTORIZER.transform([text, *others])
    return (matrix[1:] @ matrix[0].T).toarray().ravel().tolist()


@dataclass(frozen=True)
class _Report:
    """A report of the window, with the open alert it is in (if any)."""

    pk: object
    created_at: datetime
    building_code: str
    category_id: int | None
    description: str
    spot_id: int | None
    spot_category_id: int | None
    spot_building_code: str | None


def _window(issue: Issue) -> list[_Report]:
    """Return the newest WINDOW_LIMIT reports of the issue's grid in the WINDOW up to it (itself included); one
    query."""
    open_spots = HotSpot.issues.through.objects.filter(
        issue_id=OuterRef("issue_id"), hotspot__status=HotSpot.Status.OPEN
    ).order_by("-hotspot_id")
    rows = (
        SeenIssue.objects.filter(
            grid_code=issue.grid_code, created_at__gt=issue.created_at - WINDOW, created_at__lte=issue.created_at
        )
        .annotate(
            spot_id=Subquery(open_spots.values("hotspot_id")[:1]),
            spot_category_id=Subquery(open_spots.values("hotspot__category_id")[:1]),
            spot_building_code=Subquery(open_spots.values("hotspot__building_code")[:1]),
        )
        .order_by("-created_at")
        .values_list(
            "issue_id",
            "created_at",
            "building_code",
            "issue__category_id",
            "issue__description",
            "spot_id",
            "spot_category_id",
            "spot_building_code",
        )[:WINDOW_LIMIT]
    )
    return [_Report(*row) for row in rows]


def _count(issue: Issue) -> None:
    """See the issue once, and count it once (when it has a category) into its grid's and its building's day."""
    seen, _ = SeenIssue.objects.get_or_create(
        issue_id=issue.pk,
        defaults={"grid_code": issue.grid_code, "building_code": issue.building_code, "created_at": issue.created_at},
    )
    if not issue.category_id or seen.counted_category is not None:
        return
    SeenIssue.objects.filter(pk=issue.pk).update(counted_category=issue.category_id)
    day = timezone.localdate(issue.created_at)
    for code in filter(None, (issue.grid_code, issue.building_code)):
        row, created = PlaceDayCount.objects.get_or_create(
            place_code=code, category_pk=issue.category_id, day=day, defaults={"count": 1}
        )
        if not created:
            PlaceDayCount.objects.filter(pk=row.pk).update(count=F("count") + 1)


def _expected(*, place_code: str, category_id: int | None, at: datetime) -> float:
    """Return how many similar reports the place usually has in a WINDOW (its own daily rate, floored)."""
    baseline = 0
    if category_id:
        day = timezone.localdate(at)
        baseline = (
            PlaceDayCount.objects.filter(
                place_code=place_code,
                category_pk=category_id,
                day__gte=day - timedelta(days=BASELINE_DAYS + 1),
                day__lt=day - timedelta(days=1),
            ).aggregate(n=Sum("count"))["n"]
            or 0
        )
    return max(baseline / BASELINE_DAYS, RATE_FLOOR) * (WINDOW / timedelta(days=1))


def hotspot_detect(*, issue_id) -> HotSpot | None:
    """See `issue` into its places' baselines and raise or grow its place's hot spot; return the alert it is in."""
    issue = (
        Issue.objects.filter(pk=issue_id)
        .only("pk", "grid_code", "building_id", "building_code", "category_id", "created_at", "description")
        .first()
    )
    if issue is None or not issue.grid_code:
        return None
    with transaction.atomic():
        # One detection per grid at a time: the rule reads what the previous report of the burst wrote.
        grid = Area.objects.select_for_update().only("pk", "code", "name", "path").get(code=issue.grid_code)
        _count(issue)
        window = _window(issue)
        mine = next((r for r in window if r.pk == issue.pk), None)
        if mine is not None and mine.spot_id is not None:
            return HotSpot.objects.get(pk=mine.spot_id)  # already in an alert (seen at submission, now classified)
        others = [r for r in window if r.pk != issue.pk]
        scores = text_similarities(issue.description, [r.description for r in others])
        near = {r.pk for r, score in zip(others, scores, strict=True) if score >= NEAR_DUPLICATE}

        # An open alert holding a similar report takes it: its building's first, then its grid's.
        def joins(r: _Report) -> bool:
            same_category = issue.category_id is not None and r.spot_category_id == issue.category_id
            return r.spot_building_code in ("", issue.building_code) and (r.pk in near or same_category)

        held = sorted((r for r in others if r.spot_id is not None and joins(r)), key=lambda r: not r.spot_building_code)
        for spot_id in dict.fromkeys(r.spot_id for r in held):
            spot = _join(spot_id=spot_id, issue=issue)
            if spot is not None:
                return spot

        free = [r for r in others if r.spot_id is None and (r.pk in near or r.category_id == issue.category_id)]
        if issue.category_id is None:
            free = [r for r in free if r.pk in near]
        places = [(issue.building_code, issue.building_id)] if issue.building_code else []
        for code, building_id in [*places, ("", None)]:
            members = [r for r in free if not code or r.building_code == code]
            observed = len(members) + 1
            if observed < MIN_COUNT:
                continue
            expected = _expected(place_code=code or issue.grid_code, category_id=issue.category_id, at=issue.created_at)
            p_value = poisson_tail(observed, expected)
            if p_value >= P_THRESHOLD:
                continue
            spot = HotSpot.objects.create(
                street_code=grid.ancestor_code("street") or "",
                grid_code=issue.grid_code,
                area=grid,
                building_id=building_id,
                building_code=code,
                category_id=issue.category_id,
                first_at=min([r.created_at for r in members] + [issue.created_at]),
                last_at=issue.created_at,
                observed=observed,
                expected=expected,
                p_value=p_value,
            )
            spot.issues.add(issue.pk, *(r.pk for r in members))
            _announce(spot, grid=grid)
            return spot
        return None


def _join(*, spot_id: int, issue: Issue) -> HotSpot | None:
    """Add `issue` to the open alert `spot_id` (nothing is sent again); None if it closed meanwhile."""
    spot = HotSpot.objects.select_for_update().filter(pk=spot_id, status=HotSpot.Status.OPEN).first()
    if spot is None:
        return None
    spot.issues.add(issue.pk)
    HotSpot.objects.filter(pk=spot.pk).update(last_at=max(spot.last_at, issue.created_at), observed=F("observed") + 1)
    return spot


def _webhook_data(spot: HotSpot, *, visible: list[Issue], category_code: str | None) -> dict:
    return {
        "hotspot": {
            "id": spot.pk,
            "grid": spot.grid_code,
            "building": spot.building_code or None,
            "street": spot.street_code,
            "category": category_code,  # null: near-duplicate reports with no category
            "observed": spot.observed,
            "expected": round(spot.expected, 2),
            "first_at": spot.first_at,
            "raised_at": spot.created_at,
            "closed_at": spot.closed_at,
            "issues": [issue.number for issue in visible],  # only those this partner may see
        }
    }


def _announce(spot: HotSpot, *, grid: Area) -> None:
    """Tell the street officers (inbox and their channels) and the partner apps (`hotspot.raised`), once."""
    issues = list(spot.issues.select_related("category", "building").order_by("created_at", "pk"))
    first = issues[0]
    summary = first.title or first.description[:60]
    category = spot.category if spot.category_id else None
    place = grid.name if not spot.building_code else f"{grid.name} · {first.building.name if first.building else ''}"
    payload = {
        "number": first.number,
        "summary": summary,
        "count": spot.observed,
        "expected": f"{spot.expected:.1f}",
        "grid": place,
        "category": category.name if category else f"“{summary[:20]}”",
        "hotspot": spot.pk,
    }
    outbox_write_alert(
        kind=Notice.HOTSPOT_RAISED,
        recipients=node_staff_ids(path=_street_path(grid.path), roles=[Role.STREET_OFFICER]),
        issues=issues,
        payload=payload,
        webhook_type=WebhookType.HOTSPOT_RAISED,
        webhook_data=lambda *, visible: _webhook_data(spot, visible=visible, category_code=_code(category)),
        at=spot.created_at,
    )


def _code(category) -> str | None:
    return category.code if category is not None else None


def _street_path(area_path: str) -> str:
    return "/".join(area_path.split("/")[:2])


def hotspots_close_ended(*, issue_ids: list | None = None) -> int:
    """Close the open alerts (of these issues; all of them for the sweep) whose issues have all ended, and tell the
    partner apps (`hotspot.closed`), once; return how many closed."""
    spots = HotSpot.objects.filter(status=HotSpot.Status.OPEN)
    if issue_ids is not None:
        spots = spots.filter(issues__in=issue_ids)
    ending = list(spots.exclude(issues__status__in=Issue.OPEN_STATUSES).values_list("pk", flat=True).distinct())
    closed = 0
    for pk in ending:
        with transaction.atomic():
            # A report may join, or an issue reopen, meanwhile: lock, then check again.
            spot = HotSpot.objects.select_for_update(skip_locked=True).filter(pk=pk, status=HotSpot.Status.OPEN).first()
            if spot is None or spot.issues.filter(status__in=Issue.OPEN_STATUSES).exists():
                continue
            spot.status, spot.closed_at = HotSpot.Status.CLOSED, timezone.now()
            spot.save(update_fields=["status", "closed_at"])
            _announce_closed(spot)
            closed += 1
    return closed


def _announce_closed(spot: HotSpot) -> None:
    """Tell the partner apps that saw it raised (`hotspot.closed`); the street officers see it leave their desk."""
    issues = list(spot.issues.order_by("created_at", "pk"))
    category = spot.category if spot.category_id else None
    outbox_write_alert(
        kind=WebhookType.HOTSPOT_CLOSED,
        recipients=[],
        issues=issues,
        payload={},
        webhook_type=WebhookType.HOTSPOT_CLOSED,
        webhook_data=lambda *, visible: _webhook_data(spot, visible=visible, category_code=_code(category)),
        at=spot.closed_at,
    )


@shared_task(name="triage.hotspot_detect")
def hotspot_detect_task(issue_id) -> int | None:
    spot = hotspot_detect(issue_id=issue_id)
    return spot.pk if spot else None


@shared_task(name="triage.hotspots_close_ended")
def hotspots_close_ended_task(issue_ids: list) -> int:
    return hotspots_close_ended(issue_ids=issue_ids)


@shared_task(name="triage.hotspots_close_sweep")
def hotspots_close_sweep_task() -> int:
    """Close every open alert whose issues have all ended (Celery beat): what a lost closing check left open; and
    detect what waits in the list if no drain is under way (one lost with its flag held)."""
    hotspots_drain(held=False)
    return hotspots_close_ended(issue_ids=None)


@shared_task(name="triage.hotspots_drain")
def hotspots_drain_task() -> int:
    return hotspots_drain(held=True)


# The broker's Redis holds the issues waiting for detection (a list of ids, oldest first) and the flag that a drain is
# pending or running; a flag left by a lost drain expires, so the next submission queues another.
DETECT_QUEUE = "griddesk:hotspots:detect"
DRAINING = "griddesk:hotspots:draining"
DRAINING_SECONDS = 300
DRAIN_BATCH = 100
# A drain longer than this hands the rest to a new drain task (under the task time limit, whatever the backlog).
DRAIN_SECONDS = 60
_queue_clients: dict[str, redis.Redis] = {}


def _queue_client() -> redis.Redis | None:
    """Return the client of the broker's Redis (one per process), or None when the broker is not Redis."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")) or settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    client = _queue_clients.get(url)
    if client is None:
        timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("socket_connect_timeout", 2.0)
        client = _queue_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    return client


def _detect_publish(issue_ids: list) -> None:
    """Queue detection of `issue_ids`: appended to DETECT_QUEUE, and a drain queued unless one is pending (one
    pipeline, whose replies a request reads after its response: config.redis_cache.send_unread; a Celery message only
    then); one task per issue when the broker is not Redis."""
    client = _queue_client()
    if client is None:
        for pk in issue_ids:
            hotspot_detect_task.delay(pk)
        return
    commands = [
        ("RPUSH", DETECT_QUEUE, *(str(pk) for pk in issue_ids)),
        ("SET", DRAINING, 1, "NX", "EX", DRAINING_SECONDS),
    ]

    def drain_if_needed(replies) -> None:
        if not replies[1]:
            return  # a drain is pending: it takes these too
        try:
            hotspots_drain_task.delay()
        except Exception:  # noqa: BLE001 — hot spots are advice; the issue itself is saved
            client.delete(DRAINING)  # the next submission queues one
            logger.warning("hot spot drain of issues %s not queued", issue_ids[:10], exc_info=True)

    send_unread(client, commands, then=drain_if_needed, warning="hot spot check not queued: the broker does not answer")


def hotspots_drain(*, held: bool) -> int:
    """Detect the issues waiting in DETECT_QUEUE, oldest first, each removed once detected; return how many.

    `held`: the DRAINING flag was set for this drain (a queued drain task); otherwise (the beat sweep) it drains only
    if it can take the flag, so that one drain runs at a time."""
    client = _queue_client()
    if client is None or not client.set(DRAINING, 1, nx=not held, ex=DRAINING_SECONDS):
        return 0
    done, started = 0, time.monotonic()
    while True:
        ids = client.lrange(DETECT_QUEUE, 0, DRAIN_BATCH - 1)
        if not ids:
            client.delete(DRAINING)
            # An id listed after the read above saw the flag and queued no drain: look again, unless a new drain has
            # taken the flag meanwhile.
            if client.llen(DETECT_QUEUE) and client.set(DRAINING, 1, nx=True, ex=DRAINING_SECONDS):
                continue
            return done
        for raw in ids:
            try:
                hotspot_detect(issue_id=raw.decode())
            except Exception:
                # Kept, behind the others (a failing issue never holds the list up); the flag expires, and a later
                # drain tries again.
                pipe = client.pipeline(transaction=False)
                pipe.lrem(DETECT_QUEUE, 1, raw)
                pipe.rpush(DETECT_QUEUE, raw)
                pipe.execute()
                raise
            client.lrem(DETECT_QUEUE, 1, raw)
            done += 1
        if time.monotonic() - started > DRAIN_SECONDS:
            client.expire(DRAINING, DRAINING_SECONDS)
            hotspots_drain_task.delay()  # the flag stays held for it
            return done
        client.expire(DRAINING, DRAINING_SECONDS)


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


def hotspot_queue(*, issue_ids: list, detect: bool) -> None:
    """Queue detection of one new issue (or the closing check of ended ones); a broker outage is logged, never
    raised, so a submission never fails for it."""
    try:
        if detect:
            _detect_publish(issue_ids)
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
    spots = list(spots.distinct().select_related("area", "building", "category").order_by("-last_at", "-pk")[:limit])
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
