"""``newsflow bench entities``: tagging throughput of the stage next to bare spaCy, same run.

Texts: the first ``limit`` articles of ``news-dev.jsonl`` (title and body). Figures:

* bare ``nlp.pipe`` (the same pipeline the stage loads: NER and what it listens to) and the stage
  (``Tagger.tag_batch`` in batches of ``tag_batch_size``), single process, best of two rounds
  each, interleaved so that noise from other work on the machine hits both alike;
* bare ``nlp.pipe(n_process=tag_workers)`` and the stage through :class:`TagPool` with
  ``tag_workers`` processes, each on the same texts;
* the stage's share of bare throughput per core (target >= 0.9), the pool's hand-off cost
  (pickling and pipes) per article, and the event-loop lag (p99 and max) of an asyncio ticker
  that runs while the pool tags.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import resource
import time
from collections.abc import Sequence
from typing import Any

from workers.records import CleanedArticle
from workers.settings import Settings
from workers.stages.entities import Tagger, make_tagger
from workers.stream.tagpool import TagPool

_TICK = 0.005


def load_articles(settings: Settings, limit: int) -> list[CleanedArticle]:
    path = settings.shared_data_dir / "news-dev.jsonl"
    articles = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            articles.append(CleanedArticle(id=record["id"], title=record["title"],
                                           text=record["body"], language="en"))
            if len(articles) >= limit:
                break
    return articles


def _texts(articles: Sequence[CleanedArticle]) -> list[str]:
    return [t for a in articles for t in (a.title or "", a.text)]


def _bare(tagger: Tagger, texts: list[str], n_process: int = 1) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process and the children spaCy started, tokens)."""
    started, cpu = time.perf_counter(), _own_and_children_cpu()
    tokens = sum(len(doc) for doc in tagger.nlp.pipe(texts, batch_size=64, n_process=n_process))
    return time.perf_counter() - started, _own_and_children_cpu() - cpu, tokens


def _own_and_children_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for children only
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _stage(tagger: Tagger, articles: list[CleanedArticle], batch: int) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(articles), batch):
        tagger.tag_batch(articles[first:first + batch])
    return time.perf_counter() - started, time.process_time() - cpu


def _cpu_seconds(pool: TagPool) -> float:
    """CPU seconds used so far by this process and the pool's children."""
    import psutil

    total = time.process_time()
    for pid in pool.pids():
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


async def _pool_run(pool: TagPool, articles: list[CleanedArticle],
                    batch: int) -> tuple[float, float, list[float]]:
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            expected = time.perf_counter() + _TICK
            await asyncio.sleep(_TICK)
            lags.append(max(0.0, time.perf_counter() - expected))

    await pool.warm_up()
    task = asyncio.create_task(ticker())
    started, cpu = time.perf_counter(), _cpu_seconds(pool)
    for first in range(0, len(articles), batch):
        await pool.tag(articles[first:first + batch])
    elapsed, cpu = time.perf_counter() - started, _cpu_seconds(pool) - cpu
    done.set()
    await task
    return elapsed, cpu, sorted(lags)


def _handoff_bytes(tagger: Tagger, articles: list[CleanedArticle]) -> tuple[float, float]:
    """Pickled bytes per article (both ways) and seconds to pickle + unpickle them."""
    sample = articles[:50]
    results = tagger.tag_batch(sample)
    started = time.perf_counter()
    blobs = [pickle.dumps(sample), pickle.dumps(results)]
    for blob in blobs:
        pickle.loads(blob)
    seconds = time.perf_counter() - started
    return sum(map(len, blobs)) / len(sample), seconds / len(sample)


