"""``newsflow bench pipeline`` in a small run against the real broker: the JSON's structure and
its bookkeeping (every input accounted for, figures consistent with each other), not its speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workers.settings import Settings
from workers.tools.bench.pipeline import Plan, bench_pipeline
from workers.tools.bench.pipeline_measure import HOPS
from workers.tools.bench.pipeline_report import ROW_HEADING


def test_bench_pipeline_quick(kafka: Settings, shared_data: Path, tmp_path: Path) -> None:
    settings = kafka.model_copy(update={"shared_data_dir": shared_data})
    record = tmp_path / "BENCHMARKS.md"
    record.write_text("# Benchmarks\n\nearlier text\n")
    plan = Plan(articles=40, seconds=4.0, loads=(0.5,), tag_workers=1, quick=True,
                drain_timeout=120.0, warmup=10, rounds=2)
    folders_before = set(Path("var").glob("bench-*"))
    result = bench_pipeline(settings, plan, tmp_path / "out", record)
    # every run's table folders are gone when it stops (warm-up, two rounds, the load level)
    assert set(Path("var").glob("bench-*")) <= folders_before

    saved = json.loads((tmp_path / "out" / "pipeline.json").read_text())
    assert saved["capacity"]["produced"] == 40
    # the session's broker was up before the benchmark: it did not start (a cold) one
    assert saved["broker_started_by_benchmark"] is False
    assert (tmp_path / "out" / "pipeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    cap = result["capacity"]
    # Every input comes out exactly once, on one of the three output topics.
    assert cap["missing"] == 0
    assert cap["enriched"] + cap["duplicates"] + cap["deadletter"] == 40
    assert cap["enriched"] > 0
    assert cap["enriched_per_s"] <= cap["inputs_per_s"] * 1.0001 or cap["duplicates"] == 0
    lat = cap["latency_s"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    # The stages saw what went through them: clean every input, tag the enriched ones.
    assert cap["stages"]["clean"]["articles"] == 40
    # The event loop's CPU in the handlers: some in each, and together no more than the worker
    # process's CPU over the phase.
    handlers_ms = 0.0
    for stage in ("clean", "dedup", "story"):
        figures = cap["stages"][stage]
        assert figures["cpu_ms_per_article"] > 0, stage
        handlers_ms += figures["cpu_ms_per_article"] * figures["articles"]
    assert handlers_ms <= 1000 * cap["cpu"]["seconds"]["worker_parent"] * 1.01
    assert cap["stages"]["tag"]["articles"] == cap["enriched"]
    assert cap["hops"]["unique->tagged"]["articles"] == cap["enriched"]
    assert set(cap["hops"]) == {f"{src}->{dst}" for _, src, dst in HOPS}
    assert cap["cpu"]["seconds"]["worker_parent"] > 0
    assert cap["cpu"]["seconds"]["tag_children"] > 0

    # The warm-up ran first, on a run of its own, and is kept apart from the measurement.
    assert saved["warmup"]["articles"] == 10
    assert saved["warmup"]["cpu_ms_per_input"]["worker_parent"] > 0

    bare = result["bare_model"]
    assert bare["articles"] == cap["enriched"]  # the same texts the tag stage ran
    assert bare["pool"]["processes"] == 1
    assert result["ratio_to_bare_pool"] == round(
        cap["enriched_per_s"] / bare["pool"]["articles_per_s"], 3)
    # the bare pool re-run at the end, with the pool's process count, and the ratio to it
    again = bare["pool_again"]
    assert again["processes"] == bare["pool"]["processes"] and again["articles_per_s"] > 0
    assert result["ratio_to_bare_pool_again"] == round(
        cap["enriched_per_s"] / again["articles_per_s"], 3)

    # Two alternating rounds: the first is the capacity and bare pool above, the second drained
    # the same backlog on a run of its own (nothing missing) and ran the bare pool again.
    first, second = result["rounds"]
    assert first["enriched_per_s"] == cap["enriched_per_s"]
    assert first["ratio"] == result["ratio_to_bare_pool"]
    assert first["cpu_ratio"] == result["cpu_ratio_to_bare_pool"]
    assert second["enriched_per_s"] > 0 and second["bare_pool_per_s"] > 0
    assert second["ratio"] == round(second["enriched_per_s"] / second["bare_pool_per_s"], 3)
    assert second["cpu_ms_per_input"]["tag_children"] > 0
    low, high = sorted((first["ratio"], second["ratio"]))
    assert low <= result["ratio_median"] <= high

    (phase,) = result["loads"]
    assert phase["share_of_capacity"] == 0.5
    assert phase["missing"] == 0
    assert phase["produced"] == phase["enriched"] + phase["duplicates"] + phase["deadletter"]
    assert phase["samples"] and phase["samples"][-1]["produced"] <= phase["produced"]
    assert all(s["backlog"] == s["produced"] - s["out"] for s in phase["samples"])
    # CPU per input at the load level, per process, over the level and its drain
    assert phase["cpu"]["seconds"]["worker_parent"] > 0
    assert phase["cpu"]["seconds"]["tag_children"] > 0
    assert phase["cpu"]["ms_per_input"]["worker_parent"] == pytest.approx(
        1000 * phase["cpu"]["seconds"]["worker_parent"] / phase["produced"], abs=0.01)

    text = record.read_text()
    assert text.startswith("# Benchmarks\n\nearlier text\n")
    assert text.count(ROW_HEADING) == 1
    assert text.rstrip().splitlines()[-1].endswith("| quick |")
