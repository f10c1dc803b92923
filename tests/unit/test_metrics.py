"""workers.ops.metrics: naming conventions, label sets, registry isolation, build info, loop lag."""

from __future__ import annotations

import asyncio
import multiprocessing
import platform
import re
import time

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from workers import __version__
from workers.ops.loopmon import EventLoopMonitor
from workers.ops.metrics import (
    DUPLICATE_KINDS,
    ENTITY_LABELS,
    NO_SOURCE,
    OTHER_SOURCE,
    STAGE_OUTCOMES,
    STAGES,
    ChildProcessCollector,
    Metrics,
    SourceLabels,
)
from workers.records import REJECT_REASONS, REMOVAL_REASONS, DuplicateKind

# The names the agents and the app use (workers/stream/agents.py, workers/stream/app.py).
INTERFACE = {
    "stage_in": ("newsflow_stage_messages_in", "counter", {"stage"}),
    "stage_out": ("newsflow_stage_messages_out", "counter", {"stage", "outcome"}),
    "stage_seconds": ("newsflow_stage_duration_seconds", "histogram", {"stage"}),
    "e2e_seconds": ("newsflow_end_to_end_latency_seconds", "histogram", set()),
    "batch_size": ("newsflow_tag_batch_size_articles", "histogram", set()),
    "inference_seconds": ("newsflow_tag_inference_seconds", "histogram", set()),
    "duplicates": ("newsflow_duplicates", "counter", {"kind"}),
    "deadletters": ("newsflow_deadletters", "counter", {"stage", "reason"}),
    "lines_removed": ("newsflow_clean_lines_removed", "counter", {"reason"}),
    "entities": ("newsflow_entities", "counter", {"label"}),
    "consumer_lag": ("newsflow_consumer_lag_messages", "gauge", {"topic", "partition"}),
    "loop_lag": ("newsflow_event_loop_lag_seconds", "histogram", set()),
    "dedup_entries": ("newsflow_dedup_index_entries", "gauge", set()),
    "dedup_state_bytes": ("newsflow_dedup_state_bytes", "gauge", set()),
    "tag_workers": ("newsflow_tag_pool_workers", "gauge", set()),
    "ready": ("newsflow_ready", "gauge", set()),
    "build_info": ("newsflow_build", "info", set()),
    "clean_source_articles": ("newsflow_clean_source_articles", "counter", {"source"}),
    "clean_source_empty": ("newsflow_clean_source_empty_articles", "counter", {"source"}),
    "clean_source_lines_in": ("newsflow_clean_source_input_lines", "counter", {"source"}),
    "clean_source_lines_removed": ("newsflow_clean_source_removed_lines", "counter", {"source"}),
    "clean_source_language_checked": ("newsflow_clean_source_language_checked_articles",
                                      "counter", {"source"}),
    "clean_source_language_mismatch": ("newsflow_clean_source_language_mismatch_articles",
                                       "counter", {"source"}),
}
# `source` is bounded by SourceLabels (configured + first N seen + other + none).
ALLOWED_LABELS = {"stage", "outcome", "reason", "kind", "label", "topic", "partition", "source"}
# A metric name ends in a base unit or a counted thing; gauges that are flags are listed.
UNIT_SUFFIX = re.compile(r"_(seconds|bytes|messages|articles|entries|workers|stories)$")
UNITLESS_OK = {"newsflow_ready", "newsflow_stalled", "newsflow_build", "newsflow_duplicates",
               "newsflow_deadletters", "newsflow_entities", "newsflow_clean_lines_removed",
               "newsflow_stage_messages_in", "newsflow_stage_messages_out"}


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def _families(m: Metrics) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(m.render()[0].decode())}


@pytest.mark.parametrize("attr", sorted(INTERFACE))
def test_interface_names_types_and_labels(metrics: Metrics, attr: str) -> None:
    name, kind, labels = INTERFACE[attr]
    metric = getattr(metrics, attr)
    assert metric._name == name
    assert metric._type == kind
    assert set(metric._labelnames) == labels