def bench_entities(settings: Settings, limit: int = 300) -> dict[str, Any]:
    """Measure and print; return the figures."""
    articles = load_articles(settings, limit)
    texts = _texts(articles)
    tagger = make_tagger(settings)
    batch = settings.tag_batch_size
    tagger.tag_batch(articles[:16])  # warm caches
    bare_runs, stage_runs = [], []
    tokens = 0
    for _ in range(2):
        wall, cpu, tokens = _bare(tagger, texts)
        bare_runs.append((wall, cpu))
        stage_runs.append(_stage(tagger, articles, batch))
    (bare_s, bare_cpu), (stage_s, stage_cpu) = min(bare_runs), min(stage_runs)
    workers = max(1, settings.tag_workers)
    bare_pool_s, bare_pool_cpu, _ = (
        _bare(tagger, texts, n_process=workers) if workers > 1 else (bare_s, bare_cpu, tokens)
    )
    pool = TagPool(settings)
    try:
        pool_s, pool_cpu, lags = asyncio.run(_pool_run(pool, articles, batch))
        handoff = pool.handoff_seconds / len(articles)
    finally:
        pool.close()
    per_article_bytes, pickle_seconds = _handoff_bytes(tagger, articles)
    n = len(articles)
    result: dict[str, Any] = {
        "model": settings.spacy_model, "pipeline": tagger.nlp.pipe_names, "articles": n,
        "tokens": tokens, "workers": workers, "batch_size": batch,
        "bare_single": {"articles_per_s": n / bare_s, "tokens_per_s": tokens / bare_s},
        "stage_single": {"articles_per_s": n / stage_s, "tokens_per_s": tokens / stage_s},
        "bare_pool": {"articles_per_s": n / bare_pool_s, "tokens_per_s": tokens / bare_pool_s},
        "stage_pool": {"articles_per_s": n / pool_s, "tokens_per_s": tokens / pool_s},
        "stage_vs_bare_single": bare_s / stage_s,
        "stage_pool_per_core_vs_bare_single": bare_s / (pool_s * workers),
        "stage_pool_vs_bare_pool": bare_pool_s / pool_s,
        # Articles per CPU-second: per-core throughput that other work on the machine does not
        # distort (the pool's figure includes the parent's hand-off work).
        "bare_single_per_cpu_s": n / bare_cpu,
        "stage_single_per_cpu_s": n / stage_cpu,
        "stage_pool_per_cpu_s": n / pool_cpu,
        "bare_pool_per_cpu_s": n / bare_pool_cpu,
        "stage_pool_per_cpu_vs_bare_single": bare_cpu / pool_cpu,
        "stage_pool_per_cpu_vs_bare_pool": bare_pool_cpu / pool_cpu,
        "handoff_ms_per_article": 1000 * handoff,
        "pickle_bytes_per_article": per_article_bytes,
        "pickle_ms_per_article": 1000 * pickle_seconds,
        "loop_lag_p99_ms": 1000 * lags[int(0.99 * (len(lags) - 1))] if lags else 0.0,
        "loop_lag_max_ms": 1000 * lags[-1] if lags else 0.0,
        "loop_ticks": len(lags),
    }
    _print(result)
    return result


def _print(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Entity tagging, {result['articles']} news-dev articles, "
                        f"{result['tokens']:,} tokens, {result['model']} {result['pipeline']}")
    for column in ("run", "articles/s", "tokens/s"):
        table.add_column(column, justify="right")
    for key, label in (("bare_single", "bare nlp.pipe, 1 process"),
                       ("stage_single", "stage, 1 process"),
                       ("bare_pool", f"bare nlp.pipe, n_process={result['workers']}"),
                       ("stage_pool", f"stage via TagPool, {result['workers']} processes")):
        row = result[key]
        table.add_row(label, f"{row['articles_per_s']:.1f}", f"{row['tokens_per_s']:,.0f}")
    console = Console()
    console.print(table)
    console.print(
        f"articles per CPU-second: bare {result['bare_single_per_cpu_s']:.1f}, "
        f"stage {result['stage_single_per_cpu_s']:.1f}, "
        f"bare n_process {result['bare_pool_per_cpu_s']:.1f}, "
        f"stage via pool {result['stage_pool_per_cpu_s']:.1f} "
        f"(pool / bare 1 process: {result['stage_pool_per_cpu_vs_bare_single']:.3f}, target >= 0.9;"
        f" pool / bare n_process: {result['stage_pool_per_cpu_vs_bare_pool']:.3f})\n"
        f"stage / bare (1 process): {result['stage_vs_bare_single']:.3f}; "
        f"pool per core / bare 1 process: {result['stage_pool_per_core_vs_bare_single']:.3f} "
        f"(target >= 0.9); stage pool / bare n_process: {result['stage_pool_vs_bare_pool']:.3f}\n"
        f"hand-off {result['handoff_ms_per_article']:.2f} ms/article "
        f"(pickle {result['pickle_bytes_per_article']:,.0f} B, "
        f"{result['pickle_ms_per_article']:.3f} ms per article); event-loop lag while tagging: "
        f"p99 {result['loop_lag_p99_ms']:.1f} ms, max {result['loop_lag_max_ms']:.1f} ms "
        f"({result['loop_ticks']} ticks)"
    )
