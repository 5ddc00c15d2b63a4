"""The hot-spot benchmark runs (small sizes) and finds what the tests assert: one alert, constant queries."""

import pytest

from bench import bench_hotspots

pytestmark = pytest.mark.django_db


class Ctx:
    def log(self, message: str) -> None:
        pass


def test_the_benchmark_measures_constant_queries_and_one_alert(monkeypatch):
    monkeypatch.setattr(bench_hotspots, "SIZES", [0, 40])
    monkeypatch.setattr(bench_hotspots, "BURST", 8)
    figures = bench_hotspots.run(Ctx())
    assert figures["alerts_at_0"] == figures["alerts_at_40"] == 1
    for kind in ("below", "raise", "grow"):
        assert figures[f"queries_{kind}_at_0"] == figures[f"queries_{kind}_at_40"], kind
    assert figures["queries_spread_at_0"] == figures["queries_spread_at_40"] == 0
    assert figures["queries_raise_at_0"] > figures["queries_grow_at_0"]