def test_names_follow_conventions(metrics: Metrics) -> None:
    for family in metrics.registry.collect():
        if not family.name.startswith("newsflow_"):
            continue
        assert family.name.count("newsflow") == 1, family.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", family.name), family.name
        if family.type in ("histogram", "gauge") and family.name not in UNITLESS_OK:
            assert UNIT_SUFFIX.search(family.name), f"{family.name} has no unit suffix"
        assert not family.name.endswith(("_milliseconds", "_ms", "_kb", "_mb")), family.name
        assert family.documentation, f"{family.name} has no help text"


def test_counters_are_exposed_with_total(metrics: Metrics) -> None:
    metrics.initialise_labels()
    text = metrics.render()[0].decode()
    counters = re.findall(r"^# TYPE (newsflow_\S+) counter$", text, re.M)
    assert counters
    assert all(name.endswith("_total") for name in counters), counters


def test_label_sets_are_small_fixed_and_carry_no_ids(metrics: Metrics) -> None:
    metrics.initialise_labels()
    metrics.consumer_lag.labels(topic="articles.raw", partition="0").set(3)
    for family in metrics.registry.collect():
        if not family.name.startswith("newsflow_") or family.type == "info":
            continue
        for sample in family.samples:
            assert set(sample.labels) - {"le"} <= ALLOWED_LABELS, (family.name, sample.labels)


