"""``newsflow bench recovery``: how long a worker takes to recover the dedup state from Kafka.

1. The real ``Deduplicator`` (knowledge-base normaliser, as in the worker) decides on
   ``entries`` articles of the dedup benchmark's stream (``workers.tools.bench.dedup.stream``); its
   state mapping is what the worker's table would hold after them.
2. A fresh run (own app id and topics, ``workers.tools.demo.run_settings``) gets the changelog topic
   ``<app_id>-dedup-state-changelog`` (one partition, compacted) with every entry written as
   Faust writes it: the key through Faust's ``json`` codec (``key_type=str``), the value raw.
3. One raw article, a copy of the stream's first article, is produced to the raw topic, then a
   real worker (``WorkerProcess``) starts. Measured from the start: ``/health/ready`` answering
   200, and the worker's log line "dedup index rebuilt from the state table: N entries", which
   the dedup agent writes on its first article, after Faust has restored the table and before
   it decides. The copy's verdict is read back: a duplicate of an article in the state (and
   ``N == entries``) shows that the rebuilt index holds the entries.
4. The same with an empty changelog, in the same run, is the baseline; every topic is deleted.

The local broker is started if it is used and not running, and stopped only if started here.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.serializers import codecs
from rich.console import Console
from rich.table import Table

from workers.kafka.io import (
    MAX_REQUEST_BYTES,
    client_kwargs,
    create_topics,
    delete_run_topics,
    make_producer,
    read_topics,
)
from workers.kafka.local import broker_for
from workers.settings import Settings
from workers.stages.dedup import load_normaliser, make_deduplicator
from workers.stream.runner import WorkerProcess
from workers.tools.bench.dedup import stream
from workers.tools.demo import free_port, run_settings, worker_env

_REBUILT = re.compile(rb"dedup index rebuilt from the state table: (\d+) entries")
_PROBE_ID = "recovery-probe"


def bench_recovery(settings: Settings, entries: int = 100_000) -> dict[str, Any]:
    """Run the benchmark, print a table and return the figures (raises if a check fails)."""
    console = Console()
    with broker_for(settings):
        with console.status(f"deciding on {entries:,} articles to build the state"):
            articles = stream(settings, entries)
            normalise = load_normaliser()
            state: dict[str, bytes] = {}
            dedup = make_deduplicator(settings, normalise=normalise, state=state)
            for article in articles:
                dedup.check(article)
            probe = orjson.dumps(
                {"id": _PROBE_ID, "body": articles[0].text, "content_type": "text/plain"}
            )
            rebuilt = make_deduplicator(settings, normalise=normalise, state={})
            start = time.perf_counter()
            rebuilt.bind_state(state)
            in_process_rebuild = time.perf_counter() - start
        if rebuilt.entries != entries:
            raise RuntimeError(f"state holds {rebuilt.entries} entries, not {entries}")
        run = time.strftime("%Y%m%d%H%M%S")
        result: dict[str, Any] = {"entries": entries, "rebuild_in_process_s": in_process_rebuild}
        for label, filled in (("empty", {}), ("full", state)):
            with console.status(f"worker start with {label} state"):
                result[label] = _measure(settings, f"recovery-{run}-{label}", filled, probe)
        _check(result, state)
    _print(result, console)
    return result


def _measure(
    base: Settings, prefix: str, state: Mapping[str, bytes], probe: bytes
) -> dict[str, Any]:
    run = run_settings(
        base, prefix, web_port=free_port(), data_dir=base.data_dir / prefix, tag_workers=1,
        log_level="INFO",
    )
    changelog = f"{run.app_id}-dedup-state-changelog"
    asyncio.run(create_topics(run))
    try:
        written = asyncio.run(_write_changelog(run, changelog, state))
        asyncio.run(_produce(run, run.topic_raw, [(_PROBE_ID.encode(), probe)]))
        log_path = Path("var") / "logs" / f"{prefix}-worker.log"
        worker = WorkerProcess(worker_env(run), log_path)
        started = time.monotonic()
        worker.start()
        try:
            figures = _watch(worker, started, timeout=600.0)
            figures["verdict"] = asyncio.run(_verdict(run, time.monotonic() + 120.0))
        finally:
            worker.stop()
        return {"changelog_bytes": written, "log": str(log_path), **figures}
    finally:
        asyncio.run(delete_run_topics(run))
        shutil.rmtree(run.data_dir, ignore_errors=True)


async def _write_changelog(run: Settings, topic: str, state: Mapping[str, bytes]) -> int:
    """Create the compacted changelog and write ``state`` to it as Faust would; returns bytes."""
    admin = AIOKafkaAdminClient(**client_kwargs(run))
    await admin.start()
    try:
        config = {"cleanup.policy": "compact", "max.message.bytes": str(MAX_REQUEST_BYTES)}
        await admin.create_topics(
            [NewTopic(topic, 1, run.replication_factor, topic_configs=config)]
        )
    finally:
        await admin.close()
    messages = [(codecs.dumps("json", key), value) for key, value in state.items()]
    await _produce(run, topic, messages)
    return sum(len(key) + len(value) for key, value in messages)


async def _produce(run: Settings, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = make_producer(run)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(topic, key=key, value=value, partition=0)
        await producer.flush()
    finally:
        await producer.stop()


def _watch(worker: WorkerProcess, started: float, timeout: float) -> dict[str, Any]:
    """Seconds from the start to /health/ready == 200 and to the index-rebuilt log line."""
    figures: dict[str, Any] = {}
    seen = b""
    while "ready_s" not in figures or "rebuilt_s" not in figures:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"worker not ready/rebuilt after {timeout:.0f} s: {worker.log_path}")
        if not worker.alive():
            raise RuntimeError(f"worker exited; see {worker.log_path}")
        if "ready_s" not in figures:
            try:
                if worker.get("/health/ready", timeout=0.5)[0] == 200:
                    figures["ready_s"] = time.monotonic() - started
            except OSError:  # not listening yet, or its event loop is busy
                pass
        if "rebuilt_s" not in figures:
            seen = worker.log_path.read_bytes()
            found = _REBUILT.search(seen)
            if found:
                figures["rebuilt_s"] = time.monotonic() - started
                figures["rebuilt_entries"] = int(found.group(1))
        time.sleep(0.05)
    return figures


async def _verdict(run: Settings, deadline: float) -> dict[str, Any]:
    """The probe's dedup outcome: its duplicate record, or its record on the unique topic."""
    found: dict[str, Any] = {}
    async for record in read_topics(
        run, [run.topic_duplicates, run.topic_unique], follow=True, deadline=deadline,
        until=lambda: bool(found),
    ):
        doc = orjson.loads(record.value or b"{}")
        if doc.get("id") == _PROBE_ID:
            duplicate = record.topic == run.topic_duplicates
            found.update(doc if duplicate else {"id": _PROBE_ID, "kind": "unique"})
    if not found:
        raise TimeoutError("the probe article's dedup verdict did not arrive")
    return found


