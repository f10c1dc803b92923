"""``newsflow bench pipeline``: end-to-end capacity beside the model's limit; latency under load.

Against a real broker (the local one by default), with worker(s) in child processes as in
production, on topics and a consumer group of the run's own:

0. **Warm-up**: ``warmup`` articles (1,500 by default) drained by a run of their own, not
   measured, so that the broker's JIT has compiled its hot paths (``warmup_phase``).
1. **Capacity**: ``articles`` distinct news-dev articles are produced at once and drained by the
   worker(s); articles/s from the first output to the last (record timestamps), counting every
   input (enriched, duplicate or dead-lettered) and the enriched (tagged) ones alone.
2. **The limit**: bare ``nlp.pipe`` of the tag stage's pipeline (same model, same components,
   ``workers.stages.entities.load_pipeline``) over the very texts the tag stage ran in step 1
   (titles and cleaned bodies read back from the unique topic), one process and
   ``n_process=tag_workers``, after step 1's worker(s) stopped, so that no idle worker shares
   the cores with it. ``ratio`` = enriched articles/s over bare articles/s with the pool's
   process count. The pool runs once more after step 3 (not in ``--quick``): the ratio to that
   run beside the first shows how far the machine's own speed drifted within the benchmark.
3. **Latency under load**: on a fresh run (topics, group, worker), a paced producer at each
   share of the measured capacity (25, 50 and 90 % by default) for ``seconds`` each, with
   articles that step 1 did not have; end-to-end latency per input (output record time minus
   the raw record's time: fetched -> enriched/duplicate/dead letter) p50/p99/max, and the backlog
   (produced - out) and the worker's consumer-lag metric sampled every second. A phase that
   needs more distinct articles than remain on the run's topics gets a fresh run (topics, group,
   worker), so no article is ever a replay of an earlier one.
4. **Where the time goes** (in step 1): CPU seconds per input of each process (worker parent,
   its tagging children, the broker, this benchmark), each stage's handler seconds per article
   (``newsflow_stage_duration_seconds``, wall time) and the event loop's CPU in the clean, dedup
   and story handlers (``newsflow_stage_cpu_seconds_total``), and per hop the time between an
   article's record on a topic and its record on the next one, beside the stage's own time: the
   difference is time spent waiting in the hand-off (stream buffers, batch filling, the tag
   pool's queue).

Writes ``<out>/pipeline.json`` and ``<out>/pipeline.png`` and appends a row to BENCHMARKS.md
(``workers.tools.bench.pipeline_report``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from workers.kafka.io import (
    client_kwargs,
    create_topics,
    delete_run_topics,
    make_producer,
    read_topics,
)
from workers.kafka.local import LocalKafka, broker_for
from workers.settings import Settings
from workers.stream.runner import WorkerProcess
from workers.tools.bench.pipeline_measure import (
    backlog_trend,
    bare_model,
    cpu_breakdown,
    cpu_seconds,
    hops,
    machine_busy,
    metric_sum,
    per_worker,
    percentiles,
    scrape,
    stage_breakdown,
)
from workers.tools.demo import free_port, run_settings, worker_env

SAMPLE_SECONDS = 1.0
_INTERMEDIATE = ("cleaned", "unique", "tagged")
_OUTPUTS = ("enriched", "duplicates", "deadletter")


def load_docs(settings: Settings) -> list[dict[str, Any]]:
    """news-dev articles, mixed (the file is grouped by category) with a fixed seed."""
    path = settings.shared_data_dir / "news-dev.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; set NEWSFLOW_SHARED_DATA_DIR")
    docs = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    random.Random(7).shuffle(docs)
    return docs


@dataclass
class Collector:
    """Follows the run's topics; the first record time of every article id on each topic."""

    settings: Settings
    times: dict[str, dict[str, float]] = field(default_factory=dict)
    outputs: dict[str, tuple[str, float]] = field(default_factory=dict)  # id -> (kind, time)

    async def follow(self) -> None:
        names = self.settings.topic_names()
        kinds = {names[k]: k for k in (*_INTERMEDIATE, *_OUTPUTS)}
        for kind in kinds.values():
            self.times.setdefault(kind, {})
        async for rec in read_topics(self.settings, list(kinds), follow=True,
                                     idle_timeout=1e9):
            kind = kinds[rec.topic]
            aid = (rec.key or b"").decode(errors="replace")
            at = rec.timestamp_ms / 1000.0
            self.times[kind].setdefault(aid, at)
            if kind in _OUTPUTS:
                self.outputs.setdefault(aid, (kind, at))


