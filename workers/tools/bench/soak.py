"""``newsflow bench soak``: sustained input at 80 % of measured capacity, memory, lag and latency.

One worker (a child process, as in production) on topics of the run's own. First the capacity is
measured: ``calibrate`` articles are produced at once and the output rate between 20 % and 90 %
of them is taken. Then articles are produced at ``load`` x that rate for ``minutes``, and every
10 s a sample is written to ``<out>/soak.csv``: RSS of the worker with its tagging processes,
the backlog (produced but not yet out), the worker's consumer lag, and latency percentiles
(output record time minus the raw record's time, which is the article's ``ingested_at``) of the
outputs of that window. ``<out>/soak.png`` plots them. The RSS growth is the mean of the last
minute over the mean of the first minute after calibration.

Articles are ``news-dev.jsonl`` cycled under new ids, their ``published_at`` advancing by
``dedup_window_days / 500`` per article, so that the stream's event time moves forward and the
dedup state expires as it would in production, instead of every later cycle being an exact copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil

from workers.kafka.io import create_topics, delete_run_topics, make_producer, read_topics
from workers.kafka.local import broker_for
from workers.settings import Settings
from workers.stream.runner import WorkerProcess
from workers.tools.demo import free_port, run_settings, worker_env

SAMPLE_SECONDS = 10.0


@dataclass
class Sample:
    t_s: float
    produced: int
    outputs: int
    backlog: int
    consumer_lag: float
    rss_worker_mb: float
    rss_total_mb: float
    pss_total_mb: float
    latency_p50_s: float
    latency_p99_s: float
    rate_in: float
    rate_out: float


class Stream:
    """Raw messages: the dev articles cycled under new ids, event time moving forward."""

    def __init__(self, settings: Settings) -> None:
        path = settings.shared_data_dir / "news-dev.jsonl"
        self.docs = [orjson.loads(line) for line in path.read_bytes().splitlines() if line]
        # The file is grouped by category (articles of different lengths): mix them, so that
        # the calibration burst is like the rest of the stream.
        random.Random(7).shuffle(self.docs)
        self.step = settings.dedup_window_days * 86_400.0 / 500
        self.start = time.time() - 365 * 86_400.0
        self.n = 0

    def take(self, count: int) -> Iterator[tuple[bytes, bytes]]:
        for _ in range(count):
            doc = self.docs[self.n % len(self.docs)]
            when = datetime.fromtimestamp(self.start + self.n * self.step, UTC)
            aid = f"s{self.n}-{doc['id']}"
            body = {**doc, "id": aid, "published_at": when.isoformat()}
            self.n += 1
            yield aid.encode(), orjson.dumps(body)


class Outputs:
    """Counts outputs and keeps the latencies of the current sample window."""

    def __init__(self) -> None:
        self.count = 0
        self.window: list[float] = []

    async def follow(self, settings: Settings, stop: asyncio.Event) -> None:
        topics = [settings.topic_enriched, settings.topic_duplicates, settings.topic_deadletter]
        async for rec in read_topics(
            settings, topics, follow=True, until=stop.is_set, idle_timeout=1e9
        ):
            self.count += 1
            doc = orjson.loads(rec.value or b"{}")
            ingested = doc.get("ingested_at")
            if ingested:
                self.window.append(rec.timestamp_ms / 1000.0 - ingested)


def memory_mb(pid: int) -> tuple[float, float, float]:
    """RSS of the process; RSS and PSS of it with all its descendants (fork server, tagging
    processes). RSS counts the pages the tagging processes share with the fork server once per
    process; PSS splits them, so it is the better total."""
    try:
        proc = psutil.Process(pid)
        family = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0, 0.0, 0.0
    own = rss = pss = 0
    for member in family:
        try:
            info = member.memory_full_info()
        except psutil.Error:
            continue
        own = info.rss if member is proc else own
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return own / 2**20, rss / 2**20, pss / 2**20


def consumer_lag(worker: WorkerProcess) -> float:
    try:
        _, body = worker.get("/metrics")
    except OSError:
        return float("nan")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith("newsflow_consumer_lag_messages{")
    )


async def _produce(settings: Settings, stream: Stream, count: int) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for key, value in stream.take(count):
            await producer.send(settings.topic_raw, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def _soak(
    settings: Settings,
    worker: WorkerProcess,
    minutes: float,
    load: float,
    calibrate: int,
    out: Path,
) -> dict:
    assert worker.proc is not None
    stream, outputs, stop = Stream(settings), Outputs(), asyncio.Event()
    reader = asyncio.create_task(outputs.follow(settings, stop))
    # 1. Capacity: a burst, timed between 20 % and 90 % of its outputs.
    await _produce(settings, stream, calibrate)
    marks: dict[float, float] = {}
    while outputs.count < 0.9 * calibrate:
        for share in (0.2, 0.9):
            if share not in marks and outputs.count >= share * calibrate:
                marks[share] = time.monotonic()
        await asyncio.sleep(0.05)
    marks.setdefault(0.9, time.monotonic())
    capacity = 0.7 * calibrate / max(1e-6, marks[0.9] - marks[0.2])
    while outputs.count < calibrate:
        await asyncio.sleep(0.1)
    rate = load * capacity
    # 2. Sustained load, sampled every SAMPLE_SECONDS.
    producer = make_producer(settings)
    await producer.start()
    samples: list[Sample] = []
    started = time.monotonic()
    produced, last_out, next_sample = 0, outputs.count, started + SAMPLE_SECONDS
    outputs.window.clear()
    try:
        while (now := time.monotonic()) < started + minutes * 60:
            due = int((now - started) * rate) - produced
            for key, value in stream.take(due):
                await producer.send(settings.topic_raw, key=key, value=value)
            produced += max(0, due)
            if now >= next_sample:
                own, total, pss = memory_mb(worker.proc.pid)
                lat = sorted(outputs.window) or [float("nan")]
                samples.append(
                    Sample(
                        t_s=round(now - started, 1),
                        produced=produced,
                        outputs=outputs.count - calibrate,
                        backlog=produced - (outputs.count - calibrate),
                        consumer_lag=consumer_lag(worker),
                        rss_worker_mb=round(own, 1),
                        rss_total_mb=round(total, 1),
                        pss_total_mb=round(pss, 1),
                        latency_p50_s=round(lat[len(lat) // 2], 3),
                        latency_p99_s=round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 3),
                        rate_in=round(rate, 2),
                        rate_out=round((outputs.count - last_out) / SAMPLE_SECONDS, 2),
                    )
                )
                print(json.dumps(asdict(samples[-1])), flush=True)
                outputs.window.clear()
                last_out, next_sample = outputs.count, next_sample + SAMPLE_SECONDS
                if not worker.alive():
                    raise RuntimeError(f"the worker died; see {worker.log_path}")
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()
        stop.set()  # the reader sees it after its next record; with none coming, cancel it
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return _summary(samples, capacity, rate, out)


def _summary(samples: list[Sample], capacity: float, rate: float, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "soak.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(Sample.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(s) for s in samples)
    per_minute = max(1, int(60 / SAMPLE_SECONDS))
    first = statistics.fmean(s.rss_total_mb for s in samples[:per_minute])
    last = statistics.fmean(s.rss_total_mb for s in samples[-per_minute:])
    p99 = [s.latency_p99_s for s in samples if s.latency_p99_s == s.latency_p99_s]
    result = {
        "capacity_per_s": round(capacity, 2),
        "input_per_s": round(rate, 2),
        "samples": len(samples),
        "rss_first_minute_mb": round(first, 1),
        "rss_last_minute_mb": round(last, 1),
        "rss_max_mb": max(s.rss_total_mb for s in samples),
        "rss_growth": round(last / first - 1.0, 4),
        "pss_growth": round(
            statistics.fmean(s.pss_total_mb for s in samples[-per_minute:])
            / statistics.fmean(s.pss_total_mb for s in samples[:per_minute])
            - 1.0,
            4,
        ),
        "backlog_max": max(s.backlog for s in samples),
        "backlog_last": samples[-1].backlog,
        "latency_p99_max_s": max(p99) if p99 else None,
        "latency_p99_median_s": statistics.median(p99) if p99 else None,
    }
    (out / "soak.json").write_text(json.dumps(result, indent=2))
    _plot(samples, out / "soak.png")
    return result


def _plot(samples: list[Sample], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s.t_s / 60 for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    axes[0].plot(t, [s.rss_total_mb for s in samples], label="worker + tagging processes")
    axes[0].plot(t, [s.pss_total_mb for s in samples], label="same, PSS (shared pages split)")
    axes[0].plot(t, [s.rss_worker_mb for s in samples], label="worker process")
    axes[0].set_ylabel("RSS (MiB)")
    axes[0].set_ylim(bottom=0)
    axes[0].legend()
    axes[1].plot(t, [s.backlog for s in samples], label="backlog (produced - out)")
    axes[1].plot(t, [s.consumer_lag for s in samples], label="consumer lag (worker)")
    axes[1].set_ylabel("messages")
    axes[1].legend()
    axes[2].plot(t, [s.latency_p99_s for s in samples], label="p99")
    axes[2].plot(t, [s.latency_p50_s for s in samples], label="p50")
    axes[2].set_ylabel("latency (s)")
    axes[2].set_xlabel("minutes")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def bench_soak(
    settings: Settings,
    minutes: float = 10.0,
    load: float = 0.8,
    calibrate: int = 800,
    out: Path = Path("var") / "bench" / "soak",
) -> dict:
    """Run the soak benchmark; prints a sample per line and the summary as JSON."""
    run = f"soak-{uuid.uuid4().hex[:6]}"
    soak = run_settings(settings, run, web_port=free_port(), data_dir=Path("var") / run)
    worker = WorkerProcess(worker_env(soak), Path("var") / "logs" / f"{run}-worker.log")
    with broker_for(settings):
        try:
            asyncio.run(create_topics(soak))
            worker.start().wait_ready()
            result = asyncio.run(_soak(soak, worker, minutes, load, calibrate, out))
        finally:
            worker.stop()
            asyncio.run(delete_run_topics(soak))
    print(json.dumps(result, indent=2))
    return result
