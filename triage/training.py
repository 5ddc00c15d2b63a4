"""What triage learns from, and a training run.

Two sources, never a copy of state: the labelled set shipped in triage/data (the cold start) and the staff's
decisions read from the issues themselves — every issue's latest classify event (its category: a correction of a
suggestion is just a classify that chose otherwise) with the issue's description and kind.
"""

import csv
import random
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery

from issues.models import Event, Issue
from triage import engine
from triage.models import TriageModel

LABELLED = Path(__file__).resolve().parent / "data" / "labelled.tsv"
HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 14
KEEP_MODELS = 5
# The newest decisions only, so that a nightly run stays well inside the Celery task time limit (300 s): 100,000 fit
# in about 2 × 55 s on 2 cores (docs/benchmarks.md), and what staff decided years ago matters least.
MAX_STAFF_DECISIONS = 100_000


@dataclass(frozen=True)
class Example:
    description: str
    category: str
    kind: str
    staff: bool = False


def labelled_set() -> list[Example]:
    """The shipped cold-start set: written for GridDesk, one line per description."""
    with LABELLED.open(encoding="utf-8", newline="") as f:
        return [
            Example(description=row["description"], category=row["category"], kind=row["kind"])
            for row in csv.DictReader(f, delimiter="\t")
        ]


def staff_decisions(*, limit: int = MAX_STAFF_DECISIONS) -> list[Example]:
    """Each classified issue once (the newest `limit`), as its latest classify event left it (category) with its
    description and kind."""
    latest = (
        Event.objects.filter(issue=OuterRef("pk"), action=Event.Action.CLASSIFY).order_by("-at", "-id").values("data")
    )
    rows = (
        Issue.objects.filter(Exists(Event.objects.filter(issue=OuterRef("pk"), action=Event.Action.CLASSIFY)))
        .annotate(decision=Subquery(latest))
        .values_list("description", "kind", "decision", "category__code")
        .order_by("-classified_at", "-created_at")[:limit]
    )
    out = []
    for description, kind, decision, current in reversed(list(rows)):
        category = (decision or {}).get("category") if isinstance(decision, dict) else None
        category = category or current
        if description and category:
            out.append(Example(description=description, category=category, kind=kind, staff=True))
    return out


def split(examples: list[Example], *, fraction: float = HELD_OUT_FRACTION, seed: int = SPLIT_SEED):
    """A stratified (by category) split into (train, held out), the same every time for the same examples."""
    by_category: dict[str, list[Example]] = {}
    for example in examples:
        by_category.setdefault(example.category, []).append(example)
    train, held = [], []
    rng = random.Random(seed)
    for category in sorted(by_category):
        group = by_category[category][:]
        rng.shuffle(group)
        cut = int(len(group) * fraction) if len(group) >= 5 else 0
        held += group[:cut]
        train += group[cut:]
    return train, held


def fit_examples(examples: list[Example]) -> engine.Fitted:
    return engine.fit(
        [e.description for e in examples],
        [e.category for e in examples],
        [e.kind for e in examples],
        [engine.STAFF_WEIGHT if e.staff else 1.0 for e in examples],
    )


def triage_train(*, examples: list[Example] | None = None, measure: bool = True) -> TriageModel | None:
    """Fit a model on the labelled set and the staff's decisions, measure it on a held-out fifth, store it.

    Returns None (and stores nothing) when there is too little to learn from: fewer than two categories.
    """
    if examples is None:
        examples = labelled_set() + staff_decisions()
    if len({e.category for e in examples}) < 2:
        return None
    started = time.perf_counter()
    top1 = top3 = None
    held: list[Example] = []
    if measure:
        train, held = split(examples)
        if held and len({e.category for e in train}) >= 2:
            measured = fit_examples(train)
            top1, top3 = engine.accuracy(measured, [e.description for e in held], [e.category for e in held])
    fitted = fit_examples(examples)
    seconds = time.perf_counter() - started
    with transaction.atomic():
        model = TriageModel.objects.create(
            engine=engine.ENGINE,
            trained_on=len(examples),
            staff_decisions=sum(e.staff for e in examples),
            held_out=len(held),
            top1=top1,
            top3=top3,
            seconds=seconds,
            blob=engine.dumps(fitted),
        )
        stale = TriageModel.objects.order_by("-id").values_list("id", flat=True)[KEEP_MODELS:]
        TriageModel.objects.filter(id__in=list(stale)).delete()
    return model


def triage_seed() -> TriageModel | None:
    """Train the first model when none exists (seed_demo): a second run leaves the stored one alone."""
    if TriageModel.objects.exists():
        return None
    return triage_train()