class Run:
    """Topics, a consumer group and ``workers`` worker processes of the benchmark's own."""

    def __init__(self, settings: Settings, workers: int, tag_workers: int) -> None:
        self.prefix = f"bench-{uuid.uuid4().hex[:6]}"
        base = run_settings(settings, self.prefix, data_dir=Path("var") / self.prefix,
                            tag_workers=tag_workers)
        self.settings = base
        # the workers' table folders, removed when the run stops (their logs are kept)
        self.data_dirs = [Path("var") / f"{self.prefix}-{i}" for i in range(workers)]
        self.workers = [
            WorkerProcess(
                worker_env(base.model_copy(update={"web_port": free_port(), "data_dir": folder})),
                Path("var") / "logs" / f"{self.prefix}-worker{i}.log",
            )
            for i, folder in enumerate(self.data_dirs)
        ]
        self.collector = Collector(base)
        self.used = 0  # docs consumed from the start of the corpus on these topics
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await create_topics(self.settings)
        for worker in self.workers:
            worker.start()
        for worker in self.workers:
            await asyncio.to_thread(worker.wait_ready, 300.0)

    async def follow(self) -> None:
        """Read the run's topics (from their beginning) into the collector until
        :meth:`pause_reader`; the first time of each record is kept, so re-reading is harmless."""
        if self._reader is None:
            self._reader = asyncio.create_task(self.collector.follow())
            await asyncio.sleep(1.0)  # the reader's consumer joins before anything is produced

    async def pause_reader(self) -> None:
        """Stop reading the topics: a reader of every topic costs the broker and this process
        CPU that the pipeline's cores then lack, so none runs while a phase is measured."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    @contextlib.asynccontextmanager
    async def output_counter(self) -> AsyncIterator[Callable[[], Awaitable[int]]]:
        """A function that answers how many records the output topics hold (their end
        offsets): cheap to poll, and unlike a reader it fetches no records."""
        names = self.settings.topic_names()
        consumer = AIOKafkaConsumer(**client_kwargs(self.settings), group_id=None)
        await consumer.start()
        tps = [TopicPartition(names[k], p) for k in _OUTPUTS
               for p in range(self.settings.partitions_outputs)]

        async def count() -> int:
            return sum((await consumer.end_offsets(tps)).values())

        try:
            yield count
        finally:
            await consumer.stop()

    async def wait_output_records(self, count: int, deadline: float,
                                  held: Callable[[], Awaitable[int]] | None = None) -> None:
        """Until the output topics hold ``count`` records or the monotonic ``deadline``;
        ``held``: an :meth:`output_counter` already open, else one is opened for the wait."""
        if held is None:
            async with self.output_counter() as counter:
                return await self.wait_output_records(count, deadline, counter)
        while time.monotonic() < deadline:
            if await held() >= count:
                return
            self.check_alive()
            await asyncio.sleep(0.25)

    async def stop(self) -> None:
        await self.pause_reader()
        for worker in self.workers:
            await asyncio.to_thread(worker.stop)
        await delete_run_topics(self.settings)
        for folder in self.data_dirs:
            shutil.rmtree(folder, ignore_errors=True)

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers if w.proc is not None]

    def cpu(self, broker_pid: int | None) -> dict[str, float]:
        return {
            "worker_parent": sum(cpu_seconds(p) for p in self.pids()),
            "tag_children": sum(cpu_seconds(p, descendants=True) for p in self.pids()),
            "broker": cpu_seconds(broker_pid),
            "bench": cpu_seconds(os.getpid()),
            "machine_busy": machine_busy(),
            "wall": time.monotonic(),
        }

    def scrape_all(self) -> list[dict[str, float]]:
        return [scrape(w) for w in self.workers]

    def check_alive(self) -> None:
        for worker in self.workers:
            if not worker.alive():
                raise RuntimeError(f"a worker died; see {worker.log_path}")


def _message(doc: dict[str, Any], now: float) -> tuple[bytes, bytes]:
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    return doc["id"].encode(), orjson.dumps({**doc, "fetched_at": when})


async def _wait_outputs(run: Run, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    outputs = run.collector.outputs
    while time.monotonic() < deadline:
        if all(i in outputs for i in ids):
            return
        run.check_alive()
        await asyncio.sleep(0.2)


def _account(run: Run, ids: list[str], produced_at: dict[str, float]) -> dict[str, Any]:
    outputs = run.collector.outputs
    kinds = {k: 0 for k in _OUTPUTS}
    latencies = []
    for aid in ids:
        if aid in outputs:
            kind, at = outputs[aid]
            kinds[kind] += 1
            latencies.append(at - produced_at[aid])
    return {"produced": len(ids), **kinds, "missing": len(ids) - sum(kinds.values()),
            "latency_s": percentiles(latencies)}


Snapshot = tuple[list[dict[str, float]], dict[str, float]]  # (the workers' metrics, Run.cpu)


def phase_figures(run: Run, ids: list[str], produced_at: dict[str, float], before: Snapshot,
                  after: Snapshot, n: int) -> dict[str, Any]:
    """A phase's CPU per process (``n`` inputs), stage handler times and hand-off waits, from
    snapshots taken at its start and end (the capacity drain and every load level)."""
    (metrics_before, cpu_before), (metrics_after, cpu_after) = before, after
    return {
        "cpu": cpu_breakdown(cpu_before, cpu_after, n),
        "stages": stage_breakdown(metrics_before, metrics_after),
        "hops": hops({**run.collector.times, "raw": produced_at}, ids, metrics_before,
                     metrics_after),
    }


async def capacity_phase(run: Run, docs: list[dict[str, Any]], broker_pid: int | None,
                         timeout: float) -> dict[str, Any]:
    """Produce ``docs`` at once; drain; rate, CPU per process and stage, hand-off waits."""
    ids = [d["id"] for d in docs]
    metrics_before, cpu_before = run.scrape_all(), run.cpu(broker_pid)
    produced_at: dict[str, float] = {}
    producer = make_producer(run.settings)
    await producer.start()
    try:
        for doc in docs:
            now = time.time()
            key, value = _message(doc, now)
            produced_at[doc["id"]] = now
            await producer.send(run.settings.topic_raw, key=key, value=value,
                                timestamp_ms=int(now * 1000))
        await producer.flush()
    finally:
        await producer.stop()
    # Nothing of the benchmark's reads the topics while the pipeline drains (a reader of every
    # topic would cost the broker and this process CPU that the pipeline's cores then lack):
    # the output topics' end offsets say when enough came out, the records are read after.
    await run.wait_output_records(len(ids), time.monotonic() + timeout)
    measured_at = time.time()
    cpu_after, metrics_after = run.cpu(broker_pid), run.scrape_all()
    await run.follow()
    await _wait_outputs(run, ids, timeout)
    if any(at > measured_at for _, at in run.collector.outputs.values()):
        # a repeat filled the count before the drain was over: measure at its end instead
        cpu_after, metrics_after = run.cpu(broker_pid), run.scrape_all()
    result = _account(run, ids, produced_at)
    out_times = sorted(run.collector.outputs[i][1] for i in ids if i in run.collector.outputs)
    enriched = sorted(t for i in ids for k, t in [run.collector.outputs.get(i, ("", 0.0))]
                      if k == "enriched")
    span = max(1e-9, out_times[-1] - out_times[0]) if len(out_times) > 1 else float("nan")
    n = len(out_times)
    result.update({
        "seconds_first_to_last_output": round(span, 3),
        "inputs_per_s": round((n - 1) / span, 2) if n > 1 else None,
        "enriched_per_s": round((len(enriched) - 1) / max(1e-9, enriched[-1] - enriched[0]), 2)
        if len(enriched) > 1 else None,
        **phase_figures(run, ids, produced_at, (metrics_before, cpu_before),
                        (metrics_after, cpu_after), n),
        "per_worker": per_worker(metrics_before, metrics_after),
    })
    return result


async def warmup_phase(settings: Settings, plan: Plan, docs: list[dict[str, Any]],
                       tag_workers: int, broker_pid: int | None) -> dict[str, Any]:
    """Drain ``plan.warmup`` articles through a run of their own, unmeasured, before step 1.

    A broker that was just started runs its Java code interpreted until the JIT compiles it.
    On the 2-core machine a cold broker spent 16.1 ms of CPU per article over the first 300
    articles, 10.5 ms over the first 1,500 and 2.1-2.7 ms in later runs: a capacity run on a
    fresh broker measured the broker's start, not the pipeline. A long-running broker is warm;
    so is the one the benchmark measures. The warm-up's own CPU figures are kept in the JSON."""
    batch = docs[-plan.warmup:]
    phase = await drain_on_fresh_run(settings, plan, tag_workers, batch, broker_pid)
    return {"articles": len(batch), "enriched_per_s": phase["enriched_per_s"],
            "cpu_ms_per_input": phase["cpu"]["ms_per_input"]}


