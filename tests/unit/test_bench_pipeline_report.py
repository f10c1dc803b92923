"""The pipeline benchmark's pure parts: the BENCHMARKS.md row, the backlog trend, the hops, the
load levels' base."""

from __future__ import annotations

from pathlib import Path

from workers.tools.bench.pipeline import load_rate_base
from workers.tools.bench.pipeline_measure import backlog_trend, hops
from workers.tools.bench.pipeline_report import ROW_HEADING, append_row, chart_title


def _result(quick: bool = False) -> dict:
    phase = {"latency_s": {"p99": 0.5}, "backlog": {"growing": False, "slope_per_s": 0.01}}
    return {
        "machine": {"cores": 2, "load_avg_start": [0.5], "load_avg_end": [1.5]},
        "plan": {"workers": 1, "tag_workers": 2, "articles": 1500, "quick": quick},
        "capacity": {"inputs_per_s": 40.0, "enriched_per_s": 38.0},
        "bare_model": {"single": {"articles_per_s": 30.0}, "pool": {"articles_per_s": 50.0}},
        "ratio_to_bare_pool": 0.76, "cpu_ratio_to_bare_pool": 0.8,
        "loads": [phase, {**phase, "latency_s": {"p99": 2.0}}],
    }


def test_rows_go_under_one_heading_in_order(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Other\n\ntext\n")
    append_row(_result(), path)
    append_row(_result(quick=True), path)
    text = path.read_text()
    assert text.count(ROW_HEADING) == 1 and text.startswith("# Benchmarks\n\n## Other\n\ntext\n")
    rows = [line for line in text.splitlines() if line.startswith("| 20")]
    assert len(rows) == 2
    assert rows[0].endswith("| full |") and rows[1].endswith("| quick |")
    assert "| 0.76 (0.8) |" in rows[0] and "| 0.50 / 2.00 |" in rows[0]


def test_row_gives_the_ratio_to_the_bare_pool_re_run(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    append_row({**_result(), "ratio_to_bare_pool_again": 0.84}, path)
    (row,) = [line for line in path.read_text().splitlines() if line.startswith("| 20")]
    assert "| 0.76 (0.8); 0.84 against the bare pool re-run at the end |" in row


def test_row_says_when_the_benchmark_started_the_broker_cold(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    append_row({**_result(), "broker_started_by_benchmark": True}, path)
    append_row({**_result(), "broker_started_by_benchmark": False}, path)
    rows = [line for line in path.read_text().splitlines() if line.startswith("| 20")]
    assert rows[0].endswith("| full, broker started cold |") and rows[1].endswith("| full |")


def test_row_gives_the_median_of_alternating_rounds(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    rounds = [{"ratio": 0.76}, {"ratio": 0.91}, {"ratio": 0.83}]
    append_row({**_result(), "rounds": rounds, "ratio_median": 0.83, "cpu_ratio_median": 0.8},
               path)
    (row,) = [line for line in path.read_text().splitlines() if line.startswith("| 20")]
    assert ("| 0.76 (0.8); **median of 3 alternating rounds 0.83** (0.76-0.91; CPU ratio 0.8) |"
            in row)


def test_chart_title_gives_the_median_of_several_rounds() -> None:
    one = chart_title(_result())
    assert "0.76 x bare nlp.pipe with the pool's processes\n(CPU ratio 0.8; 2 cores" in one
    assert "median" not in one and "round 1" not in one
    rounds = [{"ratio": 0.76}, {"ratio": 1.05}, {"ratio": 1.01}]
    several = chart_title({**_result(), "rounds": rounds, "ratio_median": 1.01,
                           "cpu_ratio_median": 0.97})
    assert "0.76 x bare nlp.pipe with the pool's processes in round 1\n" in several
    assert "(CPU ratio 0.8; median of 3 rounds 1.01 (CPU ratio 0.97); 2 cores" in several


def test_rows_are_inserted_before_text_that_follows_the_table(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    append_row(_result(), path)
    path.write_text(path.read_text() + "\n## Later section\n")
    append_row(_result(quick=True), path)
    lines = path.read_text().splitlines()
    table = [i for i, line in enumerate(lines) if line.startswith("| 20")]
    assert table == [table[0], table[0] + 1]
    assert lines.index("## Later section") > table[1]


def test_backlog_trend_tells_growing_from_steady() -> None:
    steady = [{"t_s": t, "backlog": 3 + (t % 2)} for t in range(40)]
    growing = [{"t_s": t, "backlog": 2 * t} for t in range(40)]
    assert backlog_trend(steady, rate=20.0)["growing"] is False
    trend = backlog_trend(growing, rate=20.0)
    assert trend["growing"] is True and abs(trend["slope_per_s"] - 2.0) < 1e-6
    assert backlog_trend(steady[:3], rate=20.0)["growing"] is None  # too short to say


def test_hops_subtract_the_stage_time_from_the_record_to_record_time() -> None:
    times = {"raw": {"a": 0.0, "b": 1.0}, "cleaned": {"a": 0.5, "b": 1.5}}
    series = 'newsflow_stage_duration_seconds_%s{stage="clean"}'
    before = [{series % "sum": 0.0, series % "count": 0.0}]
    after = [{series % "sum": 0.2, series % "count": 2.0}]
    result = hops(times, ["a", "b"], before, after)["raw->cleaned"]
    assert result["articles"] == 2
    assert result["mean_ms"] == 500.0 and result["stage_ms"] == 100.0
    assert result["wait_ms"] == 400.0
    assert hops(times, ["a"], before, after)["cleaned->unique"]["articles"] == 0


def test_load_levels_are_shares_of_the_median_round() -> None:
    capacity = {"inputs_per_s": 49.0}  # the first round, the fastest here
    rounds = [{"inputs_per_s": v} for v in (49.0, 46.4, 46.7)]
    assert load_rate_base(capacity, rounds) == 46.7
    assert load_rate_base(capacity, None) == 49.0  # one drain: its own rate


def test_a_given_rate_overrides_the_measured_capacity() -> None:
    capacity = {"inputs_per_s": 49.0}
    rounds = [{"inputs_per_s": v} for v in (49.0, 46.4, 46.7)]
    assert load_rate_base(capacity, rounds, 100.0) == 100.0
    assert load_rate_base(capacity, None, 100.0) == 100.0
    assert load_rate_base(capacity, rounds, None) == 46.7


def test_stand_in_ner_is_a_pipeline_the_tag_stage_loads(tmp_path: Path) -> None:
    from workers.stages.entities import load_pipeline
    from workers.tools.bench.pipeline import stand_in_ner

    folder = stand_in_ner(tmp_path / "stand-in" / "ner")
    nlp = load_pipeline(str(folder))
    assert nlp.pipe_names == ["ner"]
    assert list(nlp("Tony Blair spoke in London on Monday.").ents) == []
