"""Deduplication stage: exact copies, near-duplicates and spun rewrites, before tagging.

One ``Deduplicator`` sees every cleaned article (the cleaned topic has one partition, see
docs/dedup.md) and decides, in arrival order:

1. **redelivery** - the article id is already in the state: the message was delivered again;
2. **exact** - the 64-bit hash of the normalised token sequence equals a live article's;
3. **near** - a candidate from the LSH band buckets (MinHash bands of the whole text and of its
   lead), verified on shingle fingerprints: Jaccard reaches ``dedup_jaccard_threshold``, or the
   containment of the smaller shingle set in the larger reaches ``dedup_containment_threshold``
   (truncated teasers, updates with a paragraph added), or the two share a lead and the
   containment reaches ``dedup_lead_containment_threshold`` (edited wire copies);
4. otherwise **unique**.

Durable state is a ``MutableMapping[str, bytes]`` (article id -> packed entry, see
``dedup_sketch``): a dict in tests and evaluation, a Faust table with a changelog topic in the
worker. Band buckets, the exact-hash map and the expiry queue are derived from it and rebuilt by
``rebuild()``. Exact copies are recorded by id and event time only (enough to recognise their
redelivery); near duplicates keep their sketch, because a later copy may be closer to them than
to the first version. Entries expire ``dedup_window_days`` after their event time.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, MutableMapping

import numpy as np

from workers.records import CleanedArticle, DedupVerdict, epoch_seconds
from workers.settings import Settings
from workers.stages.dedup_index import BandIndex, BandKeys, ExpiryQueue
from workers.stages.dedup_sketch import Probe, Similarity, Sketch, Sketcher, lead_share

Normaliser = Callable[[str], str]
_LEAD_ROWS = 2
_REBUILD_BATCH = 4096
_MAX_VERIFIED = 32  # candidates verified per article, most shared bands first
_CLEAR_MATCH = 0.9  # a Jaccard this high cannot be beaten by much: stop verifying
_DAY = 86_400.0


def event_time(article: CleanedArticle) -> float:
    """Epoch seconds of the article's event: published_at, else fetched_at, else ingestion.

    Timestamps without a zone are taken as UTC; unparseable ones are skipped.
    """
    for stamp in (article.published_at, article.fetched_at):
        seconds = epoch_seconds(stamp)
        if seconds is not None:
            return seconds
    return article.ingested_at


class Deduplicator:
    """Decides unique/duplicate per article; all durable state lives in ``state``."""

    def __init__(
        self, settings: Settings, normalise: Normaliser, state: MutableMapping[str, bytes]
    ) -> None:
        self._normalise = normalise
        # Newest event time decided on: expiry runs against it, not the wall clock.
        self.newest_event_time = 0.0
        self._bands = settings.dedup_bands
        self._rows = settings.dedup_band_rows
        self._lead_bands = settings.dedup_lead_bands
        if self._bands * self._rows > settings.dedup_num_perm:
            raise ValueError("dedup_bands * dedup_band_rows must not exceed dedup_num_perm")
        self._sketcher = Sketcher(
            num_perm=settings.dedup_num_perm,
            shingle_size=settings.dedup_shingle_size,
            lead_words=settings.dedup_lead_words,
            lead_perm=self._lead_bands * _LEAD_ROWS,
            max_fingerprints=settings.dedup_max_fingerprints,
        )
        self._jaccard = settings.dedup_jaccard_threshold
        self._containment = settings.dedup_containment_threshold
        self._min_shingles = settings.dedup_min_containment_shingles
        self._lead_containment = settings.dedup_lead_containment_threshold
        self._lead_shared = settings.dedup_lead_threshold
        self._window = settings.dedup_window_days * _DAY
        self._full_keys = BandKeys(self._bands, self._rows, salt=0)
        self._lead_keys = BandKeys(self._lead_bands, _LEAD_ROWS, salt=1)
        self._num_perm = settings.dedup_num_perm
        # Both kinds of band keys in one numpy pass when the band values are back to back and
        # their bands have the same rows (the defaults).
        self._joint_keys = (
            BandKeys.joined(self._full_keys, self._lead_keys)
            if self._rows == _LEAD_ROWS and self._bands * self._rows == self._num_perm
            else None
        )
        self._bands_index = BandIndex()
        self._exact: dict[int, str] = {}
        self._expiry = ExpiryQueue()
        self._state: MutableMapping[str, bytes] = state
        self._state_bytes = 0
        self.rebuild()

    # -- metrics ---------------------------------------------------------------------------
    @property
    def entries(self) -> int:
        return len(self._state)

    @property
    def state_bytes(self) -> int:
        """Bytes of keys and values held in the state mapping."""
        return self._state_bytes

    # -- decisions -------------------------------------------------------------------------
    def check(self, article: CleanedArticle) -> DedupVerdict:
        """Decide on ``article`` and record it (its id and event time; its sketch unless it is
        an exact copy or a redelivery)."""
        if article.id in self._state:
            return DedupVerdict(
                "duplicate", "redelivery", article.id, similarity=1.0, containment=1.0
            )
        when = event_time(article)
        self.newest_event_time = max(self.newest_event_time, when)
        sketch = self._sketcher.sketch(self._normalise(article.text))
        if sketch is None:
            self._record(article.id, when, None)
            return DedupVerdict("unique")
        exact_id = self._exact.get(sketch.exact)
        if exact_id is not None:
            self._record(article.id, when, None)
            return DedupVerdict("duplicate", "exact", exact_id, similarity=1.0, containment=1.0)
        # Near duplicates are indexed too: a later copy may be closer to them than to the first.
        candidates = self._bands_index.add_and_match(article.id, self._keys(sketch))
        verdict = self._match(sketch, candidates) if candidates else None
        self._record(article.id, when, sketch)
        return verdict if verdict is not None else DedupVerdict("unique")

    def _match(self, sketch: Sketch, candidates: Counter[str]) -> DedupVerdict | None:
        """The most similar candidate that passes, verifying those sharing most bands first.

        A story republished by many outlets gathers many near copies in its buckets; at most
        ``_MAX_VERIFIED`` are verified, and a clear match (Jaccard >= 0.9) ends the search.
        """
        best: tuple[float, float, str] | None = None
        probe = Probe(sketch)
        for other_id, _ in candidates.most_common(_MAX_VERIFIED):
            value = self._state.get(other_id)
            other = self._sketcher.unpack_sketch(value) if value is not None else None
            if other is None:
                continue
            similar = probe.compare(other)
            if not self._is_duplicate(similar, sketch, other):
                continue
            if best is None or (similar.containment, similar.jaccard) > best[:2]:
                best = (similar.containment, similar.jaccard, other_id)
            if similar.jaccard >= _CLEAR_MATCH:
                break
        if best is None:
            return None
        return DedupVerdict(
            "duplicate", "near", best[2],
            similarity=round(best[1], 4), containment=round(best[0], 4),
        )

    def _is_duplicate(self, similar: Similarity, a: Sketch, b: Sketch) -> bool:
        if similar.jaccard >= self._jaccard or (
            similar.smaller >= self._min_shingles and similar.containment >= self._containment
        ):
            return True
        if similar.smaller < self._min_shingles or similar.containment < self._lead_containment:
            return False
        # A copy keeps its story's lead; a new story reusing background paragraphs has its own.
        return lead_share(a, b, similar.level) >= self._lead_shared

    def _keys(self, sketch: Sketch) -> list[int]:
        values = self._sketcher.band_values(sketch)
        if self._joint_keys is not None:
            return self._joint_keys(values)
        return self._full_keys(values[: self._num_perm]) + self._lead_keys(values[self._num_perm :])

    # -- state -----------------------------------------------------------------------------
    def _record(self, article_id: str, when: float, sketch: Sketch | None) -> None:
        """Write the state entry; the band buckets already hold a sketched article."""
        value = self._sketcher.pack(when, sketch)
        self._state[article_id] = value
        self._state_bytes += len(article_id.encode()) + len(value)
        self._expiry.push(when, article_id)
        if sketch is not None:
            self._exact.setdefault(sketch.exact, article_id)

    def rebuild(self) -> int:
        """Rebuild the band buckets, exact map and expiry queue from the state; returns entries."""
        self._bands_index.clear()
        self._exact.clear()
        queue: list[tuple[float, str]] = []
        total = 0
        batch: list[tuple[str, Sketch]] = []
        for article_id, value in self._state.items():
            entry = self._sketcher.unpack(value)
            total += len(article_id.encode()) + len(value)
            queue.append((entry.event_time, article_id))
            if entry.sketch is not None:
                self._exact.setdefault(entry.sketch.exact, article_id)
                batch.append((article_id, entry.sketch))
                if len(batch) == _REBUILD_BATCH:
                    self._index_batch(batch)
                    batch = []
        self._index_batch(batch)
        self._expiry.rebuild(queue)
        self._state_bytes = total
        return len(queue)

    def _index_batch(self, batch: list[tuple[str, Sketch]]) -> None:
        """Add many sketches to the band buckets (one rensa call per batch, not per entry)."""
        if not batch:
            return
        values = self._sketcher.band_values_many([sketch for _, sketch in batch])
        if self._joint_keys is not None:
            keys = self._joint_keys.matrix(values)
        else:
            full, lead = values[:, : self._num_perm], values[:, self._num_perm :]
            keys = np.concatenate(
                (self._full_keys.matrix(full), self._lead_keys.matrix(lead)), axis=1
            )
        for (article_id, _), row in zip(batch, keys.tolist(), strict=True):
            self._bands_index.add(article_id, row)

    def bind_state(self, state: MutableMapping[str, bytes]) -> int:
        """Use ``state`` (e.g. the recovered Faust table) from now on, and rebuild from it;
        returns the number of entries (no second ``rebuild()`` needed)."""
        self._state = state
        return self.rebuild()

    def expire(self, now_event_time: float) -> int:
        """Drop entries whose event time is older than the window before ``now_event_time``."""
        dropped = 0
        for when, article_id in self._expiry.pop_older_than(now_event_time - self._window):
            value = self._state.get(article_id)
            if value is None:
                continue
            entry = self._sketcher.unpack(value)
            if entry.event_time != when:
                continue  # a stale queue item; the live entry has its own
            del self._state[article_id]
            self._state_bytes -= len(article_id.encode()) + len(value)
            if entry.sketch is not None:
                self._bands_index.remove(article_id, self._keys(entry.sketch))
                if self._exact.get(entry.sketch.exact) == article_id:
                    del self._exact[entry.sketch.exact]
            dropped += 1
        return dropped


def load_normaliser() -> Normaliser | None:
    """The entity stage's alias canonicaliser (workers.kb), or None if it is not available."""
    try:
        from workers.kb import KnowledgeBase

        return KnowledgeBase.load().canonicalise_text
    except (ImportError, FileNotFoundError) as exc:
        logging.getLogger(__name__).warning(
            "dedup: knowledge base unavailable (%s); entity aliases are not canonicalised", exc
        )
        return None


def make_deduplicator(
    settings: Settings,
    normalise: Normaliser | None = None,
    state: MutableMapping[str, bytes] | None = None,
) -> Deduplicator:
    """Build the deduplicator once at start-up (loads the knowledge base unless given)."""
    return Deduplicator(
        settings,
        normalise or load_normaliser() or (lambda text: text),
        state if state is not None else {},
    )