@contextlib.asynccontextmanager
async def fresh_run(settings: Settings, plan: Plan, tag_workers: int) -> AsyncIterator[Run]:
    """A started run of its own (topics, group, workers), stopped on leaving the block: nothing
    in it is a replay of another run, and no idle worker of it shares the machine with what is
    measured after it (the bare pool)."""
    run = Run(settings, plan.workers, tag_workers)
    await run.start()
    try:
        yield run
    finally:
        await run.stop()


async def drain_on_fresh_run(settings: Settings, plan: Plan, tag_workers: int,
                             batch: list[dict[str, Any]], broker_pid: int | None
                             ) -> dict[str, Any]:
    """:func:`capacity_phase` of ``batch`` on a :func:`fresh_run`."""
    async with fresh_run(settings, plan, tag_workers) as run:
        return await capacity_phase(run, batch, broker_pid, plan.drain_timeout)


def round_figures(capacity: dict[str, Any], pool: dict[str, Any]) -> dict[str, Any]:
    """One round's capacity beside the bare pool measured right after it, and their ratios."""
    per_input = capacity["cpu"]["ms_per_input"]
    pipeline_ms = per_input["worker_parent"] + per_input["tag_children"] + per_input["broker"]
    share = capacity["enriched"] / max(1, capacity["produced"])
    return {
        "inputs_per_s": capacity["inputs_per_s"],
        "enriched_per_s": capacity["enriched_per_s"],
        "bare_pool_per_s": pool["articles_per_s"],
        "ratio": round(capacity["enriched_per_s"] / max(1e-9, pool["articles_per_s"]), 3),
        "cpu_ms_per_input": per_input,
        "bare_pool_cpu_ms_per_article": pool["cpu_ms_per_article"],
        "cpu_ratio": round(pool["cpu_ms_per_article"] * share / max(1e-9, pipeline_ms), 3),
    }


