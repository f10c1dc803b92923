"""What committing offsets more often costs: the same backlog drained by a worker with Faust's
commit defaults (every 2.8 s or 10,000 acknowledgements) and with newsflow's (every 0.5 s or 50),
alternating, on the local broker. Prints one line per run and the mean rate per setting, and
the CPU the worker (with its tagging processes) and the broker spent per article during each
drain: on a machine whose cores the pipeline fills, throughput is cores / CPU per article, so
the CPU difference is the throughput cost, and unlike the drain rate it holds when other jobs
share the machine.

    PYTHONPATH=. .venv/bin/python scripts/commit_cost.py [--articles 1200] [--rounds 2]

Any other pair of worker settings is compared the same way with ``--a`` and ``--b`` (settings
field=value, comma-separated), e.g. the producer's batch size:

    ... scripts/commit_cost.py --a producer_batch_bytes=16384 --b producer_batch_bytes=262144

Each run: fresh topics and consumer group, a worker (2 tagging processes) started and ready,
then ``--articles`` dev articles (news-dev.jsonl under new ids) produced at once; the rate is
articles / (last output - first produce). Not a pipeline benchmark: a before/after of one knob.
First it times single offset commits (``--latency-only``: nothing else), the cost per commit.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from workers.kafka.io import (
    client_kwargs,
    create_topics,
    delete_topics,
    make_producer,
    read_topics,
)
from workers.kafka.local import LocalKafka
from workers.settings import Settings
from workers.stream.runner import WorkerProcess
from workers.tools.bench.pipeline_measure import cpu_seconds
from workers.tools.demo import free_port, run_settings, worker_env

SETTINGS: dict[str, dict[str, object]] = {
    "faust-defaults": {"commit_interval": 2.8, "commit_every": 10_000},
    "newsflow": {"commit_interval": 0.5, "commit_every": 50},
}
ROOT = Path(__file__).resolve().parents[1]


def articles(settings: Settings, count: int, run: str) -> list[tuple[bytes, bytes]]:
    path = (ROOT / settings.shared_data_dir / "news-dev.jsonl").resolve()
    docs = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    out = []
    for i in range(count):
        doc = {**docs[i % len(docs)], "id": f"{run}-{i}"}
        out.append((doc["id"].encode(), orjson.dumps(doc)))
    return out


async def drain(settings: Settings, messages: list[tuple[bytes, bytes]]) -> float:
    """Seconds from the first produce until every message came out."""
    producer = make_producer(settings)
    await producer.start()
    started = time.monotonic()
    try:
        for key, value in messages:
            await producer.send(settings.topic_raw, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()
    seen: set[bytes] = set()
    last = started
    outputs = [settings.topic_enriched, settings.topic_duplicates, settings.topic_deadletter]

    def done() -> bool:
        return len(seen) >= len(messages)

    async for rec in read_topics(settings, outputs, follow=True, until=done, idle_timeout=60):
        seen.add(rec.key or b"")
        last = time.monotonic()
    if not done():
        raise RuntimeError(f"only {len(seen)} of {len(messages)} came out")
    return last - started


PARTS = ("worker", "tagging", "broker")


def cpu_now(worker: WorkerProcess, broker_pid: int | None) -> tuple[float, float, float]:
    """CPU seconds so far of the worker's event-loop process, its tagging processes, the broker."""
    pid = worker.proc.pid if worker.proc is not None else None
    return (cpu_seconds(pid), cpu_seconds(pid, descendants=True), cpu_seconds(broker_pid))


def one_run(base: Settings, updates: dict[str, object], count: int
            ) -> tuple[float, float, dict[str, float]]:
    """(articles/s, CPU ms per article of worker + tagging processes + broker, that CPU per
    part) for one drain with the settings ``updates``."""
    prefix = f"c{uuid.uuid4().hex[:8]}"
    settings = run_settings(
        base,
        prefix,
        web_port=free_port(),
        tag_workers=2,
        data_dir=ROOT / "var" / "commit-cost" / prefix,
        **updates,
    )
    asyncio.run(create_topics(settings))
    worker = WorkerProcess(worker_env(settings), ROOT / "var" / "commit-cost" / f"{prefix}.log")
    broker_pid = LocalKafka(settings).pid() if settings.uses_local_kafka else None
    try:
        worker.start().wait_ready(timeout=240)
        batch = articles(settings, count, prefix)
        cpu_before = cpu_now(worker, broker_pid)
        seconds = asyncio.run(drain(settings, batch))
        cpu_after = cpu_now(worker, broker_pid)
    finally:
        worker.stop()
        asyncio.run(delete_topics(settings, settings.topic_names().values()))
    parts = {part: (after - before) * 1e3 / count
             for part, before, after in zip(PARTS, cpu_before, cpu_after, strict=True)}
    return count / seconds, sum(parts.values()), parts


