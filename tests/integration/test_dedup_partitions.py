"""Dedup on the real broker with 4 raw partitions and 2 workers: a copy is caught whichever
partition and worker its original went through, and the index survives a restart (the state
table is restored from its changelog topic)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import orjson
import pytest

from tests.integration.conftest import collect, running_worker
from workers.kafka.io import make_producer
from workers.settings import Settings

pytestmark = pytest.mark.integration


def produce_with_partitions(settings: Settings, docs: list[dict]) -> dict[str, int]:
    """Publish ``docs`` keyed by id; returns the raw partition each landed in."""

    async def run() -> dict[str, int]:
        producer = make_producer(settings)
        await producer.start()
        try:
            futures = [
                (
                    doc["id"],
                    await producer.send(
                        settings.topic_raw, key=doc["id"].encode(), value=orjson.dumps(doc)
                    ),
                )
                for doc in docs
            ]
            return {aid: (await fut).partition for aid, fut in futures}
        finally:
            await producer.stop()

    return asyncio.run(run())


def near_copy(doc: dict, new_id: str) -> dict:
    """A wire-style edit: new headline, last paragraph dropped, a sentence of the update and a
    credit line added. (The cleaner removes the credit line, so that alone would leave the
    same text: an exact copy.)"""
    paragraphs = [p for p in doc["body"].split("\n\n") if p.strip()]
    body = "\n\n".join(paragraphs[:-1] if len(paragraphs) > 3 else paragraphs)
    update = "Officials said on Tuesday that they expected to give more details later this week."
    return {
        "id": new_id,
        "title": "UPDATE: " + doc["title"],
        "body": body + f"\n\n{update}\n\n(Reporting by staff; editing by the desk)",
    }


def outcomes(settings: Settings) -> tuple[dict[str, dict], dict[str, dict]]:
    records = collect(
        settings, [settings.topic_enriched, settings.topic_duplicates], idle_timeout=3.0
    )
    enriched, dups = {}, {}
    for rec in records:
        doc = orjson.loads(rec.value)
        (enriched if rec.topic == settings.topic_enriched else dups)[doc["id"]] = doc
    return enriched, dups


def test_duplicates_caught_across_partitions_workers_and_restarts(
    run_config: Settings, shared_data: Path
) -> None:
    assert run_config.partitions_raw >= 2
    lines = (shared_data / "news-dev.jsonl").read_bytes().splitlines()
    originals = [orjson.loads(x) for x in itertools.islice(lines, 300, 330)]
    with running_worker(run_config, "a") as a, running_worker(run_config, "b") as b:
        where = produce_with_partitions(run_config, originals)
        collect(
            run_config,
            [run_config.topic_enriched, run_config.topic_duplicates],
            keys={d["id"] for d in originals},
            timeout=300,
        )
        # Even: exact copies under a new id; odd: wire-style near copies.
        copies: dict[str, str] = {}
        kinds: dict[str, str] = {}
        docs = []
        for i, doc in enumerate(originals):
            new_id = f"copy-{doc['id']}"
            docs.append(near_copy(doc, new_id) if i % 2 else {**doc, "id": new_id})
            copies[new_id] = doc["id"]
            kinds[new_id] = "near" if i % 2 else "exact"
        placed = produce_with_partitions(run_config, docs)
        collect(
            run_config,
            [run_config.topic_enriched, run_config.topic_duplicates],
            keys={d["id"] for d in originals + docs},
            timeout=300,
        )
        assert a.alive() and b.alive()
    crossed = [c for c, o in copies.items() if placed[c] != where[o]]
    assert len(crossed) >= len(copies) // 2, "too few copies crossed partitions to test"
    enriched, dups = outcomes(run_config)
    for copy_id, orig_id in copies.items():
        assert copy_id in dups, f"{copy_id} (copy of {orig_id}) was not caught"
        assert dups[copy_id]["duplicate_of"] == orig_id
        assert dups[copy_id]["kind"] == kinds[copy_id]
    assert set(enriched) == {d["id"] for d in originals}

    # Restart: a fresh worker restores the index from the changelog and still catches copies.
    with running_worker(run_config, "c"):
        late = [{**doc, "id": f"late-{doc['id']}"} for doc in originals[:10]]
        produce_with_partitions(run_config, late)
        # Every late copy's notice, not a count: replays after the restart repeat notices.
        collect(run_config, [run_config.topic_duplicates], keys={d["id"] for d in late},
                timeout=300)
    _, dups = outcomes(run_config)
    for doc in late:
        assert dups[doc["id"]]["duplicate_of"] == doc["id"].removeprefix("late-")