def load_rate_base(capacity: dict[str, Any], rounds: list[dict[str, Any]] | None,
                   fixed: float | None = None) -> float:
    """Inputs/s the load levels are shares of: ``fixed`` when given (``--rate``: the same
    paced rates in every run, so that runs compare), else the median round's, or the one
    drain's."""
    if fixed is not None:
        return fixed
    if rounds:
        return round(statistics.median(r["inputs_per_s"] for r in rounds), 2) or 1.0
    return capacity["inputs_per_s"] or 1.0


async def alternate_rounds(settings: Settings, plan: Plan, tag_workers: int,
                           batch: list[dict[str, Any]], texts: list[str], broker_pid: int | None,
                           first: dict[str, Any]) -> list[dict[str, Any]]:
    """``first`` (the first round's figures), then ``plan.rounds - 1`` more rounds: the same
    backlog drained by a fresh run, then the bare pool over the same texts. The machine's own
    speed drifts by +-15 % within minutes; alternating the two, the median of the per-round
    ratios is a figure that one slow or fast minute does not set."""
    rounds = [first]
    for _ in range(plan.rounds - 1):
        capacity = await drain_on_fresh_run(settings, plan, tag_workers, batch, broker_pid)
        pool = bare_model(settings, texts, tag_workers * plan.workers, single=False)["pool"]
        rounds.append(round_figures(capacity, pool))
    return rounds


