"""The inverted index that finds candidate stories for an article.

Each live story is listed under its heaviest centroid terms and heaviest entities; an article
looks stories up by its own heaviest terms and entities, and the stories sharing the most
article weight come first. Terms listed for very many stories (common words of the period) are
skipped at lookup: they find everything and separate nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import neg
from typing import Any, Protocol

from workers.stages.stories_state import Story
from workers.stages.stories_text import heaviest, native_module


class Index(Protocol):
    """What the clusterer needs of its inverted index (:class:`StoryIndex`, or
    :class:`CompiledStoryIndex` over ``newsflow_native.StoryIndex``)."""

    @property
    def index_terms(self) -> int: ...

    @property
    def postings(self) -> dict[int, set[str]]: ...

    def update(self, story: Story, heavy: list[int] | None = None) -> None: ...

    def remove(self, story: Story) -> None: ...

    def ranked(self, query: Iterable[tuple[int, float]], limit: int) -> list[str]: ...


def story_index(index_terms: int, index_entities: int, max_postings: int,
                native: bool) -> Index:
    """The compiled index when ``native`` and ``newsflow_native`` is built, else the Python
    one; both list and rank the same stories in the same order."""
    module = native_module() if native else None
    if module is None:
        return StoryIndex(index_terms, index_entities, max_postings)
    return CompiledStoryIndex(index_terms, index_entities, module.StoryIndex(max_postings))


class StoryIndex:
    """term hash -> ids of the live stories listed under it."""

    def __init__(self, index_terms: int, index_entities: int, max_postings: int) -> None:
        self.index_terms = index_terms
        self.index_entities = index_entities
        self.max_postings = max_postings
        self.postings: dict[int, set[str]] = {}

    def update(self, story: Story, heavy: list[int] | None = None) -> None:
        """List ``story`` under its current heaviest terms (and no longer under old ones);
        ``heavy``: its centroid's ``index_terms`` heaviest terms when the caller has them."""
        if heavy is None:
            heavy = heaviest(story.centroid, self.index_terms)
        terms = frozenset((*heavy,
                           *heaviest(story.entities, self.index_entities)))
        self._unlist(story.story_id, story.indexed - terms)
        for term in terms - story.indexed:
            self.postings.setdefault(term, set()).add(story.story_id)
        story.indexed = terms

    def remove(self, story: Story) -> None:
        self._unlist(story.story_id, story.indexed)
        story.indexed = frozenset()

    def _unlist(self, sid: str, terms: Iterable[int]) -> None:
        for term in terms:
            listed = self.postings.get(term)
            if listed is not None:
                listed.discard(sid)
                if not listed:
                    del self.postings[term]

    def ranked(self, query: Iterable[tuple[int, float]], limit: int) -> list[str]:
        """Ids of the ``limit`` stories sharing the most query weight (ties: by id)."""
        hits: dict[str, float] = {}
        get, postings, most = hits.get, self.postings.get, self.max_postings
        for term, weight in query:
            listed = postings(term)
            if listed and len(listed) <= most:
                for sid in listed:  # (a few stories per term: a loop beats mapping in C here)
                    hits[sid] = get(sid, 0.0) + weight
        # (-weight, id) tuples sort as the key (-weight, id) does, without a Python key call
        return [sid for _, sid in sorted(zip(map(neg, hits.values()), hits, strict=True))[:limit]]


class CompiledStoryIndex:
    """:class:`StoryIndex` with its postings and look-ups in ``newsflow_native.StoryIndex``:
    stories held by slot number, a look-up's sums in an array instead of a dict keyed by id;
    the same stories ranked in the same order (summed weight descending, ties by id). The
    terms a story is listed under are chosen here, as there."""

    def __init__(self, index_terms: int, index_entities: int, compiled: Any) -> None:
        self.index_terms = index_terms
        self.index_entities = index_entities
        self._compiled = compiled
        self.ranked: Callable[[Iterable[tuple[int, float]], int], list[str]] = compiled.ranked

    @property
    def postings(self) -> dict[int, set[str]]:
        """Every listed term with the ids listed under it (a copy, for tests and checks)."""
        found: dict[int, set[str]] = self._compiled.postings
        return found

    def update(self, story: Story, heavy: list[int] | None = None) -> None:
        if heavy is None:
            heavy = heaviest(story.centroid, self.index_terms)
        self._compiled.set(story.story_id,
                           [*heavy, *heaviest(story.entities, self.index_entities)])

    def remove(self, story: Story) -> None:
        self._compiled.remove(story.story_id)
