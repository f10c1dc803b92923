"""Story clustering state: the in-memory story, and its bytes in the durable mappings.

Two mappings (Faust tables with changelogs in the worker, dicts in tests) hold everything the
clusterer needs after a restart; each decision writes one value to each:

* ``stories``: story id -> ``Story`` as JSON (centroid and entity profile as parallel arrays of
  term hashes and weights, title, counts, sources, first and last seen).
* ``articles``: article id -> ``ArticleEntry``: the decision it was given (so that a replay gets
  it again) and the hashes of its terms, from which the online document frequencies are
  recounted on rebuild (one changelog record per article instead of one per term).

Value layout of an article entry: ``0x5A | u16 n | n bytes JSON | u32 term hashes...``.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field

import orjson

from workers.records import StorySummary
from workers.stages.stories_score import Side
from workers.stages.stories_text import Vector

_MAGIC = 0x5A
_HEAD = struct.Struct("<BH")
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
    indexed: frozenset[int] = frozenset()  # terms under which the inverted index lists it
    side: Side | None = None  # normalised vectors for scoring, rebuilt after a change

    def add_source(self, source: str | None) -> None:
        if source and source not in self.sources and len(self.sources) < MAX_SOURCES:
            self.sources.append(source)

    def summary(self, top_entities: int) -> StorySummary:
        heaviest = sorted(self.entities.items(), key=lambda kv: (-kv[1], kv[0]))
        names = tuple(self.names[t] for t, _ in heaviest[:top_entities] if t in self.names)
        return StorySummary(
            story_id=self.story_id, title=self.title, top_entities=names,
            article_count=self.count, duplicate_count=self.duplicates,
            sources=tuple(self.sources), first_seen=self.first_seen, last_seen=self.last_seen,
        )

    def pack(self) -> bytes:
        return orjson.dumps({
            "f": self.first_seen, "l": self.last_seen, "t": self.title, "ts": self.title_score,
            "n": self.count, "d": self.duplicates, "s": self.sources,
            "ct": list(self.centroid), "cw": list(self.centroid.values()),
            "et": list(self.entities), "ew": list(self.entities.values()),
            "en": [self.names.get(t, "") for t in self.entities],
            "eg": [self.groups.get(t, "X") for t in self.entities],
            "tt": list(self.titles), "tw": list(self.titles.values()),
            "nt": list(self.numbers), "nw": list(self.numbers.values()),
            "yt": list(self.years), "yw": list(self.years.values()),
            "r": [[list(v), list(v.values())] for v in self.recent],
        })

    @classmethod
    def unpack(cls, story_id: str, value: bytes) -> Story:
        d = orjson.loads(value)
        story = cls(
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
        return story


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
