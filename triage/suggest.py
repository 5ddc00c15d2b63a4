"""Suggestions for one description: the model's ranked categories, each with its kind and handling department.

The department follows the category's routing (Category.department, as issue_dispatch leads with it); when the
place is known it must be a department of the place's district, or none is suggested. No model yet, or a category
the model knows that is no longer active: fewer (or no) suggestions, never an error — a submission never waits on
triage.
"""

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce
from operator import or_

from django.core.cache import cache
from django.db import transaction
from django.db.models import Sum
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from config.redis_cache import quietly
from grids.models import PATH_SEPARATOR, Area, subtree_q
from issues.models import Category, Kind, StatsRollup
from issues.sla import LOCAL_TZ
from orgs.models import Department
from triage import engine
from triage.models import TriageModel

NOT_ANSWERING = "triage: the cache does not answer"
LIMIT = 3
# The place's part: how often each category was reported in the same grid lately, smoothed so that it only tips close
# calls (a category with no history there keeps a factor near 1; one that makes up most of a busy grid's issues
# about doubles its weight, which never overturns a clear text).
PLACE_DAYS = 180
PLACE_SMOOTHING = 20.0
# How long a grid's counts are remembered (place_counts); the key also changes with the local day.
PLACE_CACHE_SECONDS = 3600

# How long a process trusts the newest model it read before asking again (a queue page asked on every load); a model
# stored in this process is heard at once (model_stored).
MODEL_CHECK_SECONDS = 10.0

_lock = threading.Lock()
_cache: dict = {"key": None, "fitted": None, "checked": None}


@dataclass(frozen=True)
class Suggestion:
    category: Category
    kind: str
    department: Department | None
    score: float

    @property
    def kind_label(self) -> str:
        return Kind(self.kind).label


def current_model() -> tuple[int | None, engine.Fitted | None]:
    """The newest stored model, loaded once per process and reloaded when a newer one is stored (one indexed query,
    at most every MODEL_CHECK_SECONDS; at once after a model is stored or deleted in this process).

    Keyed by id and training time: an id a rolled-back transaction handed out again is not mistaken for the old one.
    """
    checked = _cache["checked"]
    if checked is not None and time.monotonic() - checked[0] < MODEL_CHECK_SECONDS:
        newest = checked[1]
    else:
        newest = TriageModel.objects.order_by("-id").values_list("id", "created_at").first()
        _cache["checked"] = (time.monotonic(), newest)
    if newest is None:
        return None, None
    with _lock:
        if _cache["key"] != newest:
            blob = TriageModel.objects.values_list("blob", flat=True).get(pk=newest[0])
            _cache.update(key=newest, fitted=engine.loads(bytes(blob)))
        return newest[0], _cache["fitted"]


@receiver(post_save, sender=TriageModel, dispatch_uid="triage.suggest.model_stored")
@receiver(post_delete, sender=TriageModel, dispatch_uid="triage.suggest.model_deleted")
def model_stored(sender, **kwargs) -> None:
    """A model stored or deleted: the next suggestion asks which model is the newest (and again after the commit)."""
    model_forget()
    transaction.on_commit(model_forget)


def model_forget() -> None:
    """Ask the database for the newest model next time (a rolled-back model sends no signal: tests call this)."""
    _cache["checked"] = None


def triage_suggest(description: str, *, place: Area | None = None, limit: int = LIMIT) -> list[Suggestion]:
    """Rank the likeliest categories of `description` (best first); [] when no model exists or the text is blank."""
    return triage_suggest_many([description], places=[place], limit=limit)[0]


