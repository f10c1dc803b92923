"""Plain, typed records that flow between the stages.

Stages take and return these; they know nothing of Kafka. ``workers.codec`` turns them into the
JSON messages described by ``schemas/*.json`` and back. Records are frozen dataclasses so that a
stage cannot mutate what another stage handed it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Literal, TypeVar

SCHEMA_VERSION = 1

ContentType = Literal["text/plain", "text/html"]

# The closed set of reasons a message can be dead-lettered for. Keep in sync with
# schemas/deadletter.json (a unit test checks it).
RejectReason = Literal[
    "invalid_utf8",  # value bytes are not UTF-8
    "invalid_json",  # value is not a JSON document
    "schema_violation",  # JSON, but required fields missing or wrongly typed
    "too_large",  # value over NEWSFLOW_MAX_MESSAGE_BYTES
    "empty_after_cleaning",  # nothing of an article was left after cleaning
    "extraction_failed",  # HTML could not be parsed / extraction timed out
    "processing_error",  # an unexpected exception in a stage (a bug or a poison message)
]
REJECT_REASONS: tuple[str, ...] = RejectReason.__args__  # type: ignore[attr-defined]

# Reason codes for lines removed by the cleaning stage (audit trail). Keep in sync with
# schemas/cleaned.json.
RemovalReason = Literal[
    "boilerplate",  # newsletter/marketing/cookie/copyright/share/navigation/ads ...
    "repeated",  # a repeat of an earlier line or paragraph (captions captured twice)
    "foreign_headline",  # a headline of another story at the start or end
    "dateline",  # a bare dateline / byline / timestamp line
    "caption_credit",  # a photo credit line
    "empty",  # whitespace-only after normalisation
]
REMOVAL_REASONS: tuple[str, ...] = RemovalReason.__args__  # type: ignore[attr-defined]

DuplicateKind = Literal["exact", "near", "redelivery"]


_R = TypeVar("_R")


def field_values(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving a record's field values in declaration order (what ``astuple`` gives,
    without its deep copy); ``cls`` has at least two fields."""
    return attrgetter(*(f.name for f in fields(cls)))


def _pickled_by_fields(cls: type[_R]) -> type[_R]:
    """Pickle ``cls`` as its constructor and its field values (the records that cross the
    tagging processes' pipes). A slots dataclass otherwise pickles through ``__setstate__``, which
    looks up ``fields()`` and sets each one for every object: per mention, the largest share of
    the tag pool's hand-off in the event loop's process (workers/tools/bench/handlers.py)."""
    values = field_values(cls)

    def __reduce__(self: Any) -> tuple[type[_R], tuple[Any, ...]]:
        return cls, values(self)

    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls


def epoch_seconds(stamp: str | None) -> float | None:
    """An ISO 8601 timestamp as seconds since the epoch (no zone: UTC); None if unreadable."""
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class Rejected:
    """An expected failure: the message goes to the dead-letter topic with this reason."""

    reason: RejectReason
    detail: str
    article_id: str | None = None


@dataclass(frozen=True, slots=True)
class RawArticle:
    """A raw scraped article as a crawler published it (schemas/raw.json)."""

    id: str
    body: str
    content_type: ContentType = "text/plain"
    url: str | None = None
    title: str | None = None
    source: str | None = None
    language: str | None = None
    published_at: str | None = None
    fetched_at: str | None = None
    # When the worker first read the message (epoch seconds); set by the codec.
    ingested_at: float = 0.0


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class RemovedLine:
    """One line the cleaning stage removed, and why."""

    text: str
    reason: RemovalReason
    line_no: int  # 0-based index among the non-empty input lines


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class CleanedArticle:
    """Output of the cleaning stage (schemas/cleaned.json)."""

    id: str
    text: str  # paragraphs separated by one blank line
    title: str | None = None
    url: str | None = None
    source: str | None = None
    language: str | None = None  # ISO 639-1
    language_confidence: float | None = None
    author: str | None = None
    published_at: str | None = None
    fetched_at: str | None = None
    ingested_at: float = 0.0
    removed: tuple[RemovedLine, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds


@dataclass(frozen=True, slots=True)
class DedupVerdict:
    """What dedup decided for one article."""

    status: Literal["unique", "duplicate"]
    kind: DuplicateKind | None = None
    duplicate_of: str | None = None
    similarity: float | None = None  # estimated Jaccard with duplicate_of
    containment: float | None = None  # estimated containment of the shorter in the longer


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class Mention:
    text: str
    start: int  # character offsets into CleanedArticle.text (or the title, see `in_title`)
    end: int
    in_title: bool = False


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class Entity:
    name: str  # canonical name
    label: str  # OntoNotes label: PERSON, ORG, GPE, LOC, NORP, FAC, EVENT, ...
    qid: str | None
    mentions: tuple[Mention, ...]
    salience: float

    @property
    def count(self) -> int:
        return len(self.mentions)


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class Demonym:
    """A demonym ("German", "Iraqis") linked to the place it derives from; not an entity."""

    name: str  # canonical demonym, e.g. "German"
    place: str  # canonical name of the place, e.g. "Germany"
    qid: str | None  # the place's Wikidata id
    mentions: tuple[Mention, ...]

    @property
    def count(self) -> int:
        return len(self.mentions)


class Tagged(tuple[Entity, ...]):
    """One article's entities (the tuple itself) with its demonyms beside them.

    A tuple, so that everything that reads an article's entities iterates it as before; the
    demonyms ("German", "Iraqis") ride along in ``demonyms`` (they are not entities).
    """

    demonyms: tuple[Demonym, ...]
    # The article's story terms, packed (``workers.stages.stories_text.pack_terms``): the
    # tagging processes extract them beside NER, so that the one-partition story agent need
    # not; empty when whatever tagged the article did not (and on results pickled before it).
    story_terms: bytes = b""

    def __new__(cls, entities: Iterable[Entity] = (), demonyms: Iterable[Demonym] = (),
                story_terms: bytes = b"") -> Tagged:
        self = super().__new__(cls, entities)
        self.demonyms = tuple(demonyms)
        self.story_terms = story_terms
        return self


# --- Story clustering (workers/stages/stories.py) ------------------------------------------------

# (canonical name, qid or None, OntoNotes label, salience) of one tagged entity.
StoryEntity = tuple[str, str | None, str, float]


@dataclass(frozen=True, slots=True)
class StoryArticle:
    """What story clustering reads of an enriched article."""

    id: str
    text: str
    time: float  # epoch seconds: published_at if known, else ingested_at
    title: str | None = None
    source: str | None = None
    entities: tuple[StoryEntity, ...] = ()
    # Its title and text's terms, packed by the tagging processes
    # (``workers.stages.stories_text.pack_terms``); None: the clusterer extracts them itself.
    terms: bytes | None = None


@dataclass(frozen=True, slots=True)
class StorySummary:
    """A story's current state, as published (keyed by ``story_id``) on the stories topic."""

    story_id: str
    title: str | None  # the title of its most central article
    top_entities: tuple[str, ...]  # canonical names, heaviest first
    article_count: int  # distinct articles; duplicates are not counted
    duplicate_count: int
    sources: tuple[str, ...]
    first_seen: float  # epoch seconds
    last_seen: float


@dataclass(frozen=True, slots=True)
class StoryDecision:
    """Which story an article was assigned to, and the story after the assignment."""

    article_id: str
    story_id: str
    is_new_story: bool
    similarity: float  # score against the joined story (0.0 for a new story)
    duplicate: bool  # joined as a duplicate of an earlier article (not counted)
    story: StorySummary
