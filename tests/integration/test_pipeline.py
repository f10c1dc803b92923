"""End to end on the real broker: every input ends in exactly one of enriched / duplicates /
dead letters, nothing is lost, and every message on every topic meets its JSON Schema."""

from __future__ import annotations

import base64
import hashlib
import itertools
from pathlib import Path

import orjson
import pytest

from tests.integration.conftest import collect, produce, running_worker
from workers.codec import Codec
from workers.settings import Settings
from workers.stages.stories_text import article_terms, unpack_terms

pytestmark = pytest.mark.integration


def _sha(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


def malformed_messages(n_each: int = 10) -> dict[str, list[bytes]]:
    """At least ``n_each`` malformed messages of every kind the pipeline must dead-letter."""
    kinds: dict[str, list[bytes]] = {
        "invalid_json": [],
        "invalid_utf8": [],
        "schema_violation": [],
        "too_large": [],
        "empty_after_cleaning": [],
    }
    for i in range(n_each):
        kinds["invalid_json"].append(f'{{"id": "bad-json-{i}", "body": "unterminated'.encode())
        kinds["invalid_utf8"].append(b'{"id": "bad-utf8-%d", "body": "caf\xe9 \xff\xfe"}' % i)
        # missing body / missing both id and url / wrong types
        variants = [
            {"id": f"no-body-{i}", "title": "A title"},
            {"body": f"An article without id or url {i}."},
            {"id": f"int-body-{i}", "body": 12345 + i},
            {"id": f"bad-ctype-{i}", "body": "text", "content_type": "application/pdf"},
            {"id": f"list-title-{i}", "body": "Some text here.", "title": ["a", "b"]},
        ]
        kinds["schema_violation"].append(orjson.dumps(variants[i % len(variants)]))
        big = "word " * (260_000 + i)  # ~1.3 MB, over the 1 MiB default limit
        kinds["too_large"].append(orjson.dumps({"id": f"huge-{i}", "body": big}))
        kinds["empty_after_cleaning"].append(
            orjson.dumps({"id": f"empty-{i}", "body": " \n\t\n " * (i + 1)})
        )
    return kinds


def test_seed_article_comes_out_enriched(run_config: Settings, seed_article: str) -> None:
    value = orjson.dumps({"id": "seed", "body": seed_article, "content_type": "text/plain"})
    with running_worker(run_config):
        produce(run_config, [(b"seed", value)])
        records = collect(
            run_config,
            [run_config.topic_enriched, run_config.topic_deadletter],
            expected=1,
            timeout=240,
        )
    assert len(records) == 1 and records[0].topic == run_config.topic_enriched
    doc = orjson.loads(records[0].value)
    assert Codec().errors("enriched", doc) == []
    assert doc["id"] == "seed"
    assert doc["title"] and "NATO" in doc["title"]
    assert "Early Bird Brief" not in doc["text"]
    assert "Final Fantasy" not in doc["text"]
    names = {e["name"] for e in doc["entities"]}
    assert {"NATO", "Jens Stoltenberg"} <= names
    assert set(doc["timings"]) >= {"clean", "dedup", "tag"}
    # the tagging processes packed the article's story terms on its way to the story stage,
    # which read them and kept them out of articles.enriched
    assert doc["story_id"] and "story_terms" not in doc
    tagged = collect(run_config, [run_config.topic_tagged], expected=1, timeout=60)
    terms = unpack_terms(base64.b64decode(orjson.loads(tagged[0].value)["story_terms"]), 2)
    assert terms == article_terms(doc["title"], doc["text"], 2)


def test_every_input_accounted_for(run_config: Settings, shared_data: Path) -> None:
    lines = (shared_data / "news-dev.jsonl").read_bytes().splitlines()
    articles = [orjson.loads(line) for line in itertools.islice(lines, 0, 220)]
    inputs: list[tuple[bytes | None, bytes]] = []
    for doc in articles:
        inputs.append((doc["id"].encode(), orjson.dumps(doc)))
    copies = {}
    for doc in articles[:25]:  # exact copies under new ids
        copy = {**doc, "id": f"copy-of-{doc['id']}"}
        copies[copy["id"]] = doc["id"]
        inputs.append((copy["id"].encode(), orjson.dumps(copy)))
    bad = malformed_messages(10)
    for values in bad.values():
        inputs += [(None, v) for v in values]

    with running_worker(run_config):
        produce(run_config, inputs)
        outputs = [
            run_config.topic_enriched,
            run_config.topic_duplicates,
            run_config.topic_deadletter,
        ]
        collect(run_config, outputs, expected=len(inputs), timeout=600)
    # Read everything again once the worker is gone: nothing extra may have appeared.
    records = collect(run_config, outputs, idle_timeout=3.0)

    by_topic: dict[str, list[dict]] = {t: [] for t in outputs}
    for rec in records:
        by_topic[rec.topic].append(orjson.loads(rec.value))
    enriched = by_topic[run_config.topic_enriched]
    duplicates = by_topic[run_config.topic_duplicates]
    dead = by_topic[run_config.topic_deadletter]

    # Counts add up: one output per input, no more, no less.
    assert len(enriched) + len(duplicates) + len(dead) == len(inputs)

    # Each well-formed article id comes out exactly once.
    good_ids = [doc["id"] for doc in articles] + list(copies)
    out_ids = [d["id"] for d in enriched] + [d["id"] for d in duplicates]
    assert sorted(out_ids) == sorted(good_ids)

    # Each malformed message is dead-lettered once with its reason and its original bytes.
    dead_by_sha = {d["original_sha256"]: d for d in dead}
    assert len(dead_by_sha) == len(dead)
    for reason, values in bad.items():
        for value in values:
            letter = dead_by_sha[_sha(value)]
            assert letter["reason"] == reason, (reason, letter["error"])
            kept = base64.b64decode(letter["original_b64"])
            if reason == "too_large":
                assert letter["truncated"] and kept == value[: run_config.deadletter_keep_bytes]
                assert letter["original_size"] == len(value)
            else:
                assert kept == value and not letter["truncated"]
            assert letter["error"] and letter["source"]["topic"] == run_config.topic_raw

    # Copies: of each (original, copy) pair exactly one is enriched, the other an exact duplicate.
    enriched_ids = {d["id"] for d in enriched}
    dup_by_id = {d["id"]: d for d in duplicates}
    for copy_id, orig_id in copies.items():
        assert (copy_id in enriched_ids) != (orig_id in enriched_ids)
        dup = dup_by_id[copy_id] if copy_id in dup_by_id else dup_by_id[orig_id]
        assert dup["kind"] == "exact"
        assert dup["duplicate_of"] in (copy_id, orig_id)

    # Every message seen on every topic validates against its schema.
    codec = Codec()
    schema_of = {
        run_config.topic_cleaned: "cleaned",
        run_config.topic_unique: "cleaned",
        run_config.topic_enriched: "enriched",
        run_config.topic_duplicates: "duplicate",
        run_config.topic_deadletter: "deadletter",
    }
    everything = collect(run_config, list(schema_of), idle_timeout=3.0)
    assert len(everything) >= len(inputs)
    for rec in everything:
        problems = codec.errors(schema_of[rec.topic], orjson.loads(rec.value))
        assert problems == [], (rec.topic, problems)