async def load_phase(run: Run, docs: list[dict[str, Any]], rate: float, seconds: float,
                     drain_timeout: float, broker_pid: int | None) -> dict[str, Any]:
    """Produce ``docs`` at ``rate``/s; latency and lag over time.

    The backlog is sampled from the output topics' end offsets, and the records (their times)
    are read after the phase: no reader competes with the pipeline for the cores while it runs
    (it did until 2026-12-07, reading every record of five topics as they came)."""
    produced_at: dict[str, float] = {}
    ids: list[str] = []
    samples: list[dict[str, float]] = []
    await run.pause_reader()
    metrics_before, cpu_before = run.scrape_all(), run.cpu(broker_pid)
    producer = make_producer(run.settings)
    await producer.start()
    async with run.output_counter() as held:
        held_before = await held()
        started = time.monotonic()
        next_sample = started
        try:
            position = 0
            while position < len(docs) or time.monotonic() - started < seconds:
                now_m = time.monotonic()
                due = min(len(docs), int((now_m - started) * rate) + 1)
                while position < due:
                    doc, now = docs[position], time.time()
                    key, value = _message(doc, now)
                    produced_at[doc["id"]] = now
                    ids.append(doc["id"])
                    await producer.send(run.settings.topic_raw, key=key, value=value,
                                        timestamp_ms=int(now * 1000))
                    position += 1
                if now_m >= next_sample:
                    out = min(len(ids), await held() - held_before)
                    scraped = await asyncio.to_thread(run.scrape_all)
                    samples.append({
                        "t_s": round(now_m - started, 1), "produced": len(ids), "out": out,
                        "backlog": len(ids) - out,
                        # highwater - fetch position: what Faust has fetched counts as consumed
                        "consumer_lag": sum(metric_sum(v, "newsflow_consumer_lag_messages{")
                                            for v in scraped),
                        # highwater - committed offset, over the worker's input topics
                        "pending_input": sum(v.get("newsflow_pending_input_messages", 0.0)
                                             for v in scraped),
                    })
                    next_sample += SAMPLE_SECONDS
                    run.check_alive()
                if time.monotonic() - started >= seconds and position >= len(docs):
                    break
                await asyncio.sleep(0.01)
        finally:
            await producer.stop()
        await run.wait_output_records(held_before + len(ids), time.monotonic() + drain_timeout,
                                      held)
    metrics_after, cpu_after = run.scrape_all(), run.cpu(broker_pid)
    await run.follow()
    await _wait_outputs(run, ids, drain_timeout)
    result = _account(run, ids, produced_at)
    result.update(phase_figures(run, ids, produced_at, (metrics_before, cpu_before),
                                (metrics_after, cpu_after), len(ids)))
    result.update({"rate_per_s": round(rate, 2), "seconds": round(time.monotonic() - started, 1),
                   "samples": samples, "backlog": backlog_trend(samples, rate)})
    return result


async def texts_of(run: Run, ids: set[str]) -> list[str]:
    """The titles and cleaned bodies the tag stage ran on (read back from the unique topic)."""
    texts: list[str] = []
    async for rec in read_topics(run.settings, [run.settings.topic_unique], idle_timeout=2.0):
        doc = orjson.loads(rec.value or b"{}")
        if doc.get("id") in ids:
            texts.extend((doc.get("title") or "", doc.get("text") or ""))
    return texts


@dataclass
class Plan:
    articles: int = 1500
    seconds: float = 45.0
    loads: tuple[float, ...] = (0.25, 0.5, 0.9)
    workers: int = 1
    tag_workers: int | None = None
    drain_timeout: float = 300.0
    quick: bool = False
    warmup: int = 1500
    bare_again: bool = True  # the bare pool once more at the end (not in --quick)
    rounds: int = 1  # capacity and bare pool measured this many times, alternately
    rate: float | None = None  # the load levels' base in inputs/s (None: the measured capacity)


