"""``newsflow bench metrics``: what instrumentation costs per article, against the stages' CPU.

Target: the metric calls on the hot path cost at most 2 % of the per-article CPU. Two figures,
both from the same run and both in CPU time of this process (``time.process_time``, so other
processes on the machine do not count):

* **isolated**: the exact per-article metric calls of ``workers.stream.agents.Handlers`` (counter
  ``inc``, histogram ``observe``, one ``lines_removed`` per removed line, one ``entities`` per
  entity, ``duplicates`` per duplicate, the ``perf_counter``/``time`` reads that feed them,
  per-batch calls amortised), replayed on the outcomes the stages produced, divided by the
  stage's own per-article CPU;
* **with / without**: the stage run over the same articles with and without those calls,
  passes interleaved, the fastest of ``rounds`` each. It includes the real cache effects but is
  noisier than the difference it measures, so the isolated figure is the one to hold to target.

Stages are used when importable (``workers.stages.clean`` on ``cleaning-dev.jsonl``,
``workers.stages.dedup`` on ``dedup-dev.jsonl``, ``workers.stages.entities`` on the first
``tag_articles`` of ``news-dev.jsonl`` in batches of ``tag_batch``, in this process, its entity
labels replayed). Without the tagger or its model, the tagging cost is taken with
``entities_per_article`` entities (default 40; measured 38.5 per BBC article, all labels) against
``tag_ms_per_article`` (default 20 ms, the fastest 1 % of articles with en_core_web_sm).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.table import Table

from workers.ops.metrics import ENTITY_LABELS, Metrics
from workers.records import CleanedArticle, RawArticle
from workers.settings import Settings

TARGET_PCT = 2.0
_FETCHED_AT = "2026-11-28T09:00:00Z"


def _read_jsonl(settings: Settings, name: str) -> list[dict[str, Any]]:
    path = Path(settings.shared_data_dir) / name
    if not path.is_file():
        raise SystemExit(f"benchmark data not found: {path} (set NEWSFLOW_SHARED_DATA_DIR)")
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _cpu(fn: Callable[[], object], rounds: int) -> float:
    """Fastest CPU seconds of ``rounds`` calls of ``fn``."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


# --- the agents' per-article metric calls (mirrors workers/stream/agents.py) -------------------
def clean_calls(m: Metrics, removed: Sequence[str]) -> None:
    m.stage_in.labels(stage="clean").inc()
    started = time.perf_counter()
    elapsed = time.perf_counter() - started
    for reason in removed:
        m.lines_removed.labels(reason=reason).inc()
    m.stage_seconds.labels(stage="clean").observe(elapsed)
    m.stage_out.labels(stage="clean", outcome="ok").inc()


def dedup_calls(m: Metrics, kind: str | None, entries: int) -> None:
    m.stage_in.labels(stage="dedup").inc()
    started = time.perf_counter()
    elapsed = time.perf_counter() - started
    if kind is not None:
        m.duplicates.labels(kind=kind).inc()
    m.stage_seconds.labels(stage="dedup").observe(elapsed)
    m.stage_out.labels(stage="dedup", outcome="duplicate" if kind else "unique").inc()
    # The index gauges (entries, state bytes) are read at scrape time (set_function), not
    # per article; `entries` stays in the signature for the callers.
    del entries


def tag_calls(m: Metrics, labels: Sequence[str], first_in_batch: bool, batch: int) -> None:
    """One article of a tagging batch; the per-batch calls run for the batch's first article."""
    if first_in_batch:
        m.stage_in.labels(stage="tag").inc(batch)
        m.batch_size.observe(batch)
        m.inference_seconds.observe(0.1)
    now = time.time()
    for label in labels:
        m.entities.labels(label=label).inc()
    # The agents parse fetched_at for the end-to-end latency (workers.stream.agents.event_time).
    fetched = datetime.fromisoformat(_FETCHED_AT.replace("Z", "+00:00")).timestamp()
    m.e2e_seconds.observe(max(0.0, now - fetched))
    m.stage_seconds.labels(stage="tag").observe(0.01)
    m.stage_out.labels(stage="tag", outcome="ok").inc()