def test_initialise_labels_creates_every_fixed_series_at_zero(metrics: Metrics) -> None:
    metrics.initialise_labels()
    fams = _families(metrics)
    def values(name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {tuple(sorted(s.labels.items())): s.value for s in fams[name].samples  # type: ignore[attr-defined]
                if s.name == name + "_total"}

    out = values("newsflow_stage_messages_out")
    assert len(out) == sum(len(v) for v in STAGE_OUTCOMES.values())
    assert set(values("newsflow_stage_messages_in")) == {(("stage", s),) for s in STAGES}
    dead = values("newsflow_deadletters")
    assert {dict(k)["reason"] for k in dead} == set(REJECT_REASONS)
    assert len(dead) == len(STAGES) * len(REJECT_REASONS)
    assert {dict(k)["reason"] for k in values("newsflow_clean_lines_removed")} == set(
        REMOVAL_REASONS)
    assert {dict(k)["kind"] for k in values("newsflow_duplicates")} == set(DUPLICATE_KINDS)
    assert len(values("newsflow_entities")) == len(ENTITY_LABELS)
    assert all(v == 0 for name in ("newsflow_stage_messages_out", "newsflow_deadletters")
               for v in values(name).values())
    stage_counts = [s for s in fams["newsflow_stage_duration_seconds"].samples  # type: ignore[attr-defined]
                    if s.name.endswith("_count")]
    assert {s.labels["stage"] for s in stage_counts} == set(STAGES)


def test_duplicate_kinds_match_records() -> None:
    assert set(DUPLICATE_KINDS) == set(DuplicateKind.__args__)  # type: ignore[attr-defined]


def test_registry_is_replaceable_and_not_global() -> None:
    own = CollectorRegistry()
    first = Metrics(own)
    first.stage_in.labels(stage="clean").inc(5)
    assert own.get_sample_value("newsflow_stage_messages_in_total", {"stage": "clean"}) == 5
    assert REGISTRY.get_sample_value("newsflow_stage_messages_in_total", {"stage": "clean"}) is None
    with pytest.raises(ValueError, match="Duplicated"):
        Metrics(own)  # the metrics really live in the registry handed in
    second = Metrics()
    assert second.registry is not REGISTRY
    assert second.registry.get_sample_value(
        "newsflow_stage_messages_in_total", {"stage": "clean"}) is None


def test_default_registry_has_process_and_platform_collectors() -> None:
    names = {f.name for f in Metrics().registry.collect()}
    assert {"process_cpu_seconds", "process_resident_memory_bytes", "python_info",
            "newsflow_child_processes_cpu_seconds"} <= names


def test_build_info(metrics: Metrics) -> None:
    metrics.set_build_info("en_core_web_sm")
    sample = next(s for f in metrics.registry.collect() if f.name == "newsflow_build"
                  for s in f.samples)
    assert sample.name == "newsflow_build_info"
    assert sample.value == 1
    assert sample.labels["version"] == __version__
    assert sample.labels["python"] == platform.python_version()
    assert sample.labels["spacy_model"] == "en_core_web_sm"
    assert re.match(r"\d+\.\d+", sample.labels["faust"])
    assert re.match(r"\d+\.\d+", sample.labels["aiokafka"])


def test_render_is_valid_exposition(metrics: Metrics) -> None:
    metrics.initialise_labels()
    metrics.stage_seconds.labels(stage="clean").observe(0.003)
    metrics.e2e_seconds.observe(1.5)
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    fams = _families(metrics)
    hist = fams["newsflow_stage_duration_seconds"]
    count = next(s for s in hist.samples  # type: ignore[attr-defined]
                 if s.name.endswith("_count") and s.labels["stage"] == "clean")
    assert count.value == 1
    assert b"newsflow_end_to_end_latency_seconds_bucket{le=\"2.5\"} 1.0" in body


@pytest.mark.parametrize(("attr", "low", "high"), [
    ("stage_seconds", 0.0001, 1.0),  # dedup ~50 µs ... HTML extraction 100 ms+
    ("e2e_seconds", 0.01, 60.0),
    ("inference_seconds", 0.05, 5.0),
    ("batch_size", 1.0, 32.0),
    ("loop_lag", 0.001, 1.0),
])
def test_buckets_cover_the_measured_ranges(metrics: Metrics, attr: str, low: float,
                                           high: float) -> None:
    buckets = [b for b in getattr(metrics, attr)._upper_bounds if b != float("inf")]
    assert buckets == sorted(set(buckets))
    assert buckets[0] <= low and buckets[-1] >= high


async def test_event_loop_monitor_sees_a_blocked_loop(metrics: Metrics) -> None:
    monitor = EventLoopMonitor(metrics)
    task = asyncio.create_task(monitor.run(interval=0.01))
    await asyncio.sleep(0.05)
    before = monitor.last_tick
    time.sleep(0.2)  # block the loop on purpose
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert monitor.max_lag >= 0.15
    assert monitor.last_tick > before
    count = metrics.registry.get_sample_value("newsflow_event_loop_lag_seconds_count")
    assert count is not None and count >= 3
    fast = metrics.registry.get_sample_value("newsflow_event_loop_lag_seconds_bucket",
                                             {"le": "0.1"})
    assert fast is not None and fast <= count - 1  # the blocked tick is over 0.1 s
    assert monitor.reset_max() >= 0.15 and monitor.max_lag == 0.0


def test_event_loop_monitor_rejects_bad_interval() -> None:
    with pytest.raises(ValueError, match="positive"):
        asyncio.run(EventLoopMonitor().run(interval=0))


def _spin(seconds: float, done: multiprocessing.synchronize.Event) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    done.set()
    time.sleep(30)


def test_child_process_collector_counts_children_cpu() -> None:
    ctx = multiprocessing.get_context("spawn")
    done = ctx.Event()
    child = ctx.Process(target=_spin, args=(0.3, done), daemon=True)
    child.start()
    try:
        assert done.wait(30)
        families = {f.name: f for f in ChildProcessCollector().collect()}
        cpu = families["newsflow_child_processes_cpu_seconds"].samples[0].value
        rss = families["newsflow_child_processes_resident_memory_bytes"].samples[0].value
        assert cpu >= 0.25
        assert rss > 1_000_000
    finally:
        child.terminate()
        child.join(5)


def test_cached_labels_return_the_live_child(metrics: Metrics) -> None:
    child = metrics.stage_out.labels(stage="dedup", outcome="unique")
    assert metrics.stage_out.labels(stage="dedup", outcome="unique") is child
    assert metrics.stage_out.labels("dedup", "unique") is child  # positional: same series
    child.inc(2)
    metrics.stage_out.remove("dedup", "unique")  # drops the series and the cache
    metrics.stage_out.labels(stage="dedup", outcome="unique").inc()
    assert metrics.registry.get_sample_value(
        "newsflow_stage_messages_out_total", {"stage": "dedup", "outcome": "unique"}) == 1
    with pytest.raises(ValueError, match="Incorrect label names"):
        metrics.stage_out.labels(stage="dedup")
    with pytest.raises(ValueError, match="No label names"):
        metrics.e2e_seconds.labels(stage="x")


def test_benchmark_replays_the_agents_calls(metrics: Metrics) -> None:
    from workers.tools.bench.metrics_overhead import clean_calls, dedup_calls, tag_calls

    clean_calls(metrics, ["boilerplate", "repeated", "boilerplate"])
    dedup_calls(metrics, "near", 7)
    tag_calls(metrics, ["PERSON", "ORG"], True, 4)
    value = metrics.registry.get_sample_value
    assert value("newsflow_clean_lines_removed_total", {"reason": "boilerplate"}) == 2
    assert value("newsflow_duplicates_total", {"kind": "near"}) == 1
    assert value("newsflow_stage_messages_out_total", {"stage": "dedup",
                                                      "outcome": "duplicate"}) == 1
    # The index gauges are read at scrape time (set_function), not set per article.
    assert value("newsflow_dedup_index_entries") == 0
    assert value("newsflow_stage_messages_in_total", {"stage": "tag"}) == 4
    assert value("newsflow_entities_total", {"label": "ORG"}) == 1
    assert value("newsflow_end_to_end_latency_seconds_count") == 1


def test_stage_labels_are_the_pipeline_stage_names() -> None:
    from workers.stream.agents import PIPELINE

    assert tuple(PIPELINE) == STAGES


def test_source_labels_are_bounded() -> None:
    labels = SourceLabels(configured=["watched.example", " ", "watched.example"], slots=2)
    assert labels("watched.example") == "watched.example"
    assert [labels(f"site{i}.example") for i in range(5)] == [
        "site0.example", "site1.example", OTHER_SOURCE, OTHER_SOURCE, OTHER_SOURCE]
    assert labels("site1.example") == "site1.example"  # a label once given stays
    assert labels(None) == NO_SOURCE and labels("") == NO_SOURCE
    assert labels("x" * 500) == OTHER_SOURCE
    assert labels.values() == ["watched.example", "site0.example", "site1.example",
                               OTHER_SOURCE, NO_SOURCE]
    assert SourceLabels(slots=1)("y" * 500) == "y" * 80  # long names are cut


def test_clean_source_metrics_use_at_most_the_bounded_label_set() -> None:
    from workers.records import RawArticle
    from workers.stages.clean_report import report

    metrics = Metrics(CollectorRegistry(), sources=SourceLabels(["watched.example"], slots=3))
    metrics.initialise_labels()
    for i in range(200):
        raw = RawArticle(id=f"a{i}", body="x", source=f"site{i}.example", language="de")
        metrics.observe_clean(report(raw, 10, 4, "en", empty=False))
    watched = RawArticle(id="w", body="x", source="watched.example", language="en")
    metrics.observe_clean(report(watched, 5, 5, None, empty=True))
    metrics.observe_clean(report(RawArticle(id="n", body="x"), 3, 0, "en", empty=False))
    reg = metrics.registry

    def value(name: str, source: str) -> float | None:
        return reg.get_sample_value(f"newsflow_clean_source_{name}_total", {"source": source})

    sources = {s.labels["source"] for f in reg.collect() if f.name.startswith(
        "newsflow_clean_source_") for s in f.samples}
    assert sources == {"watched.example", "site0.example", "site1.example", "site2.example",
                       OTHER_SOURCE, NO_SOURCE}
    assert value("articles", OTHER_SOURCE) == 197
    assert value("input_lines", OTHER_SOURCE) == 1970
    assert value("removed_lines", OTHER_SOURCE) == 788
    assert value("language_checked_articles", OTHER_SOURCE) == 197
    assert value("language_mismatch_articles", OTHER_SOURCE) == 197
    assert value("empty_articles", OTHER_SOURCE) == 0
    assert value("empty_articles", "watched.example") == 1
    assert value("language_checked_articles", "watched.example") == 0  # nothing detected
    assert value("language_checked_articles", NO_SOURCE) == 0  # nothing declared
    assert value("articles", NO_SOURCE) == 1
