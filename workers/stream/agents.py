"""Per-message handling of the clean, dedup and tag agents, without Faust.

``workers.stream.app`` wires these handlers to topics; here they take message bytes and a ``Source``
(topic/partition/offset) and hand results to a ``Sink``. Every input ends in exactly one output:
the next topic, the duplicates topic or the dead-letter topic. Expected failures are
``Rejected`` values; any exception from a stage is caught here, at the agent boundary, logged
with the message's coordinates and dead-lettered as ``processing_error`` — a broken message must
never kill an agent (Faust would acknowledge it and lose it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from workers.codec import Codec
from workers.records import (
    CleanedArticle,
    DedupVerdict,
    RawArticle,
    Rejected,
    Tagged,
)
from workers.stream.verdicts import VerdictState, content_digest

if TYPE_CHECKING:
    from workers.ops.metrics import Metrics
    from workers.stages.clean import Cleaner
    from workers.stages.dedup import Deduplicator

log = logging.getLogger("newsflow.agents")

# The pipeline, declared once: stage name -> (input topic key, output topic keys). The names are
# the `stage` label of every metric and the `stage` field of every log line and dead letter.
PIPELINE: dict[str, tuple[str, tuple[str, ...]]] = {
    "clean": ("raw", ("cleaned", "deadletter")),
    "dedup": ("cleaned", ("unique", "duplicates", "tagged", "deadletter")),
    "tag": ("unique", ("tagged", "deadletter")),
    "story": ("tagged", ("enriched", "stories", "deadletter")),
}


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    timestamp: float | None = None  # the record's Kafka timestamp (epoch seconds)


# send(topic_key, key, value): topic_key is one of "cleaned", "unique", ...
Sink = Callable[[str, bytes, bytes], Awaitable[None]]


class TagPoolLike(Protocol):
    async def tag(
        self, articles: Sequence[CleanedArticle]
    ) -> tuple[list[Tagged | Rejected], float]: ...


class Handlers:
    """The agents' logic: decode, run the stage, route the result, count it."""

    def __init__(
        self,
        *,
        codec: Codec,
        metrics: Metrics,
        sink: Sink,
        cleaner: Cleaner,
        deduplicator: Deduplicator,
        tag_pool: TagPoolLike,
        executor: Executor | None = None,
        html_timeout: float = 5.0,
        verdicts: VerdictState | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        """``provenance``: fields every enriched record carries (NER model, KB version)."""
        self.codec = codec
        self.metrics = metrics
        self.sink = sink
        self.cleaner = cleaner
        self.dedup = deduplicator
        self.tag_pool = tag_pool
        self.executor = executor
        self.html_timeout = html_timeout
        self.verdicts = verdicts
        self.provenance = dict(provenance or {})
        self.replayed = 0  # articles that got their stored dedup verdict again
        self.replay_skipped = 0  # ... whose outputs had gone out before: not sent again
        # (id, ingested_at) of verdicts to mark forwarded once the outputs are delivered
        self.to_mark: list[tuple[str, float]] = []

    # --- shared -----------------------------------------------------------------------------
    async def dead_letter(
        self, stage: str, rejected: Rejected, value: bytes | None, src: Source
    ) -> None:
        log.warning(
            "dead-lettered: %s",
            rejected.detail[:300],
            extra={
                "stage": stage,
                "reason": rejected.reason,
                "article_id": rejected.article_id,
                "topic": src.topic,
                "partition": src.partition,
                "offset": src.offset,
            },
        )
        body = self.codec.encode_deadletter(
            stage=stage,
            rejected=rejected,
            original=value,
            topic=src.topic,
            partition=src.partition,
            offset=src.offset,
            failed_at=time.time(),
        )
        key = (rejected.article_id or f"{src.topic}:{src.partition}:{src.offset}").encode()
        await self.sink("deadletter", key, body)
        self.metrics.deadletters.labels(stage=stage, reason=rejected.reason).inc()
        self.metrics.stage_out.labels(stage=stage, outcome="deadletter").inc()

    def _crash(
        self, stage: str, exc: BaseException, src: Source, article_id: str | None
    ) -> Rejected:
        log.exception(
            "%s stage failed on a message",
            stage,
            extra={
                "stage": stage,
                "article_id": article_id,
                "topic": src.topic,
                "partition": src.partition,
                "offset": src.offset,
            },
        )
        return Rejected("processing_error", f"{type(exc).__name__}: {exc}", article_id)

    # --- clean ------------------------------------------------------------------------------
    async def on_raw(self, value: bytes | None, src: Source) -> str:
        """Handle one message of articles.raw; returns the outcome."""
        self.metrics.stage_in.labels(stage="clean").inc()
        started = time.perf_counter()
        raw: RawArticle | Rejected | None = None
        try:
            # The record's timestamp, not the clock: a redelivered message keeps its ingest time.
            raw = self.codec.decode_raw(value, ingested_at=src.timestamp)
            if isinstance(raw, Rejected):
                await self.dead_letter("clean", raw, value, src)
                return "deadletter"
            at = (src.partition, src.offset)  # the source memory reads only what came before
            if raw.content_type == "text/html" and self.executor is not None:
                # Extraction can take tens of ms: keep it off the event loop.
                loop = asyncio.get_running_loop()
                result, report = await asyncio.wait_for(
                    loop.run_in_executor(self.executor, self.cleaner.clean_with_report, raw, at),
                    timeout=self.html_timeout * 2,
                )
            else:
                result, report = self.cleaner.clean_with_report(raw, at)
            self.metrics.observe_clean(report)  # extraction health per (bounded) source
        except Exception as exc:
            aid = raw.id if isinstance(raw, RawArticle) else None
            await self.dead_letter("clean", self._crash("clean", exc, src, aid), value, src)
            return "deadletter"
        if isinstance(result, Rejected):
            await self.dead_letter("clean", result, value, src)
            return "deadletter"
        elapsed = time.perf_counter() - started
        cleaned = replace(result, timings={**result.timings, "clean": elapsed})
        await self.sink("cleaned", cleaned.id.encode(), self.codec.encode_cleaned(cleaned))
        for removed in cleaned.removed:
            self.metrics.lines_removed.labels(reason=removed.reason).inc()
        self.metrics.stage_seconds.labels(stage="clean").observe(elapsed)
        self.metrics.stage_out.labels(stage="clean", outcome="ok").inc()
        return "ok"

    # --- dedup ------------------------------------------------------------------------------
    async def on_cleaned(self, value: bytes | None, src: Source) -> str:
        self.metrics.stage_in.labels(stage="dedup").inc()
        started = time.perf_counter()
        decoded = self.codec.decode_cleaned(value)
        if isinstance(decoded, Rejected):
            await self.dead_letter("dedup", decoded, value, src)
            return "deadletter"
        article, _ = decoded
        try:
            verdict, delivered_before = self._decide(article)
        except Exception as exc:
            if self.verdicts is not None:
                self.verdicts.discard()
            await self.dead_letter("dedup", self._crash("dedup", exc, src, article.id), value, src)
            return "deadletter"
        outcome = "unique" if verdict.status == "unique" else "duplicate"
        if delivered_before:
            # A replay whose outputs are already on the broker: sending them again would
            # only be a repeat downstream.
            self.replay_skipped += 1
            self.metrics.stage_out.labels(stage="dedup", outcome=outcome).inc()
            return outcome
        if self.verdicts is not None:
            self.to_mark.append((article.id, article.ingested_at))
        elapsed = time.perf_counter() - started
        article = replace(article, timings={**article.timings, "dedup": elapsed})
        key = article.id.encode()
        if outcome == "unique":
            await self.sink("unique", key, self.codec.encode_cleaned(article, verdict))
        else:
            body = self.codec.encode_duplicate(article, verdict, detected_at=time.time())
            await self.sink("duplicates", key, body)
            await self.sink("tagged", key, body)  # the duplicate joins its original's story
            self.metrics.duplicates.labels(kind=verdict.kind or "near").inc()
        self.metrics.stage_seconds.labels(stage="dedup").observe(elapsed)
        self.metrics.stage_out.labels(stage="dedup", outcome=outcome).inc()
        return outcome

    def _decide(self, article: CleanedArticle) -> tuple[DedupVerdict, bool]:
        """The stored verdict for a replay (same id, same content), else dedup's decision; and
        whether that verdict's outputs are known to be on the broker already.

        Under at-least-once an article reaches dedup again after a crash between the state
        write and the offset commit; it must get its first verdict again, not "redelivery".
        The same id with other content is still a redelivery (dedup's own rule).
        """
        if self.verdicts is None:
            return self.dedup.check(article), False
        digest = content_digest(article)
        stored = self.verdicts.stored(article.id)
        if stored is not None and stored.digest == digest:
            # The same raw record again (a crash replay), and its outputs are on the broker.
            delivered = stored.forwarded_at == article.ingested_at
            self.replayed += 1
            log.info(
                "replayed article gets its first dedup verdict"
                + ("; its outputs went out before, not sent again" if delivered else ""),
                extra={"stage": "dedup", "article_id": article.id, "status": stored.verdict.status},
            )
            return stored.verdict, delivered
        verdict = self.dedup.check(article)
        self.verdicts.record(article.id, verdict, digest)
        return verdict, False

    def take_marks(self) -> list[tuple[str, float]]:
        """The verdicts the events handled since the last call will mark forwarded; handing
        them to :meth:`mark_forwarded` is up to the caller, once their outputs are delivered."""
        held, self.to_mark = self.to_mark, []
        return held

    def mark_forwarded(self, held: list[tuple[str, float]] | None = None) -> None:
        """After the outputs are delivered: mark the verdicts ``held`` (by default, those of
        the events handled since the last :meth:`take_marks`) forwarded."""
        if held is None:
            held = self.take_marks()
        if self.verdicts is not None:
            for article_id, ingested_at in held:
                self.verdicts.mark_forwarded(article_id, ingested_at)

    # --- tag --------------------------------------------------------------------------------
    async def on_unique_batch(self, batch: Sequence[tuple[bytes | None, Source]]) -> list[str]:
        """Tag a batch of articles.unique messages; one outcome per message, in order."""
        self.metrics.stage_in.labels(stage="tag").inc(len(batch))
        started = time.perf_counter()
        outcomes: list[str] = ["deadletter"] * len(batch)
        good: list[tuple[int, CleanedArticle, DedupVerdict]] = []
        for i, (value, src) in enumerate(batch):
            decoded = self.codec.decode_cleaned(value)
            if isinstance(decoded, Rejected):
                await self.dead_letter("tag", decoded, value, src)
                continue
            article, verdict = decoded
            good.append((i, article, verdict or DedupVerdict("unique")))
        if not good:
            return outcomes
        articles = [a for _, a, _ in good]
        try:
            results, inference = await self.tag_pool.tag(articles)
        except Exception as exc:
            # The pool itself failed (e.g. a child died): tag one by one so that only the
            # article that breaks it is dead-lettered.
            log.warning("batch tagging failed (%s); retrying articles one at a time", exc)
            results, inference = [], 0.0
            for article in articles:
                try:
                    single, seconds = await self.tag_pool.tag([article])
                    results.append(single[0])
                    inference += seconds
                except Exception as single_exc:
                    results.append(
                        Rejected(
                            "processing_error",
                            f"{type(single_exc).__name__}: {single_exc}",
                            article.id,
                        )
                    )
        self.metrics.batch_size.observe(len(articles))
        self.metrics.inference_seconds.observe(inference)
        per_article = (time.perf_counter() - started) / len(articles)
        for (i, article, verdict), result in zip(good, results, strict=True):
            value, src = batch[i]
            if isinstance(result, Rejected):
                await self.dead_letter("tag", replace(result, article_id=article.id), value, src)
                continue
            now = time.time()
            article = replace(article, timings={**article.timings, "tag": per_article})
            body = self.codec.encode_enriched(
                article, verdict, result, enriched_at=now, provenance=self.provenance
            )
            await self.sink("tagged", article.id.encode(), body)
            for entity in result:
                self.metrics.entities.labels(label=entity.label).inc()
            self.metrics.stage_seconds.labels(stage="tag").observe(per_article)
            self.metrics.stage_out.labels(stage="tag", outcome="ok").inc()
            outcomes[i] = "ok"
        return outcomes