# --- stages -----------------------------------------------------------------------------------
def _clean_workload(settings: Settings, n: int) -> tuple[Callable[[bool, Metrics], None],
                                                          list[list[str]]] | None:
    try:
        from workers.stages.clean import make_cleaner
    except ImportError:
        return None
    rows = _read_jsonl(settings, "cleaning-dev.jsonl")
    raws = [RawArticle(id=str(r["id"]), body=r["raw"], title=r.get("title"))
            for r in (rows[i % len(rows)] for i in range(n))]
    cleaner = make_cleaner(settings)
    removed: list[list[str]] = []
    for raw in raws:
        result = cleaner.clean(raw)
        removed.append([line.reason for line in getattr(result, "removed", ())])

    def run(instrumented: bool, m: Metrics) -> None:
        for raw, reasons in zip(raws, removed, strict=True):
            cleaner.clean(raw)
            if instrumented:
                clean_calls(m, reasons)

    return run, removed


def _dedup_workload(settings: Settings, n: int) -> tuple[Callable[[bool, Metrics], None],
                                                          list[str | None], str] | None:
    try:
        from workers.stages.dedup import make_deduplicator
    except ImportError:
        return None
    rows = _read_jsonl(settings, "dedup-dev.jsonl")[:n]
    articles = [CleanedArticle(id=str(r["id"]), text=r["body"], title=r.get("title"),
                               ingested_at=1.7e9 + i) for i, r in enumerate(rows)]
    normalise, normaliser = _kb_normaliser()  # loaded once, as in the app
    probe = make_deduplicator(settings, normalise=normalise, state={})
    kinds: list[str | None] = [probe.check(a).kind for a in articles]

    def run(instrumented: bool, m: Metrics) -> None:
        dedup = make_deduplicator(settings, normalise=normalise, state={})
        for article in articles:
            verdict = dedup.check(article)
            if instrumented:
                dedup_calls(m, verdict.kind, dedup.entries)

    return run, kinds, normaliser


def _kb_normaliser() -> tuple[Callable[[str], str], str]:
    """The knowledge-base normaliser the app uses, else identity (named, for the report)."""
    try:
        from workers.kb import KnowledgeBase

        return KnowledgeBase.load().canonicalise_text, "knowledge base"
    except (ImportError, OSError):
        return (lambda text: text), "identity (workers.kb not available)"


def _tag_workload(settings: Settings, count: int, batch: int) -> tuple[float, list[list[str]]]:
    """CPU seconds per article of ``Tagger.tag_batch`` on news-dev articles, and their labels."""
    from workers.stages.entities import make_tagger

    rows = _read_jsonl(settings, "news-dev.jsonl")[:count]
    articles = [CleanedArticle(id=str(r["id"]), text=r["body"], title=r.get("title"))
                for r in rows]
    tagger = make_tagger(settings)
    tagger.tag_batch(articles[:2])  # warm-up: first call allocates
    labels: list[list[str]] = []
    start = time.process_time()
    for i in range(0, len(articles), batch):
        for result in tagger.tag_batch(articles[i:i + batch]):
            labels.append([e.label for e in result] if isinstance(result, tuple) else [])
    return (time.process_time() - start) / len(articles), labels


def _tag_figures(settings: Settings, metrics: Metrics, rounds: int, count: int, batch: int,
                 entities_per_article: int, assumed_ms: float) -> dict[str, Any]:
    try:
        stage, labels = _tag_workload(settings, count, batch) if count else (0.0, [])
        source = f"measured, {len(labels)} articles (same run)"
    except Exception as exc:  # no model installed, no knowledge base: fall back, say so
        stage, labels = 0.0, []
        source = f"assumed {assumed_ms} ms/article ({type(exc).__name__})"
    if not labels:
        stage = assumed_ms / 1e3
        labels = [[ENTITY_LABELS[i % 6] for i in range(entities_per_article)]]  # PERSON..LOC
        source = source if source.startswith("assumed") else f"assumed {assumed_ms} ms/article"
    n = max(len(labels), 1000)

    def replay_tag() -> None:
        for i in range(n):
            tag_calls(metrics, labels[i % len(labels)], i % batch == 0, batch)

    cost = _cpu(replay_tag, rounds) / n
    return {
        "metrics_us": cost * 1e6,
        "stage_us": stage * 1e6,
        "overhead_pct": 100 * cost / stage,
        "stage_source": source,
        "entities_per_article": sum(map(len, labels)) / len(labels),
    }