def triage_suggest_many(descriptions: list[str], *, places=None, limit: int = LIMIT) -> list[list[Suggestion]]:
    """triage_suggest for many descriptions at once (a queue page): one model call, one category query."""
    places = places or [None] * len(descriptions)
    texts = [(d or "").strip() for d in descriptions]
    _, fitted = current_model() if any(texts) else (None, None)
    if fitted is None:
        return [[] for _ in texts]
    # A couple more than asked: an inactive category the model still knows is skipped, not shown.
    priors = place_priors(places, classes=[str(c) for c in fitted.category.classes_])
    ranked_all = engine.rank_many(fitted, [t or "-" for t in texts], limit=limit + 2, priors=priors)
    codes = {r.category for ranked in ranked_all for r in ranked}
    categories = Category.objects.filter(code__in=codes, is_active=True).select_related("department__district")
    by_code = {c.code: c for c in categories}
    out = []
    for text, place, ranked in zip(texts, places, ranked_all, strict=True):
        district = place.ancestor_code(Area.Level.DISTRICT) if place is not None else None
        row = []
        for r in ranked:
            category = by_code.get(r.category)
            if not text or category is None:
                continue
            department = category.department
            if department is not None and (
                not department.is_active or (district and department.district.code != district)
            ):
                department = None
            row.append(Suggestion(category=category, kind=r.kind, department=department, score=round(r.score, 4)))
        out.append(row[:limit])
    return out


def _grid_code(place: Area | None) -> str | None:
    if place is None:
        return None
    return place.code if place.level == Area.Level.GRID else place.ancestor_code(Area.Level.GRID)


def place_priors(places: list, *, classes: list[str]) -> list[dict[str, float] | None]:
    """Each place's factor per category from its grid's recent categorised issues (place_counts)."""
    codes = [_grid_code(p) for p in places]
    counts = place_counts({code: _grid_path(p) for p, code in zip(places, codes, strict=True) if code})
    priors = {}
    for grid, by_category in counts.items():
        if not by_category:
            continue
        base = PLACE_SMOOTHING + sum(by_category.values()) / max(len(classes), 1)
        priors[grid] = {c: (by_category.get(c, 0) + PLACE_SMOOTHING) / base for c in classes}
    return [priors.get(code) if code else None for code in codes]


def place_counts(grids: dict[str, str]) -> dict[str, dict[str, int]]:
    """Return {grid code: {category code: issues}} of the issues created in each grid (`grids`: code → path) over the
    last PLACE_DAYS local days that have a category.

    Read from the statistics rollup's leaf day rows (issues.rollups keeps them as issues change), not from the issues:
    counting a busy street's grids from the issues took 0.4–0.6 s at a million issues on a page's first visit. Each
    grid's counts are remembered for the day in the shared cache (PLACE_CACHE_SECONDS): a prior only tips close calls,
    and a day's new issues hardly move six months' counts.
    """
    if not grids:
        return {}
    today = timezone.localdate(timezone=LOCAL_TZ)  # the rollup's days
    keys = {code: f"triage:place-counts:{code}:{today.isoformat()}" for code in grids}
    known = quietly(cache.get_many, list(keys.values()), warning=NOT_ANSWERING) or {}
    counts = {code: known[key] for code, key in keys.items() if key in known}
    missing = {code: path for code, path in grids.items() if code not in counts}
    if missing:
        rows = (
            StatsRollup.objects.filter(
                reduce(or_, [subtree_q("area_path", path) for path in missing.values()]),
                level=StatsRollup.Level.LEAF,
                grain=StatsRollup.Grain.DAY,
                period__gte=today - timedelta(days=PLACE_DAYS),
                category_pk__gt=0,
            )
            .values_list("grid_code", "category_pk")
            .annotate(n=Sum("total"))
            .order_by()
        )
        fresh = {code: {} for code in missing}
        category_codes = dict(Category.objects.values_list("pk", "code"))
        for grid, category_pk, n in rows:
            if grid in fresh and n and category_pk in category_codes:
                fresh[grid][category_codes[category_pk]] = n
        quietly(
            cache.set_many, {keys[code]: fresh[code] for code in missing}, PLACE_CACHE_SECONDS, warning=NOT_ANSWERING
        )
        counts |= fresh
    return counts


def _grid_path(place: Area) -> str:
    """Return the path of the grid `place` is (or is in)."""
    if place.level == Area.Level.GRID:
        return place.path
    return PATH_SEPARATOR.join(place.path.split(PATH_SEPARATOR)[: Area.DEPTH[Area.Level.GRID] + 1])