def parse_updates(text: str) -> dict[str, object]:
    """``field=value,...`` -> settings updates, each value validated by its settings field."""
    raw = dict(item.split("=", 1) for item in text.split(",") if item.strip())
    unknown = set(raw) - set(Settings.model_fields)
    if unknown:
        raise SystemExit(f"unknown settings: {', '.join(sorted(unknown))}")
    checked = Settings(**raw)  # type: ignore[arg-type]
    return {name: getattr(checked, name) for name in raw}


async def commit_latency(base: Settings, commits: int = 300) -> list[float]:
    """Seconds per offset commit of a group consumer on the local broker (what each of Faust's
    commits sends, after its producer flush), over ``commits`` commits of 4 partitions."""
    prefix = f"c{uuid.uuid4().hex[:8]}"
    settings = run_settings(base, prefix)
    await create_topics(settings)
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=settings.app_id)
    tps = [TopicPartition(settings.topic_raw, p) for p in range(settings.partitions_raw)]
    await consumer.start()
    try:
        consumer.assign(tps)
        times = []
        for _ in range(commits):
            started = time.perf_counter()
            await consumer.commit({tp: OffsetAndMetadata(0, "") for tp in tps})
            times.append(time.perf_counter() - started)
    finally:
        await consumer.stop()
        await delete_topics(settings, settings.topic_names().values())
    return sorted(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency-only", action="store_true", help="only time single commits")
    parser.add_argument("--a", help="settings of the first side, field=value,... (instead of "
                        "Faust's commit defaults)")
    parser.add_argument("--b", help="settings of the second side (instead of newsflow's)")
    args = parser.parse_args()
    base = Settings()
    sides = dict(SETTINGS)
    if args.a or args.b:
        if not (args.a and args.b):
            raise SystemExit("--a and --b go together")
        sides = {args.a: parse_updates(args.a), args.b: parse_updates(args.b)}
    else:
        times = asyncio.run(commit_latency(base))
        p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
        print(f"offset commit round trip: p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms")
        if args.latency_only:
            return
    names = list(sides)
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    part_cpus: dict[str, dict[str, list[float]]] = {n: {p: [] for p in PARTS} for n in names}
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            rate, cpu_ms, parts = one_run(base, sides[name], args.articles)
            rates[name].append(rate)
            cpus[name].append(cpu_ms)
            for part, ms in parts.items():
                part_cpus[name][part].append(ms)
            shown = ", ".join(f"{p} {ms:.1f}" for p, ms in parts.items())
            print(f"round {round_ + 1} {name}: {rate:.1f} articles/s, {cpu_ms:.1f} CPU ms per "
                  f"article ({shown})", flush=True)
    means = {name: sum(r) / len(r) for name, r in rates.items()}
    cpu_means = {name: sum(c) / len(c) for name, c in cpus.items()}
    for name, mean in means.items():
        shown = ", ".join(f"{p} {sum(v) / len(v):.1f}" for p, v in part_cpus[name].items())
        print(f"{name}: mean {mean:.1f} articles/s, {cpu_means[name]:.1f} CPU ms per article "
              f"({shown}) over {len(rates[name])} runs")
    first, second = names
    cost = 1 - means[second] / means[first]
    print(f"throughput cost of {second} against {first}, by drain rate: {cost:+.1%}")
    cpu_cost = cpu_means[second] / cpu_means[first] - 1
    print(f"CPU cost per article of {second} against {first}: {cpu_cost:+.1%} "
          f"(throughput on full cores: {1 / (1 + cpu_cost) - 1:+.1%})")


if __name__ == "__main__":
    main()
