"""Measurements of the pipeline benchmark (``workers.tools.bench.pipeline``): CPU per process,
the worker's metrics, stage and hand-off times, backlog trend, and the bare model's limit."""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import time
from typing import Any

import psutil

from workers.ops.metrics import CPU_TIMED_STAGES
from workers.settings import Settings
from workers.stream.runner import WorkerProcess

# (stage, its input topic, its output topic): the four hops of an article.
HOPS = (("clean", "raw", "cleaned"), ("dedup", "cleaned", "unique"),
        ("tag", "unique", "tagged"), ("story", "tagged", "enriched"))


def cpu_seconds(pid: int | None, *, descendants: bool = False) -> float:
    """User + system CPU seconds of a process (or of its live descendants)."""
    if pid is None:
        return 0.0
    try:
        proc = psutil.Process(pid)
        members = proc.children(recursive=True) if descendants else [proc]
    except psutil.Error:
        return 0.0
    total = 0.0
    for member in members:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def scrape(worker: WorkerProcess) -> dict[str, float]:
    """The worker's /metrics as {series: value} (series with their labels)."""
    try:
        _, body = worker.get("/metrics")
    except OSError:
        return {}
    values = {}
    for line in body.decode().splitlines():
        if line.startswith("newsflow_") and " " in line:
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                values[name] = float(value)
    return values


def metric_sum(values: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in values.items() if k.startswith(prefix))


def machine_busy() -> float:
    """CPU seconds all processes on the machine used (every core, since boot)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 4),
        "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 4),
        "max": round(ordered[-1], 4),
    }


def cpu_breakdown(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, Any]:
    """CPU seconds per process over the phase and per input. ``machine_busy_share``: the whole
    machine's CPU use over the phase (other work included) as a share of its cores; on a quiet
    machine, below 1 means cores idled while input waited. ``pipeline_share``: the worker's
    processes' share of the cores."""
    wall = after["wall"] - before["wall"]
    cores = os.cpu_count() or 1
    seconds = {k: round(after[k] - before[k], 3) for k in before if k != "wall"}
    busy = seconds.pop("machine_busy")
    return {
        "seconds": seconds,
        "ms_per_input": {k: round(1000 * v / max(1, n), 2) for k, v in seconds.items()},
        "phase_wall_s": round(wall, 2),
        "machine_busy_share": round(busy / (wall * cores), 3),
        "pipeline_share": round(
            (seconds["worker_parent"] + seconds["tag_children"]) / (wall * cores), 3),
    }


_STAGE_SUM = 'newsflow_stage_duration_seconds_sum{stage="%s"}'


_STAGE_COUNT = 'newsflow_stage_duration_seconds_count{stage="%s"}'


_STAGE_CPU = 'newsflow_stage_cpu_seconds_total{stage="%s"}'


def delta(before: list[dict[str, float]], after: list[dict[str, float]], series: str) -> float:
    return sum(a.get(series, 0.0) - b.get(series, 0.0) for b, a in zip(before, after, strict=True))


def stage_breakdown(before: list[dict[str, float]],
                     after: list[dict[str, float]]) -> dict[str, Any]:
    """Handler seconds per article of each stage, wall time (the tag stage's includes the pool's
    time; all include waits for a core), and the event-loop thread's CPU in the clean, dedup and
    story handlers."""
    stages: dict[str, Any] = {}
    for stage, _, _ in HOPS:
        total = delta(before, after, _STAGE_SUM % stage)
        count = delta(before, after, _STAGE_COUNT % stage)
        stages[stage] = {"articles": int(count),
                         "ms_per_article": round(1000 * total / count, 3) if count else None}
        if stage in CPU_TIMED_STAGES:
            cpu = delta(before, after, _STAGE_CPU % stage)
            stages[stage]["cpu_ms_per_article"] = round(1000 * cpu / count, 3) if count else None
    batches = delta(before, after, "newsflow_tag_batch_size_articles_count")
    articles = delta(before, after, "newsflow_tag_batch_size_articles_sum")
    inference = delta(before, after, "newsflow_tag_inference_seconds_sum")
    stages["tag_batches"] = {
        "batches": int(batches),
        "mean_articles": round(articles / batches, 1) if batches else None,
        "model_ms_per_article": round(1000 * inference / articles, 2) if articles else None,
    }
    return stages


