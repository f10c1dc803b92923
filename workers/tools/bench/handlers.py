"""The worker parent's CPU per article, without a broker: the agents' handlers driven in process.

``newsflow bench pipeline`` needs a broker and mixes the parent's CPU with the tagging children's
and the broker's. This drives the four handlers (``Handlers.on_raw``, ``on_cleaned``,
``on_unique_batch`` and ``StoryHandler.on_tagged``) on the news-dev articles with a recording sink,
exactly as the agents call them, and counts the process CPU each stage takes. The tagging pool is
replaced by the real tagger's results computed beforehand (cached in ``--tags``, with the story
terms the pool's processes pack beside them), so the model's CPU is not counted: what is left is
the parent's share (decode, stage, encode, metrics), minus Faust's own stream and producer
machinery, which needs a broker.

Run::

    PYTHONPATH=$PWD python -m workers.tools.bench.handlers --repeats 5 [--profile out.prof]

Each repeat builds a fresh app (empty dedup and story state) and feeds every article once.
``--digests`` instead prints a digest of everything each topic was sent (intermediate topics
too) and of the dedup state, with the clocks fixed: equal digests before and after a change
mean byte-identical outputs on every news-dev article.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from unittest import mock

from workers.ops.metrics import Metrics
from workers.records import CleanedArticle, Rejected, Tagged
from workers.settings import Settings
from workers.stream.agents import Source
from workers.stream.app import Newsflow, create_app
from workers.stream.tagpool import pack_story_terms
from workers.tools.bench import tag_cache
from workers.tools.bench.pipeline import _message, load_docs

BATCH = 32  # the tag agent's default batch (settings.tag_batch_size)


class Recorder:
    """The sink: holds each topic's messages until the next stage takes them; with ``log``,
    also appends every message to it (``key NUL value LF`` per topic, for the digests)."""

    def __init__(self, log: dict[str, list[bytes]] | None = None) -> None:
        self.sent: dict[str, list[tuple[bytes, bytes]]] = {}
        self.log = log

    async def __call__(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.setdefault(topic, []).append((key, value))
        if self.log is not None:
            self.log.setdefault(topic, []).append(key + b"\0" + value + b"\n")

    def take(self, topic: str) -> list[tuple[bytes, bytes]]:
        return self.sent.pop(topic, [])


class CachedPool:
    """Answers with the tags the real tagger gave the same article id."""

    def __init__(self, tags: dict[str, Tagged | Rejected]) -> None:
        self.tags = tags

    async def tag(
        self, articles: Sequence[CleanedArticle]
    ) -> tuple[list[Tagged | Rejected], float]:
        return [self.tags.get(a.id, Tagged()) for a in articles], 0.0


# What real_tags caches: a cache of other contents (before the pool packed story terms) is redone.
_CONTENTS = "Tagged results with packed story terms (workers.stages.stories.packed_terms)"


def real_tags(settings: Settings, docs: list[dict[str, Any]], cache: Path) -> dict[str, Any]:
    """The real tagger's result for every article (its cleaned text), cached in ``cache`` with
    the NER model's and the knowledge base's versions (another version's cache is redone)."""
    from workers.stages.entities import make_tagger

    tags: dict[str, Any] | None = tag_cache.load(cache, settings.spacy_model, _CONTENTS)
    if tags is not None:
        return tags

    app = _app(settings, {})
    articles: list[CleanedArticle] = []
    for doc in docs:
        raw = app.codec.decode_raw(_message(doc, 0.0)[1], ingested_at=0.0)
        if isinstance(raw, Rejected):
            continue
        result, _ = app.cleaner.clean_with_report(raw, (0, len(articles)))
        if not isinstance(result, Rejected):
            articles.append(result)
    tagger = make_tagger(settings)
    tags = {}  # article id -> the tagger's result
    for start in range(0, len(articles), BATCH):
        chunk = articles[start:start + BATCH]
        results = tagger.tag_batch(chunk)
        pack_story_terms(chunk, results)  # as the pool's processes do, beside NER
        for article, tagged in zip(chunk, results, strict=True):
            tags[article.id] = tagged
    app.close_pool()
    tag_cache.save(cache, settings.spacy_model, tags, _CONTENTS)
    return tags


def _app(settings: Settings, tags: dict[str, Any], sink: Recorder | None = None) -> Newsflow:
    app = create_app(
        settings,
        metrics=Metrics(),
        tag_pool=CachedPool(tags),
        sink=sink or Recorder(),
        dedup_state={},
        story_state=({}, {}, {}),
        clean_state={},
    )
    app.deduplicator.bind_state(app.verdicts)
    return app


async def run_once(
    settings: Settings, docs: list[dict[str, Any]], tags: dict[str, Any],
    profile: cProfile.Profile | None = None, log: dict[str, list[bytes]] | None = None,
) -> tuple[dict[str, float], Newsflow]:
    """Every article through the four handlers; process CPU seconds per stage, and the app."""
    sink = Recorder(log)
    app = _app(settings, tags, sink)
    handlers, stories = app.handlers, app.story_handler
    cpu = dict.fromkeys(("clean", "dedup", "tag", "story"), 0.0)
    offsets = dict.fromkeys(("raw", "cleaned", "unique", "tagged"), 0)
    base = 1.7e9
    if profile is not None:
        profile.enable()

    def src(topic: str) -> Source:
        offsets[topic] += 1
        return Source(topic, 0, offsets[topic], None, base + offsets[topic])

    unique: list[tuple[bytes | None, Source]] = []
    for i, doc in enumerate(docs):
        value = _message(doc, base + i)[1]
        started = time.process_time()
        await handlers.on_raw(value, src("raw"))
        cpu["clean"] += time.process_time() - started
        for _, cleaned in sink.take("cleaned"):
            started = time.process_time()
            await handlers.on_cleaned(cleaned, src("cleaned"))
            handlers.mark_forwarded()
            cpu["dedup"] += time.process_time() - started
        unique += [(v, src("unique")) for _, v in sink.take("unique")]
        if len(unique) >= BATCH or i == len(docs) - 1:
            started = time.process_time()
            await handlers.on_unique_batch(unique)
            cpu["tag"] += time.process_time() - started
            unique = []
        started = time.process_time()
        for _, tagged in sink.take("tagged"):
            await stories.on_tagged(tagged, src("tagged"))
        cpu["story"] += time.process_time() - started
        for topic in ("enriched", "stories", "duplicates", "deadletter"):
            sink.take(topic)  # the pipeline's ends: nothing reads them here
    if profile is not None:
        profile.disable()
    app.close_pool()
    return cpu, app


def digests(settings: Settings, docs: list[dict[str, Any]], tags: dict[str, Any]) -> dict[str, str]:
    """Topic (and ``dedup-state``) -> record count and SHA-256 of its records, clocks fixed."""
    sent: dict[str, list[bytes]] = {}
    with mock.patch("time.time", lambda: 1.75e9), mock.patch("time.perf_counter", lambda: 0.0):
        _, app = asyncio.run(run_once(settings, docs, tags, log=sent))
    state = app.verdicts.backing
    sent["dedup-state"] = [k.encode() + b"\0" + state[k] + b"\n" for k in sorted(state)]
    return {
        topic: f"{len(rows)} {hashlib.sha256(b''.join(rows)).hexdigest()[:16]}"
        for topic, rows in sorted(sent.items())
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="first N articles (0: all)")
    parser.add_argument("--tags", type=Path, default=Path("/tmp/newsflow-bench-tags.pickle"))
    parser.add_argument("--profile", type=Path, help="write a cProfile of the last repeat")
    parser.add_argument("--digests", action="store_true", help="digests of the outputs only")
    args = parser.parse_args(argv)
    settings = Settings(app_id="bench-handlers")
    docs = load_docs(settings)
    if args.limit:
        docs = docs[: args.limit]
    tags = real_tags(settings, docs, args.tags)
    if args.digests:
        for topic, digest in digests(settings, docs, tags).items():
            print(topic, digest)
        return
    per: dict[str, list[float]] = {}
    for r in range(args.repeats):
        prof = cProfile.Profile() if args.profile and r == args.repeats - 1 else None
        cpu, _ = asyncio.run(run_once(settings, docs, tags, prof))
        if prof is not None:
            prof.dump_stats(args.profile)
        total = sum(cpu.values())
        for stage, seconds in [*cpu.items(), ("total", total)]:
            per.setdefault(stage, []).append(seconds / len(docs) * 1e3)
        print(" ".join(f"{k}={v[-1]:.3f}" for k, v in per.items()), "ms/article", flush=True)
    print("median", " ".join(f"{k}={statistics.median(v):.3f}" for k, v in per.items()))


if __name__ == "__main__":
    main()
