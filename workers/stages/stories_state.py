"""Story clustering state: the in-memory story, and its bytes in the durable mappings.

Two mappings (Faust tables with changelogs in the worker, dicts in tests) hold everything the
clusterer needs after a restart; each decision writes one value to each:

* ``stories``: story id -> ``Story``: counts, first and last seen, title and sources, and its
  profiles (centroid, entity, title, number and year profiles, recent members) as term hashes
  and weights.
* ``articles``: article id -> ``ArticleEntry``: the decision it was given (so that a replay gets
  it again) and the hashes of its terms, from which the online document frequencies are
  recounted on rebuild (one changelog record per article instead of one per term).

Value layout of an article entry: ``0x5A | u16 n | n bytes JSON | u32 term hashes...``.
Value layout of a story: ``0x53 | u32 n | u16 r | u32 count | u32 duplicates | f64 first seen |
f64 last seen | f64 title score | n bytes JSON [title, sources, entity names, entity groups] |
(5 + r) x u32 profile sizes | u32 term hashes of all profiles | f64 their weights``, the profiles
in the order centroid, entities, titles, numbers, years, then the ``r`` recent members. Weights
are stored as the doubles they are, so a story read back scores exactly as before. A value that
starts with ``{`` is a story in the JSON format used before (still read; written no more).
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field
from itertools import repeat

import orjson

from workers.records import StorySummary
from workers.stages.stories_score import Side
from workers.stages.stories_text import Vector, heaviest_by_term, pack_vectors

_MAGIC = 0x5A
_HEAD = struct.Struct("<BH")
# story value: magic, JSON size, number of recent members, article and duplicate counts,
# first and last seen, title score
_STORY_MAGIC = 0x53
_STORY_HEAD = struct.Struct("<BIHIIddd")
MAX_SOURCES = 32


@dataclass(slots=True)
class Story:
    """One story in memory. ``centroid`` is the (truncated) sum of its articles' unit vectors."""

    story_id: str
    first_seen: float
    last_seen: float
    title: str | None = None
    title_score: float = -1.0
    count: int = 0
    duplicates: int = 0
    sources: list[str] = field(default_factory=list)
    centroid: Vector = field(default_factory=dict)
    entities: Vector = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # entity hash -> canonical name
    groups: dict[int, str] = field(default_factory=dict)  # entity hash -> P/L/O/X
    titles: Vector = field(default_factory=dict)  # sum of the articles' title vectors
    numbers: Vector = field(default_factory=dict)  # sum of the articles' number vectors
    years: Vector = field(default_factory=dict)  # sum of the articles' year vectors
    recent: list[Vector] = field(default_factory=list)  # latest members' heaviest terms
    unit_recent: list[Vector] = field(default_factory=list)  # the same normalised (not stored)
    indexed: frozenset[int] = frozenset()  # terms under which the inverted index lists it
    side: Side | None = None  # normalised vectors for scoring, rebuilt after a change

    def add_source(self, source: str | None) -> None:
        if source and source not in self.sources and len(self.sources) < MAX_SOURCES:
            self.sources.append(source)

    def summary(self, top_entities: int) -> StorySummary:
        names = tuple(self.names[t] for t in heaviest_by_term(self.entities, top_entities)
                      if t in self.names)
        return StorySummary(
            story_id=self.story_id, title=self.title, top_entities=names,
            article_count=self.count, duplicate_count=self.duplicates,
            sources=tuple(self.sources), first_seen=self.first_seen, last_seen=self.last_seen,
        )

    def pack(self) -> bytes:
        """The story as bytes (:data:`_STORY_HEAD`, then the JSON of its strings, the profile
        sizes, all term hashes as u32 and all weights as f64, in profile order)."""
        profiles = (self.centroid, self.entities, self.titles, self.numbers, self.years,
                    *self.recent)
        text = orjson.dumps([self.title, self.sources,
                             [*map(self.names.get, self.entities, repeat(""))],
                             [*map(self.groups.get, self.entities, repeat("X"))]])
        return b"".join((
            _STORY_HEAD.pack(_STORY_MAGIC, len(text), len(self.recent), self.count,
                             self.duplicates, self.first_seen, self.last_seen,
                             self.title_score),
            text, pack_vectors(profiles),
        ))

    @classmethod
    def unpack(cls, story_id: str, value: bytes) -> Story:
        if value[:1] == b"{":
            return cls._unpack_json(story_id, value)
        magic, text_size, recent, count, duplicates, first, last, title_score = (
            _STORY_HEAD.unpack_from(value))
        if magic != _STORY_MAGIC:
            raise ValueError(f"not a story value (first byte {magic:#x})")
        at = _STORY_HEAD.size
        title, sources, names, groups = orjson.loads(value[at:at + text_size])
        at += text_size
        sizes = array("I")
        sizes.frombytes(value[at:at + 4 * (5 + recent)])
        at += 4 * (5 + recent)
        total = sum(sizes)
        terms, weights = array("I"), array("d")
        terms.frombytes(value[at:at + 4 * total])
        weights.frombytes(value[at + 4 * total:at + 12 * total])
        profiles: list[Vector] = []
        start = 0
        for size in sizes:
            profiles.append(dict(zip(terms[start:start + size], weights[start:start + size],
                                     strict=True)))
            start += size
        centroid, entities, titles, numbers, years, *members = profiles
        return cls(
            story_id=story_id, first_seen=first, last_seen=last, title=title,
            title_score=title_score, count=count, duplicates=duplicates, sources=sources,
            centroid=centroid, entities=entities,
            names={t: n for t, n in zip(entities, names, strict=True) if n},
            groups=dict(zip(entities, groups, strict=True)),
            titles=titles, numbers=numbers, years=years, recent=members,
        )

    @classmethod
    def _unpack_json(cls, story_id: str, value: bytes) -> Story:
        """A story written as JSON (the format before 2026-12-02)."""
        d = orjson.loads(value)
        return cls(
            story_id=story_id, first_seen=d["f"], last_seen=d["l"], title=d["t"],
            title_score=d["ts"], count=d["n"], duplicates=d["d"], sources=d["s"],
            centroid=dict(zip(d["ct"], d["cw"], strict=True)),
            entities=dict(zip(d["et"], d["ew"], strict=True)),
            names={t: n for t, n in zip(d["et"], d["en"], strict=True) if n},
            groups=dict(zip(d["et"], d["eg"], strict=True)),
            titles=dict(zip(d["tt"], d["tw"], strict=True)),
            numbers=dict(zip(d["nt"], d["nw"], strict=True)),
            years=dict(zip(d["yt"], d["yw"], strict=True)),
            recent=[dict(zip(t, w, strict=True)) for t, w in d["r"]],
        )


@dataclass(frozen=True, slots=True)
class ArticleEntry:
    """The decision an article was given, and the terms it added to the document frequencies."""

    story_id: str
    is_new: bool
    similarity: float
    time: float
    duplicate: bool
    terms: tuple[int, ...] = ()

    def pack(self) -> bytes:
        head = orjson.dumps([self.story_id, self.is_new, self.similarity, self.time,
                             self.duplicate])
        return _HEAD.pack(_MAGIC, len(head)) + head + array("I", self.terms).tobytes()

    @classmethod
    def unpack(cls, value: bytes) -> ArticleEntry:
        magic, size = _HEAD.unpack_from(value)
        if magic != _MAGIC:
            raise ValueError(f"not a story article entry (first byte {magic:#x})")
        story_id, is_new, similarity, time, duplicate = orjson.loads(
            value[_HEAD.size:_HEAD.size + size])
        terms = array("I")
        terms.frombytes(value[_HEAD.size + size:])
        return cls(story_id, is_new, similarity, time, duplicate, tuple(terms))
