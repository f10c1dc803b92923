"""``newsflow demo``: local Kafka, a worker, a corpus through the pipeline, a summary.

Every demo run uses its own topics and consumer group (``demo-<run>.``), so runs never see each
other's messages; they are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from rich.console import Console
from rich.live import Live
from rich.table import Table

from workers.kafka.io import create_topics, delete_run_topics, make_producer, read_topics
from workers.kafka.local import LocalKafka
from workers.settings import Settings
from workers.stream.runner import WorkerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_settings(settings: Settings, prefix: str, **updates: object) -> Settings:
    """Settings for an isolated run: own app id (consumer group) and own topics."""
    topics = {f"topic_{k}": f"{prefix}.{v}" for k, v in settings.topic_names().items()}
    return settings.model_copy(update={"app_id": f"newsflow-{prefix}", **topics, **updates})


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child worker use exactly these settings."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env_name = (
            "KAFKA_BOOTSTRAP_SERVERS"
            if name == "kafka_bootstrap_servers"
            else (f"NEWSFLOW_{name.upper()}")
        )
        env[env_name] = str(value).lower() if isinstance(value, bool) else str(value)
    env["KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    return env


def build_corpus(settings: Settings, limit: int, corpus: Path | None = None) -> list[bytes]:
    """Raw messages: the seed article plus ``limit`` dev articles (or a given/sample corpus)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data = settings.shared_data_dir
    if not data.is_absolute():
        data = (Path.cwd() / data).resolve()
    messages: list[bytes] = []
    if corpus is None and (data / "seed-article.txt").is_file():
        seed = (data / "seed-article.txt").read_text(encoding="utf-8")
        messages.append(
            orjson.dumps(
                {
                    "id": "seed-article",
                    "body": seed,
                    "content_type": "text/plain",
                    "fetched_at": now,
                }
            )
        )
        corpus = data / "news-dev.jsonl"
    elif corpus is None:
        corpus = REPO_ROOT / "samples" / "corpus.jsonl"
    with corpus.open("rb") as fh:
        for line in fh:
            if len(messages) >= limit + 1:
                break
            line = line.strip()
            if not line:
                continue
            try:
                doc = orjson.loads(line)
                doc.setdefault("fetched_at", now)
                messages.append(orjson.dumps(doc))
            except orjson.JSONDecodeError:
                messages.append(line)  # sent as-is: the pipeline dead-letters it
    return messages


@dataclass
class Outcomes:
    enriched: dict[str, dict] = field(default_factory=dict)
    duplicates: dict[str, dict] = field(default_factory=dict)
    deadletters: list[dict] = field(default_factory=list)
    first_at: float = 0.0
    last_at: float = 0.0

    @property
    def total(self) -> int:
        return len(self.enriched) + len(self.duplicates) + len(self.deadletters)


async def collect(settings: Settings, expected: int, timeout: float, on_update) -> Outcomes:
    out = Outcomes()
    names = settings.topic_names()
    deadline = time.monotonic() + timeout
    async for rec in read_topics(
        settings,
        [names["enriched"], names["duplicates"], names["deadletter"]],
        follow=True,
        deadline=deadline,
        until=lambda: out.total >= expected,
    ):
        doc = orjson.loads(rec.value or b"{}")
        if rec.topic == names["enriched"]:
            out.enriched[doc["id"]] = doc
        elif rec.topic == names["duplicates"]:
            out.duplicates[doc["id"]] = doc
        else:
            out.deadletters.append(doc)
        out.last_at = time.time()
        on_update(out)
    return out