def _check(result: dict[str, Any], state: Mapping[str, bytes]) -> None:
    empty, full = result["empty"], result["full"]
    problems = []
    if full["rebuilt_entries"] != result["entries"] or empty["rebuilt_entries"] != 0:
        problems.append(
            f"rebuilt {full['rebuilt_entries']} (full) / {empty['rebuilt_entries']} (empty) entries"
        )
    if full["verdict"].get("duplicate_of") not in state:
        problems.append(f"the copy was not found in the recovered state: {full['verdict']}")
    if empty["verdict"]["kind"] != "unique":
        problems.append(f"the copy was a duplicate with an empty state: {empty['verdict']}")
    if problems:
        raise RuntimeError("recovery benchmark check failed: " + "; ".join(problems))


def _print(result: dict[str, Any], console: Console) -> None:
    table = Table(title=f"dedup state recovery, {result['entries']:,} entries (one worker)")
    table.add_column("measure")
    table.add_column("empty state", justify="right")
    table.add_column("full state", justify="right")
    empty, full = result["empty"], result["full"]
    table.add_row("changelog bytes (keys + values)", f"{empty['changelog_bytes']:,}",
                  f"{full['changelog_bytes']:,}")
    table.add_row("start -> /health/ready 200", f"{empty['ready_s']:.1f} s",
                  f"{full['ready_s']:.1f} s")
    table.add_row("start -> dedup index rebuilt (first decision)", f"{empty['rebuilt_s']:.1f} s",
                  f"{full['rebuilt_s']:.1f} s")
    table.add_row("entries in the rebuilt index", str(empty["rebuilt_entries"]),
                  f"{full['rebuilt_entries']:,}")
    table.add_row("copy of a stored article", empty["verdict"]["kind"],
                  f"{full['verdict']['kind']} of {full['verdict'].get('duplicate_of')}")
    table.add_row("index rebuild alone, in this process", "",
                  f"{result['rebuild_in_process_s']:.1f} s")
    console.print(table)
