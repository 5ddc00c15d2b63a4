"""The triage benchmark's part of docs/benchmarks.md is written from its figures, and its synthesised decisions keep
the text they perturb."""

import random

from bench.bench_triage import perturb
from bench.run import triage_section


def test_the_benchmarks_doc_shows_the_triage_figures_and_the_learning_curve():
    figures = {"labelled": 415, "held_out": 77, "top1": 0.9351, "top3": 0.987, "suggest_p50_ms": 2.9,
               "curve_top1_at_12": 0.333, "curve_top1_at_192": 0.879}  # fmt: skip
    results = {"benchmarks": {"triage": {"figures": figures, "measured_at": "t", "machine": {"cpus": 2}}}}
    text = "\n".join(triage_section(results))
    assert "| top-1 category, held-out fifth of the labelled set | ≥ 0.85 | 0.9351 |" in text
    assert "| staff decisions | 12 | 192 |" in text and "| top-1 | 0.333 | 0.879 |" in text
    assert triage_section({"benchmarks": {}}) == []


def test_a_synthesised_decision_keeps_most_of_its_text():
    rng = random.Random(1)
    original = "楼道里堆满了纸箱子，上下楼很不方便"
    for _ in range(50):
        copy = perturb(original, rng)
        assert sum(c in copy for c in original) >= len(original) - 2
