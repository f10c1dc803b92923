"""Story clustering stage: assign each enriched article a ``story_id``, online, in one pass.

Each article is decided on arrival from what came before it only (docs/stories.md):

1. Vectors: L2-normalised TF-IDF of its title and text, of its title alone, of the tokens that
   hold digits (numbers and years apart), and salience x IDF of its salient entities; document
   frequencies are counted online over the articles held (``stories_text``).
2. Candidates: stories that share one of the article's heaviest terms or any of its entities,
   found through an inverted index over each live story's heaviest centroid terms and entities.
3. Score per candidate: the probability of a small logistic model over pair features (text,
   entity, per-entity-group, title, number, year and nearest-recent-member similarities;
   ``stories_score``). The most probable candidate at or above ``story_threshold`` is joined;
   otherwise the article starts a story whose id is derived from the article's id (a replay of
   the stream gives the same ids).
4. Time: a story that has been quiet for ``story_quiet_period`` days is cold; it is no candidate
   and :meth:`StoryClusterer.expire` removes it and its articles from memory and the mappings.

Durable state lives in two ``MutableMapping[str, bytes]`` handed in (Faust tables in the worker,
dicts in tests) and is written through on every decision (``stories_state``);
:meth:`StoryClusterer.rebuild` reconstructs the in-memory indexes from them after a restart.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import MutableMapping
from dataclasses import replace
from itertools import islice, repeat
from typing import TYPE_CHECKING

from workers.records import StoryArticle, StoryDecision
from workers.stages.stories_index import Index, story_index
from workers.stages.stories_score import (
    DAY,
    Prepared,
    Side,
    StoryConfig,
    StoryModel,
    features,
    for_scoring,
    held_as,
    hold,
    make_side,
    scorers,
)
from workers.stages.stories_state import ArticleEntry, Story
from workers.stages.stories_text import (
    Frequencies,
    Hasher,
    Vector,
    add_into,
    article_terms,
    entity_weights,
    pack_terms,
    ranked,
    top,
    unit_vector,
    units_compiled,
    unpack_terms,
    use_native,
)

if TYPE_CHECKING:
    from workers.settings import Settings


def story_id_for(article_id: str) -> str:
    """A story's id: derived from its first article's id, so replays give the same ids."""
    return "s-" + hashlib.blake2b(article_id.encode(), digest_size=8).hexdigest()


class StoryClusterer:
    """Online story clustering over durable mappings; build it with :func:`make_story_clusterer`."""

    def __init__(self, config: StoryConfig, model: StoryModel,
                 stories: MutableMapping[str, bytes],
                 articles: MutableMapping[str, bytes]) -> None:
        self.config = config
        self.model = model
        self.story_state = stories
        self.article_state = articles
        self.hasher = Hasher()
        self._doc_freq = use_native(config.native)
        self._pair_features, self._member_feature = scorers(config.native)
        self.df: Frequencies = self._doc_freq()
        self.stories: dict[str, Story] = {}
        self.index = self._new_index()
        self.members: dict[str, list[str]] = {}
        self._cold: list[tuple[float, str]] = []  # (last_seen, story id), a lazy min-heap
        self.rebuild()

    # --- decisions ---------------------------------------------------------------------------

    def decide(self, article: StoryArticle) -> StoryDecision:
        """Assign ``article`` to a live story or start one; a replay gets its first decision."""
        known = self._replay(article.id)
        if known is not None:
            return known
        prepared = self.prepare(article)
        best, score = self.best(prepared, article.time)
        return self.place(article, prepared, best, score)

    def prepare(self, article: StoryArticle) -> Prepared:
        """The article's vectors; its terms enter the document frequencies first. The terms come
        packed with the article when the tagging processes extracted them (the same
        :class:`Terms`, in the same order), else from its title and text here."""
        cfg = self.config
        found = ((unpack_terms(article.terms, cfg.title_weight) if article.terms else None)
                 or article_terms(article.title, article.text, cfg.title_weight))
        ents, groups, names = entity_weights(self.hasher, article.entities)
        terms = (*found.words, *[t for t in ents if t not in found.words])  # a set union
        weigh = self.df.weigh
        self.df.add(terms)
        side = make_side(weigh(found.words), weigh(found.title), weigh(ents, sublinear=False),
                         groups, weigh(found.numbers), weigh(found.years), unit=True)
        return Prepared(side, groups, terms, ranked(side.text), names, for_scoring(side))

    def candidates(self, prepared: Prepared, now: float) -> list[tuple[Story, list[float]]]:
        """Live stories sharing heavy terms or entities with the article, with pair features.

        Stories are ranked by the summed article weight of the shared index terms (terms listed
        for more than ``max_postings`` stories are too common to help and are skipped); the
        ``max_candidates`` best get the full features.
        """
        side = prepared.scoring
        return [(story, features(side, self._side(story))) for story in self._live(prepared, now)]

    def _live(self, prepared: Prepared, now: float) -> list[Story]:
        cfg = self.config
        query = (*prepared.ranked[:cfg.query_terms], *prepared.side.ents.items())
        return [story for story in map(self.stories.__getitem__,
                                       self.index.ranked(query, cfg.max_candidates))
                # cold: a similar event after a quiet period is a new story
                if not now - story.last_seen > cfg.quiet_period]

    def best(self, prepared: Prepared, now: float) -> tuple[Story | None, float]:
        """``choose(candidates(prepared, now))``, without the recent-member cosines of the
        candidates that cannot win: the model's probability with the member feature at its
        upper bound is below the best so far (exact: the bound is computed as the probability
        is, and every step of it is monotone)."""
        side = prepared.scoring
        model, pair, member = self.model, self._pair_features, self._member_feature
        best: Story | None = None
        best_score = self.config.threshold
        for story in self._live(prepared, now):
            story_side = self._side(story)
            row = pair(side, story_side)
            if model.bound(row) < best_score:
                continue
            row.append(member(side, story_side))
            probability = model.probability(row)
            if probability >= best_score:
                best, best_score = story, probability
        return best, (best_score if best is not None else 0.0)

    def choose(self, scored: list[tuple[Story, list[float]]]) -> tuple[Story | None, float]:
        """The most probable story at or above the threshold, if any."""
        best: Story | None = None
        best_score = self.config.threshold
        for story, row in scored:
            probability = self.model.probability(row)
            if probability >= best_score:
                best, best_score = story, probability
        return best, (best_score if best is not None else 0.0)

    def place(self, article: StoryArticle, prepared: Prepared, best: Story | None,
              score: float) -> StoryDecision:
        """Write the decision: join ``best`` (None: start a story) and update the state."""
        is_new = best is None
        if best is None:
            best = Story(story_id_for(article.id), article.time, article.time)
            self.stories[best.story_id] = best
            self.members[best.story_id] = []
        self._absorb(best, article, prepared, score)
        entry = ArticleEntry(best.story_id, is_new, round(score, 6), article.time, False,
                             prepared.terms)
        self.members[best.story_id].append(article.id)
        self.article_state[article.id] = entry.pack()
        self.story_state[best.story_id] = best.pack()
        return self._decision(article.id, entry, best)

    def join_duplicate(self, article_id: str, original_id: str, time: float,
                       source: str | None = None) -> StoryDecision | None:
        """Put a duplicate in its original's story without counting it as an article.

        None when the original is not held (never seen here, or expired with its story).
        """
        known = self._replay(article_id)
        if known is not None:
            return known
        value = self.article_state.get(original_id)
        story = self.stories.get(ArticleEntry.unpack(value).story_id) if value else None
        if story is None:
            return None
        story.duplicates += 1
        story.add_source(source)
        self._touch(story, time)
        entry = ArticleEntry(story.story_id, False, 1.0, time, True)
        self.members[story.story_id].append(article_id)
        self.article_state[article_id] = entry.pack()
        self.story_state[story.story_id] = story.pack()
        return self._decision(article_id, entry, story)

    def _replay(self, article_id: str) -> StoryDecision | None:
        value = self.article_state.get(article_id)
        if value is None:
            return None
        entry = ArticleEntry.unpack(value)
        story = self.stories.get(entry.story_id)
        return self._decision(article_id, entry, story) if story is not None else None

    def _decision(self, article_id: str, entry: ArticleEntry, story: Story) -> StoryDecision:
        return StoryDecision(article_id, story.story_id, entry.is_new, entry.similarity,
                             entry.duplicate, story.summary(self.config.top_entities))

    # --- scoring -----------------------------------------------------------------------------

    @staticmethod
    def _side(story: Story) -> Side:
        """The story's normalised vectors, cached until the story changes (its recent members'
        normalised vectors are kept apart: each is normalised once, when it joins)."""
        if story.side is None:
            if len(story.unit_recent) != len(story.recent):
                story.unit_recent = [unit_vector(m) for m in story.recent]
            story.side = make_side(story.centroid, story.titles, story.entities, story.groups,
                                   story.numbers, story.years, story.count,
                                   tuple(story.unit_recent), unit_members=True)
        return story.side

    def _absorb(self, story: Story, article: StoryArticle, prepared: Prepared,
                score: float) -> None:
        cfg = self.config
        side = prepared.side
        add_into(story.centroid, side.text)
        heavy = None
        if len(story.centroid) > cfg.centroid_terms:
            story.centroid = top(story.centroid, cfg.centroid_terms)  # heaviest first
            heavy = list(islice(story.centroid, self.index.index_terms))
        story.titles = _merged(story.titles, side.title, cfg.profile_terms)
        story.numbers = _merged(story.numbers, side.numbers, cfg.profile_terms)
        story.years = _merged(story.years, side.years, cfg.profile_terms)
        entities = _merged(story.entities, side.ents, cfg.profile_terms)
        cut = entities is not story.entities  # its lightest entities dropped
        story.entities = entities
        for term, name in prepared.names.items():
            if term in entities and term not in story.names:
                story.names[term] = name
        story.groups.update(prepared.groups)
        if cut:  # (names and groups are only ever added for terms of the profile)
            story.names = {t: n for t, n in story.names.items() if t in entities}
            story.groups = {t: g for t, g in story.groups.items() if t in entities}
        story.side = None
        story.count += 1
        member = (dict(side.text) if len(side.text) <= cfg.member_terms
                  else dict(prepared.ranked[:cfg.member_terms]))  # top(side.text, member_terms)
        member = dict(zip(member, map(round, member.values(), repeat(4)), strict=True))
        aligned = len(story.unit_recent) == len(story.recent)
        story.recent = [*story.recent[-(cfg.recent_members - 1):], member]
        if aligned:
            story.unit_recent = [*story.unit_recent[-(cfg.recent_members - 1):],
                                 unit_vector(member)]
        story.add_source(article.source)
        if score > story.title_score:
            story.title, story.title_score = article.title, score
        self._touch(story, article.time)
        self.index.update(story, heavy)

    def _touch(self, story: Story, time: float) -> None:
        story.first_seen = min(story.first_seen, time)
        story.last_seen = max(story.last_seen, time)
        heapq.heappush(self._cold, (story.last_seen, story.story_id))

    # --- lifetime ----------------------------------------------------------------------------

    def expire(self, now: float) -> int:
        """Drop stories quiet for longer than the quiet period, with their articles; how many."""
        dropped = 0
        limit = now - self.config.quiet_period
        while self._cold and self._cold[0][0] < limit:
            last_seen, sid = heapq.heappop(self._cold)
            story = self.stories.get(sid)
            if story is None or story.last_seen != last_seen:
                continue  # stale heap entry: the story was touched since
            self._drop(story)
            dropped += 1
        return dropped

    def _drop(self, story: Story) -> None:
        sid = story.story_id
        self.index.remove(story)
        for article_id in self.members.pop(sid, []):
            value = self.article_state.pop(article_id, None)
            if value is not None:
                entry = ArticleEntry.unpack(value)
                if not entry.duplicate:
                    self.df.remove(entry.terms)
        del self.stories[sid]
        self.story_state.pop(sid, None)

    def rebuild(self) -> None:
        """Reconstruct stories, index, members and document frequencies from the mappings."""
        self.df = self._doc_freq()
        self.stories, self.members, self._cold = {}, {}, []
        self.index = self._new_index()
        for sid, value in self.story_state.items():
            story = Story.unpack(sid, value)
            self.stories[sid] = story
            self.members[sid] = []
            self.index.update(story)
            self._cold.append((story.last_seen, sid))
        heapq.heapify(self._cold)
        orphans = []
        for article_id, value in self.article_state.items():
            entry = ArticleEntry.unpack(value)
            if entry.story_id not in self.members:
                orphans.append(article_id)  # its story was dropped before this write landed
                continue
            self.members[entry.story_id].append(article_id)
            if not entry.duplicate:
                self.df.add(entry.terms)
        for article_id in orphans:
            del self.article_state[article_id]

    def choose_parts(self, native: bool) -> None:
        """Switch to the compiled parts (``native``, when built) or to the Python code, keeping
        the state: the document frequencies are moved across and the index is rebuilt from
        the stories. The decisions are the same either way (for benchmarks and checks; the
        worker chooses once, with ``story_native``)."""
        self.config = replace(self.config, native=native)
        held_units = units_compiled()
        self._doc_freq = use_native(native)
        if type(self.df) is not self._doc_freq:
            df = self._doc_freq()
            df.load(dict(self.df.counts), self.df.docs)
            self.df = df
        self._pair_features, self._member_feature = scorers(native)
        units = units_compiled()
        if units != held_units:
            for story in self.stories.values():  # their scoring vectors, held the new way
                if story.side is not None:
                    story.side = held_as(story.side, units)
                story.unit_recent = [hold(m, units) for m in story.unit_recent]
        index = self._new_index()
        if type(index) is not type(self.index):
            for story in self.stories.values():
                story.indexed = frozenset()  # (what the Python index has listed it under)
                index.update(story)
            self.index = index

    def _new_index(self) -> Index:
        cfg = self.config
        return story_index(cfg.index_terms, cfg.index_entities, cfg.max_postings, cfg.native)

    def __len__(self) -> int:
        return len(self.stories)


def _merged(profile: Vector, vector: Vector, keep: int) -> Vector:
    """``profile`` plus ``vector``, cut to its ``keep`` heaviest terms."""
    add_into(profile, vector)
    return profile if len(profile) <= keep else top(profile, keep)


_TITLE_WEIGHT = StoryConfig().title_weight


def packed_terms(title: str | None, text: str, title_weight: int = _TITLE_WEIGHT) -> bytes:
    """An article's terms extracted as :meth:`StoryClusterer.prepare` extracts them, packed
    (``pack_terms``): what the tagging processes put on ``Tagged.story_terms``."""
    return pack_terms(article_terms(title, text, title_weight), title_weight)


def make_story_clusterer(settings: Settings, stories: MutableMapping[str, bytes] | None = None,
                         articles: MutableMapping[str, bytes] | None = None) -> StoryClusterer:
    """Build the clusterer over the given mappings (fresh dicts when omitted)."""
    config = StoryConfig(
        threshold=settings.story_threshold,
        quiet_period=settings.story_quiet_period * DAY,
        native=settings.story_native,
    )
    return StoryClusterer(config, StoryModel.load(), {} if stories is None else stories,
                          {} if articles is None else articles)
