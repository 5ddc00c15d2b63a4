"""Triage benchmark: how well and how fast triage suggests a category (triage/engine.py, triage/suggest.py).

Follows bench/run.py's contract. Figures:
- held-out accuracy: the shipped labelled set (triage/data/labelled.tsv) split as training does (a stratified fifth
  held out, fixed seed), fitted on the rest, top-1 and top-3 of the category (and top-1 of the kind) on the fifth;
- a learning curve: models fitted on only N staff decisions (N drawn from the training part, no cold-start set),
  top-1 on the same held-out fifth — how many decisions a new deployment needs without the shipped set;
- suggestion latency: triage_suggest as the API and the pages call it (one query for the newest model's id, one
  for the categories, the model already loaded in the process), p50/p99 over many calls; and the engine alone;
- training time for 100,000 decisions. The project has no 100,000 real decisions: they are SYNTHESISED by
  resampling the training part and perturbing each copy (a hotline opening and closing, a place name, a dropped
  character), then fitted as `triage_train` fits (vectorizer and both classifiers). The held-out fifth was never
  resampled, so the accuracy of that model on it is also reported.
"""

import random
import statistics
import time

TITLE = "triage suggestions: held-out accuracy, learning curve, latency, training time for 100,000 decisions"
NOTES = {
    "labelled": "lines in the shipped labelled set",
    "held_out": "lines held out (a stratified fifth)",
    "top1": "top-1 category accuracy on the held-out fifth (target ≥ 0.85)",
    "top3": "top-3 category accuracy on the held-out fifth",
    "kind_top1": "top-1 kind accuracy on the held-out fifth",
    "curve_top1_at_N": "top-1 on the held-out fifth of a model fitted on N staff decisions only (mean of 3 draws)",
    "suggest_p50_ms": "triage_suggest (with its two queries) median latency, ms (target < 20)",
    "suggest_p99_ms": "triage_suggest 99th percentile, ms",
    "suggest_place_p50_ms": "triage_suggest with a place (its grid's recent categories: one more query), median ms",
    "suggest_place_p99_ms": "triage_suggest with a place, 99th percentile ms",
    "engine_p50_ms": "engine.rank alone, median ms",
    "engine_p99_ms": "engine.rank alone, 99th percentile ms",
    "train_100k_s": "wall time to fit on 100,000 synthesised decisions (resampled and perturbed training part)",
    "train_100k_top1": "top-1 on the held-out fifth of the model fitted on the 100,000 synthesised decisions",
    "model_bytes_100k": "size of that model pickled (as stored in TriageModel.blob)",
    "meets_targets": "1 when top1 ≥ 0.85 and suggest_p50_ms < 20",
}

OPENINGS = ["", "", "您好，", "喂，你好，", "你好，我想反映一下，", "您好，是这样的，", "喂，我跟你说个事，"]
PLACES = ["", "", "我是金东南小区的，", "我住金岭路社区，", "我们3栋2单元，", "在黄金岭街道这边，", "我家在12栋，"]
CLOSINGS = ["", "", "麻烦尽快处理。", "谢谢。", "希望有人来看看。", "已经好几天了。", "请帮忙解决一下。"]
CURVE = [12, 24, 48, 96, 192]
LATENCY_CALLS = 1000
SYNTHETIC = 100_000


def perturb(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 2)):
        if len(chars) > 8:
            del chars[rng.randrange(len(chars))]
    return rng.choice(OPENINGS) + rng.choice(PLACES) + "".join(chars) + rng.choice(CLOSINGS)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(ctx) -> dict:
    from grids.models import Area
    from grids.services import area_create
    from issues.demo import demo_categories, demo_departments
    from triage import engine
    from triage.suggest import triage_suggest
    from triage.training import fit_examples, labelled_set, split, triage_train

    out: dict = {}
    examples = labelled_set()
    train, held = split(examples)
    texts, cats = [e.description for e in held], [e.category for e in held]
    out["labelled"], out["held_out"] = len(examples), len(held)

    fitted = fit_examples(train)
    top1, top3 = engine.accuracy(fitted, texts, cats)
    kinds = engine.rank_many(fitted, texts, limit=1)
    out["top1"], out["top3"] = round(top1, 4), round(top3, 4)
    out["kind_top1"] = round(sum(r[0].kind == e.kind for r, e in zip(kinds, held, strict=True)) / len(held), 4)
    ctx.log(f"held-out: top-1 {top1:.3f}, top-3 {top3:.3f}")

    rng = random.Random(14)
    for n in [*CURVE, len(train)]:
        scores = []
        for _ in range(3 if n < len(train) else 1):
            sample = rng.sample(train, n)
            if len({e.category for e in sample}) < 2:
                continue
            staff = [type(e)(e.description, e.category, e.kind, staff=True) for e in sample]
            scores.append(engine.accuracy(fit_examples(staff), texts, cats)[0])
        out[f"curve_top1_at_{n}"] = round(statistics.mean(scores), 4)
        ctx.log(f"curve: {n} decisions → top-1 {out[f'curve_top1_at_{n}']:.3f}")

    # Latency as served: the demo categories in a database, a stored model, triage_suggest called per description.
    district = area_create(code="360702", name="章贡区", level=Area.Level.DISTRICT)
    street = area_create(code="360702091", name="黄金岭街道", level=Area.Level.STREET, parent=district)
    community = area_create(code="360702091005", name="金东南路社区", level=Area.Level.COMMUNITY, parent=street)
    grid = area_create(code="360702091005001", name="第1网格", level=Area.Level.GRID, parent=community)
    demo_categories(departments=demo_departments(district=district))
    triage_train(measure=False)
    triage_suggest(texts[0])  # load the model once, as the first request of a process does
    timings, place_timings, engine_timings = [], [], []
    for i in range(LATENCY_CALLS):
        text = texts[i % len(texts)]
        start = time.perf_counter()
        triage_suggest(text)
        timings.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        triage_suggest(text, place=grid)
        place_timings.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        engine.rank(fitted, text)
        engine_timings.append((time.perf_counter() - start) * 1000)
    out["suggest_p50_ms"] = round(_percentile(timings, 0.5), 3)
    out["suggest_p99_ms"] = round(_percentile(timings, 0.99), 3)
    out["suggest_place_p50_ms"] = round(_percentile(place_timings, 0.5), 3)
    out["suggest_place_p99_ms"] = round(_percentile(place_timings, 0.99), 3)
    out["engine_p50_ms"] = round(_percentile(engine_timings, 0.5), 3)
    out["engine_p99_ms"] = round(_percentile(engine_timings, 0.99), 3)
    ctx.log(f"latency: p50 {out['suggest_p50_ms']} ms, p99 {out['suggest_p99_ms']} ms")

    synthetic = []
    for _ in range(SYNTHETIC):
        e = rng.choice(train)
        synthetic.append(type(e)(perturb(e.description, rng), e.category, e.kind, staff=True))
    start = time.perf_counter()
    big = fit_examples(synthetic)
    out["train_100k_s"] = round(time.perf_counter() - start, 2)
    out["train_100k_top1"] = round(engine.accuracy(big, texts, cats)[0], 4)
    out["model_bytes_100k"] = len(engine.dumps(big))
    ctx.log(f"100,000 synthesised decisions: {out['train_100k_s']} s, top-1 {out['train_100k_top1']:.3f}")
    out["meets_targets"] = int(out["top1"] >= 0.85 and out["suggest_p50_ms"] < 20)
    return out
