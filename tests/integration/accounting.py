"""Accounting for the reliability tests: a mixed corpus, where every input came out, how often,
and whether dedup's verdicts match an uninterrupted run of the same pure stages."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from workers.codec import VOLATILE_FIELDS, Codec, content_digest
from workers.kafka.io import Record, read_topics
from workers.records import Rejected
from workers.settings import Settings
from workers.stages.clean import make_cleaner
from workers.stages.dedup import make_deduplicator
from workers.tools.evaluation.clusters import UnionFind


@dataclass
class Corpus:
    """Raw messages for a fault test and what each must become."""

    messages: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # well-formed article ids
    malformed: set[str] = field(default_factory=set)  # sha256 of each malformed value

    @property
    def keys(self) -> set[str]:
        return set(self.ids) | self.malformed


def build_corpus(
    shared_data: Path, total: int, copies: int, malformed: list[bytes], seed: int = 7
) -> Corpus:
    """``total`` messages: dev articles (reused under new ids once the file runs out), ``copies``
    exact copies of them under new ids, and the ``malformed`` values, shuffled together."""
    lines = (shared_data / "news-dev.jsonl").read_bytes().splitlines()
    docs = [orjson.loads(line) for line in lines if line.strip()]
    rng = random.Random(seed)
    n_articles = total - copies - len(malformed)
    articles = []
    for i in range(n_articles):
        doc = docs[i % len(docs)]
        articles.append({**doc, "id": f"a{i}-{doc['id']}"})
    for i in range(copies):
        articles.append({**articles[rng.randrange(n_articles)], "id": f"copy{i}"})
    items: list[tuple[bytes | None, bytes]] = [
        (d["id"].encode(), orjson.dumps(d)) for d in articles
    ]
    items += [(None, value) for value in malformed]
    rng.shuffle(items)
    return Corpus(
        messages=items,
        ids=[key.decode() for key, _ in items if key is not None],
        malformed={hashlib.sha256(value).hexdigest() for value in malformed},
    )


def output_kinds(settings: Settings) -> dict[str, str]:
    return {
        settings.topic_enriched: "enriched",
        settings.topic_duplicates: "duplicates",
        settings.topic_deadletter: "deadletter",
    }


def output_key(doc: dict, malformed: set[str]) -> str:
    """What an output accounts for: a malformed input's sha256 (a dead letter of one of
    ``malformed``; such a letter may still carry an id the codec found), else the article id."""
    sha = doc.get("original_sha256")
    return sha if sha in malformed else doc["id"]


def collect_outputs(
    settings: Settings, corpus: Corpus | None = None, timeout: float = 300.0
) -> list[Record]:
    """Read the output topics (read_committed) until every input of ``corpus`` came out (or
    the timeout); without ``corpus``, everything there is now."""
    seen: set[str] = set()
    wanted = corpus.keys if corpus is not None else None
    malformed = corpus.malformed if corpus is not None else set()

    async def run() -> list[Record]:
        out: list[Record] = []

        def complete() -> bool:
            seen.add(output_key(orjson.loads(out[-1].value or b"{}"), malformed))
            return wanted is not None and wanted <= seen

        async for rec in read_topics(
            settings,
            list(output_kinds(settings)),
            deadline=time.monotonic() + timeout,
            idle_timeout=1.5,
            follow=wanted is not None,
            until=complete,
        ):
            out.append(rec)
        return out

    return asyncio.run(run())


@dataclass
class Accounting:
    """Where every input ended up, and how often."""

    topic_of: dict[str, str]  # key -> output kind
    copies: Counter[str]  # key -> outputs seen (1 unless replayed)
    differing: list[str]  # keys whose repeats differ beyond VOLATILE_FIELDS
    in_two_topics: list[str]
    links: dict[str, str]  # duplicate id -> duplicate_of
    unsealed: list[str]  # keys of records without an id or whose digest is not their content's

    @property
    def repeated(self) -> int:
        return sum(n - 1 for n in self.copies.values())


def account(settings: Settings, records: list[Record], malformed: set[str]) -> Accounting:
    kinds = output_kinds(settings)
    topic_of: dict[str, str] = {}
    stable: dict[str, bytes] = {}
    copies: Counter[str] = Counter()
    differing: set[str] = set()
    in_two: set[str] = set()
    links: dict[str, str] = {}
    unsealed: set[str] = set()
    for rec in records:
        doc = orjson.loads(rec.value or b"{}")
        key, kind = output_key(doc, malformed), kinds[rec.topic]
        if not doc.get("id") or doc.get("digest") != content_digest(doc):
            unsealed.add(key)
        body = orjson.dumps(
            {k: v for k, v in doc.items() if k not in VOLATILE_FIELDS},
            option=orjson.OPT_SORT_KEYS,
        )
        copies[key] += 1
        if topic_of.setdefault(key, kind) != kind:
            in_two.add(key)
        if stable.setdefault(key, body) != body:
            differing.add(key)
        if kind == "duplicates":
            links[key] = doc["duplicate_of"]
    return Accounting(
        topic_of, copies, sorted(differing), sorted(in_two), links, sorted(unsealed)
    )


def clusters(ids: Iterable[str], links: dict[str, str]) -> set[frozenset[str]]:
    """Groups of two or more ids: the transitive closure of the duplicate_of links."""
    sets: UnionFind[str] = UnionFind(ids)
    for i, j in links.items():
        sets.union(i, j)
    return {frozenset(g) for g in sets.groups(min_size=2)}


def raw_positions(settings: Settings, corpus: Corpus) -> dict[tuple[bytes | None, bytes],
                                                          list[tuple[int, int]]]:
    """Partitions and offsets in the raw topic (as the worker saw them) of each distinct
    (key, value) of the corpus, in offset order."""
    wanted = Counter((key, hashlib.sha256(value).digest()) for key, value in corpus.messages)
    found: dict[tuple[bytes | None, bytes], list[tuple[int, int]]] = {}
    left = [sum(wanted.values())]

    async def run() -> None:
        async for rec in read_topics(settings, [settings.topic_raw], idle_timeout=5.0,
                                     deadline=time.monotonic() + 120,
                                     until=lambda: left[0] == 0):
            ident = (rec.key, hashlib.sha256(rec.value or b"").digest())
            if ident in wanted and len(found.setdefault(ident, [])) < wanted[ident]:
                found[ident].append((rec.partition, rec.offset))
                left[0] -= 1

    asyncio.run(run())
    return {ident: sorted(at) for ident, at in found.items()}


def reference_links(settings: Settings, corpus: Corpus) -> dict[str, str]:
    """Dedup's links for an uninterrupted run: the pure stages, in process, in produce order.
    With the source memory on, each article is cleaned at its partition and offset in the raw
    topic, each partition in offset order, against a memory of the articles before it (what the
    worker's memory answers)."""
    memory = {} if settings.clean_source_memory else None
    codec, dedup = Codec(), make_deduplicator(settings)
    cleaner = make_cleaner(settings, memory_store=memory)
    positions = raw_positions(settings, corpus) if memory is not None else {}
    raws = []
    for key, value in corpus.messages:
        raw = codec.decode_raw(value, ingested_at=0.0)
        if isinstance(raw, Rejected):
            continue
        at = None
        if memory is not None:
            seen = positions.get((key, hashlib.sha256(value).digest()))
            assert seen, f"{key!r} (an input) not found in the raw topic"
            at = seen.pop(0)
        raws.append((raw, at))
    cleaned = {}
    for raw, at in sorted(raws, key=lambda item: item[1] or (0, 0)):  # stable: produce order
        cleaned[raw.id] = cleaner.clean(raw, at)
    links = {}
    for raw, _ in raws:
        article = cleaned[raw.id]
        if isinstance(article, Rejected):
            continue
        verdict = dedup.check(article)
        if verdict.duplicate_of is not None:
            links[article.id] = verdict.duplicate_of
    return links


def assert_accounted(settings: Settings, corpus: Corpus, records: list[Record]) -> Accounting:
    """Every input came out, in one topic only, its repeats identical, and dedup's clusters
    equal those of an uninterrupted run."""
    acc = account(settings, records, corpus.malformed)
    missing = corpus.keys - set(acc.topic_of)
    extra = set(acc.topic_of) - corpus.keys
    # every kind of failure in one message (an input in two topics matters even when others
    # are still missing because the worker was slow)
    problems = [
        f"{len(missing)} inputs never came out, e.g. {sorted(missing)[:5]}" if missing else "",
        f"outputs for keys never produced: {sorted(extra)[:5]}" if extra else "",
        f"{len(acc.in_two_topics)} inputs in two output topics: {acc.in_two_topics[:5]}"
        if acc.in_two_topics else "",
        f"{len(acc.differing)} repeats that differ beyond {VOLATILE_FIELDS}: "
        f"{acc.differing[:5]}" if acc.differing else "",
        f"outputs without an id or a true digest: {acc.unsealed[:5]}" if acc.unsealed else "",
    ]
    assert not any(problems), "; ".join(p for p in problems if p)
    for sha in corpus.malformed:
        assert acc.topic_of[sha] == "deadletter"
    expected = clusters(corpus.ids, reference_links(settings, corpus))
    assert clusters(corpus.ids, acc.links) == expected
    return acc