def bench_metrics_overhead(settings: Settings, n: int = 2000, rounds: int = 3,
                           tag_articles: int = 96, tag_batch: int = 32,
                           entities_per_article: int = 40,
                           tag_ms_per_article: float = 20.0) -> dict[str, Any]:
    """Run the benchmark, print a table and return the figures (microseconds, percent)."""
    metrics = Metrics(CollectorRegistry())
    metrics.initialise_labels()
    result: dict[str, Any] = {"articles": n, "rounds": rounds, "target_pct": TARGET_PCT}
    stages: dict[str, dict[str, Any]] = {}

    clean = _clean_workload(settings, n)
    if clean is not None:
        run, removed = clean
        def replay_clean() -> None:
            for reasons in removed:
                clean_calls(metrics, reasons)

        cost = _cpu(replay_clean, rounds) / n
        stages["clean"] = _compare(run, metrics, cost, rounds, len(removed))
        stages["clean"]["removed_lines_per_article"] = sum(map(len, removed)) / len(removed)
    dedup = _dedup_workload(settings, n)
    if dedup is not None:
        run, kinds, normaliser = dedup
        def replay_dedup() -> None:
            for i, kind in enumerate(kinds):
                dedup_calls(metrics, kind, i)

        cost = _cpu(replay_dedup, rounds) / len(kinds)
        stages["dedup"] = _compare(run, metrics, cost, rounds, len(kinds))
        stages["dedup"]["normaliser"] = normaliser
    stages["tag"] = _tag_figures(settings, metrics, rounds, tag_articles, tag_batch,
                                 entities_per_article, tag_ms_per_article)
    render = _cpu(metrics.render, rounds)
    result["stages"] = stages
    result["render_ms_per_scrape"] = render * 1e3
    worst = max(s["overhead_pct"] for s in stages.values())
    result["worst_overhead_pct"] = worst
    # One article's whole trip (every stage it passes), the figure the target is about.
    result["pipeline_overhead_pct"] = 100 * (
        sum(s["metrics_us"] for s in stages.values()) / sum(s["stage_us"] for s in stages.values()))
    result["meets_target"] = result["pipeline_overhead_pct"] <= TARGET_PCT
    _print(result)
    return result


def _compare(run: Callable[[bool, Metrics], None], metrics: Metrics, metric_cost: float,
             rounds: int, count: int) -> dict[str, Any]:
    """Per-article CPU of the stage with and without metrics, interleaved passes."""
    bare, instrumented = float("inf"), float("inf")
    for _ in range(rounds):
        bare = min(bare, _cpu(lambda: run(False, metrics), 1))
        instrumented = min(instrumented, _cpu(lambda: run(True, metrics), 1))
    stage = bare / count
    return {
        "metrics_us": metric_cost * 1e6,
        "stage_us": stage * 1e6,
        "overhead_pct": 100 * metric_cost / stage,
        "with_without_pct": 100 * (instrumented - bare) / bare,
        "stage_source": "measured (same run)",
    }


def _print(result: dict[str, Any]) -> None:
    table = Table(title=f"metrics overhead per article (CPU, target <= {TARGET_PCT:g} %)")
    table.add_column("stage")
    for column in ("metrics µs", "stage µs", "overhead %", "with/without %"):
        table.add_column(column, justify="right")
    table.add_column("stage figure")
    for name, s in result["stages"].items():
        table.add_row(name, f"{s['metrics_us']:.2f}", f"{s['stage_us']:.1f}",
                      f"{s['overhead_pct']:.2f}",
                      f"{s['with_without_pct']:+.2f}" if "with_without_pct" in s else "-",
                      s["stage_source"])
    console = Console()
    console.print(table)
    console.print(f"/metrics render: {result['render_ms_per_scrape']:.2f} ms per scrape; "
                  f"per article through the pipeline {result['pipeline_overhead_pct']:.2f} % "
                  f"({'meets' if result['meets_target'] else 'MISSES'} target); "
                  f"worst single stage {result['worst_overhead_pct']:.2f} %")


if __name__ == "__main__":
    bench_metrics_overhead(Settings.model_validate({}))