async def _bench(settings: Settings, plan: Plan) -> dict[str, Any]:
    docs = load_docs(settings)
    if plan.articles > len(docs):
        raise ValueError(f"only {len(docs)} distinct articles in news-dev.jsonl")
    tag_workers = plan.tag_workers or settings.tag_workers
    local = LocalKafka(settings) if settings.uses_local_kafka else None
    broker_pid = local.pid() if local is not None else None
    result: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "load_avg_start": os.getloadavg()},
        "plan": {"articles": plan.articles, "seconds": plan.seconds, "loads": list(plan.loads),
                 "workers": plan.workers, "tag_workers": tag_workers, "quick": plan.quick,
                 "tag_batch_size": settings.tag_batch_size,
                 "tag_batch_window": settings.tag_batch_window,
                 "stage_batch_window": settings.stage_batch_window,
                 "producer_linger": settings.producer_linger,
                 "rate": plan.rate,
                 "model": settings.spacy_model},
        "broker_cpu_measured": broker_pid is not None,
    }
    if plan.warmup:
        result["warmup"] = await warmup_phase(settings, plan, docs, tag_workers, broker_pid)
    batch = docs[: plan.articles]
    # The drain's run is stopped before the bare pool is measured: an idle worker beside it
    # would share the cores, at whatever its polling costs.
    async with fresh_run(settings, plan, tag_workers) as run:
        capacity = await capacity_phase(run, batch, broker_pid, plan.drain_timeout)
        outputs = run.collector.outputs  # the texts are read while the run's topics exist
        texts = await texts_of(run, {d["id"] for d in batch
                                     if outputs.get(d["id"], ("",))[0] == "enriched"})
    result["capacity"] = capacity
    # In this thread, not a helper thread: spaCy's n_process forks this process.
    # The limit of all the tagging processes of the run (every worker's).
    bare = bare_model(settings, texts, tag_workers * plan.workers)
    result["bare_model"] = bare
    if capacity["enriched_per_s"]:
        result["ratio_to_bare_pool"] = round(
            capacity["enriched_per_s"] / bare["pool"]["articles_per_s"], 3)
        result["ratio_to_bare_single"] = round(
            capacity["enriched_per_s"] / bare["single"]["articles_per_s"], 3)
    # Robust to other work on the machine: model CPU over the pipeline's CPU, per article.
    first = round_figures(capacity, bare["pool"])
    result["cpu_ratio_to_bare_pool"] = first["cpu_ratio"]
    if plan.rounds > 1:
        result["rounds"] = await alternate_rounds(settings, plan, tag_workers, batch, texts,
                                                  broker_pid, first)
        ratios = [r["ratio"] for r in result["rounds"]]
        result["ratio_median"] = round(statistics.median(ratios), 3)
        result["cpu_ratio_median"] = round(statistics.median(
            r["cpu_ratio"] for r in result["rounds"]), 3)
    # The load levels are shares of the capacity: with rounds, of their median (one fast
    # round would set every level too high, and 90 % of it would be more than the
    # pipeline's usual capacity), else of the one drain.
    rate_base = load_rate_base(capacity, result.get("rounds"), plan.rate)
    result["load_rate_base_inputs_per_s"] = rate_base
    result["loads"] = await load_levels(settings, plan, tag_workers, docs, len(batch),
                                        rate_base, broker_pid) if plan.loads else []
    if plan.bare_again and capacity["enriched_per_s"]:
        # The bare pool once more, minutes later: how far the machine's own speed drifted
        # between the two is the uncertainty of the ratio (a shared VM's can be +-15 %).
        again = bare_model(settings, texts, tag_workers * plan.workers, single=False)["pool"]
        result["bare_model"]["pool_again"] = again
        result["ratio_to_bare_pool_again"] = round(
            capacity["enriched_per_s"] / again["articles_per_s"], 3)
    result["machine"]["load_avg_end"] = os.getloadavg()
    return result


async def load_levels(settings: Settings, plan: Plan, tag_workers: int,
                      docs: list[dict[str, Any]], skip: int, rate_base: float,
                      broker_pid: int | None) -> list[dict[str, Any]]:
    """:func:`load_phase` at each of ``plan.loads`` (shares of ``rate_base``) on a fresh run,
    with the articles after the first ``skip`` (the capacity drain's), so that none repeats
    one the drain had; a level that needs more than the run's topics have left gets a fresh
    run of its own."""
    run = Run(settings, plan.workers, tag_workers)
    await run.start()
    run.used = skip
    levels = []
    try:
        for share in plan.loads:
            rate = share * rate_base
            need = min(len(docs), max(1, int(rate * plan.seconds)))
            if run.used + need > len(docs):  # fresh topics and worker: no replays
                await run.stop()
                run = Run(settings, plan.workers, tag_workers)
                await run.start()
            phase_docs = docs[run.used: run.used + need]
            run.used += need
            phase = await load_phase(run, phase_docs, rate, need / rate, plan.drain_timeout,
                                     broker_pid)
            phase["share_of_capacity"] = share
            levels.append(phase)
    finally:
        await run.stop()
    return levels


STAND_IN_NER = Path("var/bench/stand-in-ner")


def stand_in_ner(folder: Path = STAND_IN_NER) -> Path:
    """A spaCy pipeline whose ``ner`` is an entity ruler without patterns (no entities, next
    to no CPU), for ``--stand-in-ner``: the worker's and the broker's own cost per article
    measured without the model's processes taking both cores (and drifting with them)."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler", name="ner")
    folder.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(folder)
    return folder.resolve()


def bench_pipeline(settings: Settings, plan: Plan, out: Path,
                   record: Path | None) -> dict[str, Any]:
    """Run the benchmark; write JSON and PNG to ``out``; append a row to ``record``."""
    from workers.tools.bench import pipeline_report

    with broker_for(settings) as started_here:
        result = asyncio.run(_bench(settings, plan))
    result["broker_started_by_benchmark"] = started_here
    pipeline_report.write(result, out, record)
    return result
