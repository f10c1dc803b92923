"""``newsflow bench eventloop`` in a small run against the real broker: each loop is the one
measured, and the figures are the process's CPU per round trip (not their values)."""

from __future__ import annotations

from workers.settings import Settings
from workers.tools.bench.eventloop import bench_eventloop


def test_bench_eventloop_measures_each_loop(kafka: Settings) -> None:
    result = bench_eventloop(kafka, messages=50, size=1000, rounds=2)
    assert [r["loop"] for r in result["runs"]["uvloop"]] == ["uvloop.Loop"] * 2
    assert all(r["loop"].startswith("asyncio.") for r in result["runs"]["asyncio"])
    for loop in ("asyncio", "uvloop"):
        for run in result["runs"][loop]:
            # a round trip takes CPU, and the process cannot use more than all the cores
            assert 0 < run["cpu_us_per_message"] <= run["wall_us_per_message"] * result["cores"]
    assert result["uvloop_cpu_ratio"] == round(
        result["uvloop"]["cpu_us_per_message"] / result["asyncio"]["cpu_us_per_message"], 3)
