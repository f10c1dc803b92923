"""The story agent's per-message handling, without Faust.

Its input, ``articles.tagged`` (one partition, so one clusterer sees every article), carries two
kinds of message: enriched articles from the tag agent and duplicate notices from dedup. An
article gets its ``story_id`` and goes out on ``articles.enriched`` (exactly once per input, as
before this stage existed); every decision also publishes the story's new state on the compacted
``articles.stories``. A duplicate joins its original's story without being counted as an article
and produces only a story update (its own output is the duplicates topic, written by dedup).

A duplicate notice can arrive before its original: dedup decides at once, while the original
still waits for tagging. Such notices are parked under the original's id (in a mapping the app
backs with a Faust table) and applied when the original is decided; parked notices older than
the quiet period are dropped with the stories they could have joined.

Failures never lose an article: a message that cannot be read is dead-lettered (stage
``story``); a decision that raises is logged and the article goes out without a ``story_id``
(outcome ``unassigned``).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

from workers.codec import Codec, sealed
from workers.records import Rejected, StoryArticle, StoryDecision, epoch_seconds

if TYPE_CHECKING:
    from workers.ops.metrics import Metrics
    from workers.stages.stories import StoryClusterer
    from workers.stream.agents import Sink, Source

    DeadLetter = Callable[[str, Rejected, bytes | None, Source], Awaitable[None]]

log = logging.getLogger("newsflow.stories")


def story_article(doc: dict[str, Any], story_terms: str | None = None) -> StoryArticle:
    """What the clusterer reads of an enriched article: its publication time when it has one,
    else when it was ingested; ``story_terms``: the tagging processes' packed terms (base64)."""
    published = epoch_seconds(doc.get("published_at"))
    return StoryArticle(
        id=doc["id"],
        text=doc.get("text") or "",
        time=published if published is not None else float(doc["ingested_at"]),
        title=doc.get("title"),
        source=doc.get("source"),
        entities=tuple(
            (e["name"], e.get("qid"), e["label"], float(e.get("salience", 0.0)))
            for e in doc.get("entities", ())
        ),
        terms=_packed_terms(story_terms),
    )


def _packed_terms(value: str | None) -> bytes | None:
    """The packed terms of a ``story_terms`` field; None (the clusterer extracts the terms from
    the text) when there is none or it is not base64."""
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        log.warning("story_terms is not base64; the terms are extracted from the text")
        return None


class StoryHandler:
    """Decode, decide, route and count, for one message of ``articles.tagged``."""

    def __init__(
        self,
        *,
        codec: Codec,
        metrics: Metrics,
        sink: Sink,
        clusterer: StoryClusterer,
        parked: MutableMapping[str, bytes],
        dead_letter: DeadLetter,
    ) -> None:
        """``parked``: original id -> JSON list of duplicate notices waiting for it;
        ``dead_letter``: the agents' ``Handlers.dead_letter`` (one dead-letter format)."""
        self.codec = codec
        self.metrics = metrics
        self.sink = sink
        self.clusterer = clusterer
        self.parked = parked
        self.dead_letter = dead_letter
        # The latest article time seen: expiry runs on event time, so a replayed backlog of old
        # articles is clustered as it was, not expired by the wall clock.
        self.newest_time: float | None = None

    async def on_tagged(self, value: bytes | None, src: Source) -> str:
        """Handle one message; returns the outcome (a ``stage_out`` label)."""
        self.metrics.stage_in.labels(stage="story").inc()
        started = time.perf_counter()
        doc = self.codec.decode_tagged(value)
        if isinstance(doc, Rejected):
            if value is not None and b'"duplicate_of"' in value:
                # A duplicate notice already went out on the duplicates topic: not an input
                # of its own, so no dead letter (that would be a second output for it).
                log.error("unreadable duplicate notice: %s", doc.detail[:300])
                return self._count("unassigned", started)
            await self.dead_letter("story", doc, value, src)
            return "deadletter"
        if "duplicate_of" in doc:
            return await self._on_duplicate(doc, started)
        return await self._on_article(doc, started)

    async def _on_article(self, doc: dict[str, Any], started: float) -> str:
        story_terms = doc.pop("story_terms", None)  # for this stage only, not articles.enriched
        try:
            article = story_article(doc, story_terms)
            self.newest_time = max(self.newest_time or article.time, article.time)
            decision = self.clusterer.decide(article)
        except Exception:
            log.exception(
                "story decision failed; the article goes out without a story_id",
                extra={"stage": "story", "article_id": doc.get("id")},
            )
            await self._publish_article(doc)
            return self._count("unassigned", started)
        doc["story_id"] = decision.story_id
        timings = doc.setdefault("timings", {})
        timings["story"] = time.perf_counter() - started
        await self._publish_article(doc)
        await self._publish_story(decision)
        for notice in orjson.loads(self.parked.pop(decision.article_id, b"[]")):
            await self._join(notice)
        return self._count("new_story" if decision.is_new_story else "joined", started)

    async def _on_duplicate(self, doc: dict[str, Any], started: float) -> str:
        notice = {
            "id": doc["id"],
            "duplicate_of": doc["duplicate_of"],
            "time": doc["ingested_at"],
            "source": doc.get("source"),
        }
        if not await self._join(notice):
            waiting = orjson.loads(self.parked.get(notice["duplicate_of"], b"[]"))
            if all(n["id"] != notice["id"] for n in waiting):
                self.parked[notice["duplicate_of"]] = orjson.dumps([*waiting, notice])
        return self._count("duplicate", started)

    async def _join(self, notice: dict[str, Any]) -> bool:
        """Put a duplicate in its original's story; False when the original is not decided."""
        try:
            decision = self.clusterer.join_duplicate(
                notice["id"], notice["duplicate_of"], float(notice["time"]), notice.get("source")
            )
        except Exception:
            log.exception(
                "a duplicate could not join its original's story",
                extra={"stage": "story", "article_id": notice.get("id")},
            )
            return True  # not retried: counted as handled
        if decision is None:
            return False
        await self._publish_story(decision)
        return True

    async def _publish_article(self, doc: dict[str, Any]) -> None:
        now = time.time()
        doc["enriched_at"] = now
        await self.sink("enriched", doc["id"].encode(), sealed(doc))
        fetched = epoch_seconds(doc.get("fetched_at"))
        start = fetched if fetched is not None else float(doc["ingested_at"])
        self.metrics.e2e_seconds.observe(max(0.0, now - start))

    async def _publish_story(self, decision: StoryDecision) -> None:
        body = self.codec.encode_story(decision, updated_at=time.time())
        await self.sink("stories", decision.story_id.encode(), body)
        self.metrics.story_articles.observe(decision.story.article_count)

    def _count(self, outcome: str, started: float) -> str:
        self.metrics.stage_seconds.labels(stage="story").observe(time.perf_counter() - started)
        self.metrics.stage_out.labels(stage="story", outcome=outcome).inc()
        return outcome

    def expire(self, now: float) -> int:
        """Drop cold stories (the clusterer) and notices parked for longer than the quiet
        period; returns the number of stories dropped."""
        dropped = self.clusterer.expire(now)
        horizon = now - self.clusterer.config.quiet_period
        for original, value in list(self.parked.items()):
            notices = orjson.loads(value)
            if all(float(n["time"]) < horizon for n in notices):
                del self.parked[original]
        return dropped