def hops(times: dict[str, dict[str, float]], ids: list[str],
         before: list[dict[str, float]], after: list[dict[str, float]]) -> dict[str, Any]:
    """Per hop: record-to-record time (p50, mean) and the wait = mean hop - stage handler time.
    ``times``: topic key -> article id -> record time (``raw``: when it was produced)."""
    result = {}
    for stage, src, dst in HOPS:
        spans = [times[dst][i] - times[src][i] for i in ids
                 if i in times.get(src, {}) and i in times.get(dst, {})]
        count = delta(before, after, _STAGE_COUNT % stage)
        handler = delta(before, after, _STAGE_SUM % stage) / count if count else 0.0
        mean = statistics.fmean(spans) if spans else None
        result[f"{src}->{dst}"] = {
            "articles": len(spans),
            "p50_ms": round(1000 * statistics.median(spans), 1) if spans else None,
            "mean_ms": round(1000 * mean, 1) if mean is not None else None,
            "stage_ms": round(1000 * handler, 1),
            "wait_ms": round(1000 * (mean - handler), 1) if mean is not None else None,
        }
    return result


def per_worker(before: list[dict[str, float]], after: list[dict[str, float]]) -> list[dict]:
    """Articles each worker handled per stage (does the split across workers work?)."""
    rows = []
    for b, a in zip(before, after, strict=True):
        rows.append({stage: int(a.get(_STAGE_COUNT % stage, 0.0) - b.get(_STAGE_COUNT % stage, 0))
                     for stage, _, _ in HOPS})
    return rows


def backlog_trend(samples: list[dict[str, float]], rate: float) -> dict[str, Any]:
    """Backlog max and its slope (messages/s, least squares) over the phase's second half:
    a slope well above zero means the worker falls behind (growing lag)."""
    tail = samples[len(samples) // 2:]
    if len(tail) < 3:
        return {"max": max((s["backlog"] for s in samples), default=0), "slope_per_s": None,
                "growing": None}
    ts = [s["t_s"] for s in tail]
    bs = [s["backlog"] for s in tail]
    slope = statistics.linear_regression(ts, bs).slope
    return {
        "max": max(s["backlog"] for s in samples),
        "slope_per_s": round(slope, 3),
        # Falling behind by more than 2 % of the offered rate (or half an article a second).
        "growing": slope > max(0.5, 0.02 * rate),
    }


def bare_model(settings: Settings, texts: list[str], processes: int,
               single: bool = True) -> dict[str, Any]:
    """Bare ``nlp.pipe`` of the tag stage's pipeline over ``texts`` (an article's title and body
    are two texts): 1 process (``single``, unless ``single`` is False) and ``processes``
    (``pool``)."""
    from workers.stages.entities import load_pipeline

    nlp = load_pipeline(settings.spacy_model)
    list(nlp.pipe(texts[:20]))  # warm-up
    articles = len(texts) // 2
    result: dict[str, Any] = {"model": settings.spacy_model, "components": nlp.pipe_names,
                              "articles": articles}
    runs = [("single", 1), ("pool", processes)] if single else [("pool", processes)]
    for label, n_process in runs:
        started, cpu = time.perf_counter(), own_and_children_cpu()
        for _ in nlp.pipe(texts, batch_size=64, n_process=n_process):
            pass
        seconds, cpu = time.perf_counter() - started, own_and_children_cpu() - cpu
        result[label] = {"processes": n_process, "seconds": round(seconds, 2),
                         "articles_per_s": round(articles / seconds, 2),
                         "cpu_ms_per_article": round(1000 * cpu / max(1, articles), 2)}
    return result


def own_and_children_cpu() -> float:
    """CPU seconds of this process and of its children that ended (spaCy's n_process ones)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
