"""``newsflow bench eventloop``: CPU per Kafka round trip on asyncio's event loop and on uvloop.

Every agent of the worker awaits the delivery of its outputs before it takes its next event
(docs/reliability.md), so the worker pays one produce round trip, and the consumption of what it
produced, per message and hop. This measures what that costs the process on each loop: one
process produces ``messages`` values of ``size`` bytes to a one-partition topic of its own,
awaiting each delivery as the agents do, while a consumer in the same process reads them back;
CPU seconds of the process (``time.process_time``: its threads, the loop's included) per message.

Each measurement runs in a fresh interpreter with the loop installed the way the worker installs
it (``workers.stream.runner.use_event_loop``); the two loops alternate for ``rounds`` rounds, the
first loop swapped every round, so that a machine whose speed drifts treats both alike. The local
broker is started if it is used and not running, and stopped only if started here.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

from workers.settings import Settings

LOOPS = ("asyncio", "uvloop")


async def round_trips(settings: Settings, messages: int, size: int) -> dict[str, Any]:
    """Produce ``messages`` values awaiting each delivery, consume them back; CPU per message."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from workers.kafka.io import client_kwargs, delete_topics
    from workers.ops.loopmon import running_loop

    topic = f"newsflow-bench-loop-{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, settings.replication_factor)])
    finally:
        await admin.close()
    # every replica acknowledges, as the worker's producer; no linger (the worker's is
    # settings.producer_linger): each value here is awaited alone, so a linger would only wait
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(topic, **client_kwargs(settings), group_id=None,
                                auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    try:
        value = os.urandom(size)

        async def consume() -> None:
            got = 0
            while got < messages:
                batches = await consumer.getmany(timeout_ms=500)
                got += sum(len(records) for records in batches.values())

        await producer.send_and_wait(topic, b"warm-up", key=b"warm-up")
        reader = asyncio.ensure_future(consume())
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(messages):
            await (await producer.send(topic, value, key=str(i).encode()))
        await asyncio.wait_for(reader, timeout=120)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return {"loop": await running_loop(), "cpu_us_per_message": 1e6 * cpu / messages,
                "wall_us_per_message": 1e6 * wall / messages}
    finally:
        await consumer.stop()
        await producer.stop()
        await delete_topics(settings, [topic])


def _child(loop: str, messages: int, size: int) -> None:
    from workers.stream.runner import use_event_loop

    settings = Settings(event_loop=loop)
    use_event_loop(settings)
    print(json.dumps(asyncio.run(round_trips(settings, messages, size))))


def measure(settings: Settings, loop: str, messages: int, size: int) -> dict[str, Any]:
    """One measurement in a fresh interpreter (the loop policy is process-wide), on the broker
    of ``settings`` (the other connection settings come from the environment, as here)."""
    out = subprocess.run(
        [sys.executable, "-m", "workers.tools.bench.eventloop", loop, str(messages), str(size)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers})
    if out.returncode:
        raise RuntimeError(f"the {loop} measurement failed:\n{out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def bench_eventloop(settings: Settings, messages: int = 3000, size: int = 6000,
                    rounds: int = 3) -> dict[str, Any]:
    """Alternate the two loops for ``rounds`` rounds; print a table; return the figures."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from workers.kafka.local import broker_for

    runs: dict[str, list[dict[str, Any]]] = {loop: [] for loop in LOOPS}
    with broker_for(settings), Progress(transient=True) as progress:
        task = progress.add_task("round trips", total=rounds * len(LOOPS))
        for r in range(rounds):
            for loop in (LOOPS if r % 2 == 0 else LOOPS[::-1]):
                runs[loop].append(measure(settings, loop, messages, size))
                progress.advance(task)
    result: dict[str, Any] = {"messages": messages, "value_bytes": size, "rounds": rounds,
                              "cores": os.cpu_count(), "runs": runs}
    table = Table(title=f"Kafka round trips, {messages:,} x {size:,} B, {rounds} rounds "
                        "(median; CPU of the process)")
    for column in ("loop", "class", "CPU us/message", "wall us/message", "CPU, each round"):
        table.add_column(column, justify="right")
    for loop in LOOPS:
        cpu = [r["cpu_us_per_message"] for r in runs[loop]]
        wall = [r["wall_us_per_message"] for r in runs[loop]]
        result[loop] = {"cpu_us_per_message": round(statistics.median(cpu), 1),
                        "wall_us_per_message": round(statistics.median(wall), 1)}
        table.add_row(loop, str(runs[loop][0]["loop"]), f"{statistics.median(cpu):.0f}",
                      f"{statistics.median(wall):.0f}", ", ".join(f"{c:.0f}" for c in cpu))
    result["uvloop_cpu_ratio"] = round(
        result["uvloop"]["cpu_us_per_message"] / result["asyncio"]["cpu_us_per_message"], 3)
    console = Console()
    console.print(table)
    console.print(f"uvloop / asyncio CPU per message: {result['uvloop_cpu_ratio']:.3f}")
    return result


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