def summary_table(out: Outcomes, produced: int, started: float) -> Table:
    elapsed = max(1e-9, out.last_at - started)
    latencies = sorted(d["enriched_at"] - d["ingested_at"] for d in out.enriched.values())
    table = Table(title="newsflow demo summary", show_header=False)
    table.add_row("messages produced", str(produced))
    table.add_row("enriched", str(len(out.enriched)))
    kinds = Counter(d["kind"] for d in out.duplicates.values())
    table.add_row("duplicates", f"{len(out.duplicates)} {dict(kinds) or ''}")
    reasons = Counter(d["reason"] for d in out.deadletters)
    table.add_row("dead letters", f"{len(out.deadletters)} {dict(reasons) or ''}")
    table.add_row("accounted for", f"{out.total}/{produced}")
    table.add_row("throughput", f"{out.total / elapsed:.1f} articles/s over {elapsed:.1f} s")
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        table.add_row(
            "end-to-end latency",
            f"p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms",
        )
    entities: Counter[tuple[str, str]] = Counter()
    for doc in out.enriched.values():
        for ent in doc["entities"]:
            entities[(ent["name"], ent["label"])] += 1
    top = ", ".join(f"{n} ({lab}, {c})" for (n, lab), c in entities.most_common(10))
    table.add_row("top entities (articles)", top or "-")
    stories: dict[str, list[dict]] = {}
    for doc in out.enriched.values():
        stories.setdefault(doc.get("story_id") or "(none)", []).append(doc)
    multi = sorted((m for m in stories.values() if len(m) > 1), key=len, reverse=True)
    table.add_row("stories", f"{len(stories)} ({len(multi)} with more than one article)")
    largest = "; ".join(f"{m[0].get('title') or m[0]['id']} ({len(m)})" for m in multi[:3])
    table.add_row("largest stories (articles)", largest or "-")
    return table


def run_demo(
    settings: Settings,
    *,
    limit: int = 300,
    corpus: Path | None = None,
    keep: bool = False,
    timeout: float = 900.0,
    console: Console | None = None,
) -> int:
    console = console or Console()
    local = LocalKafka(settings) if settings.uses_local_kafka else None
    started_kafka = False
    if local is not None:
        with console.status(
            f"starting local Kafka {settings.kafka_version} on "
            f"{settings.bootstrap_servers} (first run downloads it)"
        ):
            started_kafka = local.up()
    run = time.strftime("%Y%m%d%H%M%S")
    demo = run_settings(
        settings, f"demo-{run}", web_port=free_port(), data_dir=settings.data_dir / f"demo-{run}"
    )
    worker = WorkerProcess(worker_env(demo), Path("var") / "logs" / f"demo-{run}-worker.log")
    try:
        asyncio.run(create_topics(demo))
        messages = build_corpus(demo, limit, corpus)
        with console.status("starting the worker (loading the NER model)"):
            worker.start().wait_ready()
        console.print(f"worker ready; log: {worker.log_path}")
        started = time.time()
        asyncio.run(produce_all(demo, messages, console))
        with Live(console=console, refresh_per_second=4) as live:

            def update(out: Outcomes) -> None:
                rate = out.total / max(1e-9, time.time() - started)
                live.update(
                    f"outputs {out.total}/{len(messages)}  enriched {len(out.enriched)}"
                    f"  duplicates {len(out.duplicates)}  dead letters "
                    f"{len(out.deadletters)}  lag {len(messages) - out.total}"
                    f"  rate {rate:.1f}/s"
                )

            out = asyncio.run(collect(demo, len(messages), timeout, update))
        console.print()
        console.print(summary_table(out, len(messages), started))
        ok = out.total == len(messages)
        if not ok:
            console.print(
                f"[red]only {out.total} of {len(messages)} messages came out within "
                f"{timeout:.0f} s; see {worker.log_path}[/red]"
            )
        return 0 if ok else 1
    finally:
        with console.status("stopping the worker"):
            code = worker.stop()
        console.print(f"worker stopped (exit code {code})")
        if not keep:
            asyncio.run(delete_run_topics(demo))
        else:
            console.print(
                f"topics kept: {', '.join(demo.topic_names().values())}; read one with "
                f"`newsflow tail {demo.topic_enriched}`"
                + (" after `newsflow kafka up`" if started_kafka else ""),
                soft_wrap=True,  # names to copy, not to wrap
            )
        if started_kafka and local is not None:
            with console.status("stopping local Kafka"):
                local.down()
            console.print("local Kafka stopped")


async def produce_all(settings: Settings, messages: list[bytes], console: Console) -> None:
    from rich.progress import Progress

    producer = make_producer(settings)
    await producer.start()
    try:
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("producing", total=len(messages))
            for value in messages:
                key = None
                try:
                    doc = orjson.loads(value)
                    key = str(doc.get("id") or doc.get("url") or "").encode() or None
                except (orjson.JSONDecodeError, AttributeError):
                    pass
                await producer.send(settings.topic_raw, value=value, key=key)
                progress.advance(task)
            await producer.flush()
    finally:
        await producer.stop()
