"""The one place where message bytes become records and records become message bytes.

Every topic's contract is a JSON Schema in ``schemas/``; the validators are built (and the schemas
checked) once, when a :class:`Codec` is constructed at start-up. Decoding never raises on bad
input: it returns :class:`~workers.records.Rejected` with a reason from the closed set.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jsonschema_rs
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as JsonSchemaError
from referencing import Registry, Resource

from workers.errors import SchemaError
from workers.records import (
    SCHEMA_VERSION,
    CleanedArticle,
    DedupVerdict,
    Entity,
    RawArticle,
    Rejected,
    RemovedLine,
    StoryDecision,
    field_values,
)

_CLEANED_FIELDS = tuple(f.name for f in fields(CleanedArticle))
_cleaned_values = field_values(CleanedArticle)

MESSAGE_TYPES = ("raw", "cleaned", "enriched", "duplicate", "deadletter", "story")
# Fields of an output record that say when or how fast a run went. A record that comes out again
# (a replay after a crash) repeats everything else byte for byte, so the digest leaves them out.
VOLATILE_FIELDS = frozenset(
    {"timings", "enriched_at", "detected_at", "failed_at", "updated_at", "digest"}
)
_TRACKING_PARAMS = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid")


def default_schemas_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "schemas"


def normalise_url(url: str) -> str:
    """Lower-case scheme and host, drop fragment, tracking parameters and a trailing slash."""
    parts = urlsplit(url.strip())
    query = urlencode(
        sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.lower().startswith(_TRACKING_PARAMS)
        )
    )
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


def article_id(doc: Mapping[str, Any]) -> str:
    """Deterministic id: the given id, else ``url:`` + a hash of the normalised url."""
    given = doc.get("id")
    if isinstance(given, str) and given:
        return given
    digest = hashlib.sha256(normalise_url(str(doc["url"])).encode()).hexdigest()[:32]
    return f"url:{digest}"


def content_digest(doc: Mapping[str, Any]) -> str:
    """The digest of an output record: BLAKE2b-128 (hex) of its JSON with sorted keys, without
    the volatile fields. Equal for every repeat of one input, so that a consumer can drop a
    repeat by ``(id, digest)`` without comparing bodies (README, "Consuming the outputs")."""
    stable = {k: v for k, v in doc.items() if k not in VOLATILE_FIELDS}
    body = orjson.dumps(stable, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def sealed(doc: dict[str, Any]) -> bytes:
    """``doc`` with its ``digest`` field, as the bytes of an output record."""
    doc["digest"] = content_digest(doc)
    return orjson.dumps(doc)


class Codec:
    """Validators for every message type, built once."""

    def __init__(
        self,
        schemas_dir: Path | None = None,
        *,
        max_message_bytes: int = 1 << 20,
        deadletter_keep_bytes: int = 64 << 10,
    ) -> None:
        self.schemas_dir = schemas_dir or default_schemas_dir()
        self.max_message_bytes = max_message_bytes
        self.deadletter_keep_bytes = deadletter_keep_bytes
        self._validators, self._fast = self._build_validators()

    def _build_validators(self) -> tuple[dict[str, Draft202012Validator], dict[str, Any]]:
        try:
            docs = {
                p.name: orjson.loads(p.read_bytes())
                for p in sorted(self.schemas_dir.glob("*.json"))
            }
        except (OSError, orjson.JSONDecodeError) as exc:
            raise SchemaError(
                f"cannot read the JSON Schemas in {self.schemas_dir}: {exc}; set "
                "NEWSFLOW_SCHEMAS_DIR to the repository's schemas/ folder"
            ) from exc
        missing = [t for t in MESSAGE_TYPES if f"{t}.json" not in docs]
        if missing:
            raise SchemaError(
                f"schemas {missing} are missing from {self.schemas_dir}; set NEWSFLOW_SCHEMAS_DIR"
            )
        registry: Registry = Registry().with_resources(
            (name, Resource.from_contents(doc)) for name, doc in docs.items()
        )
        validators, fast = {}, {}

        def retrieve(uri: str) -> Any:
            return docs[uri.rsplit("/", 1)[-1]]

        for kind in MESSAGE_TYPES:
            schema = docs[f"{kind}.json"]
            try:
                Draft202012Validator.check_schema(schema)
            except JsonSchemaError as exc:
                raise SchemaError(
                    f"schemas/{kind}.json is not a valid schema: {exc.message}"
                ) from exc
            # Relative $refs ("defs.json#/...") resolve against the schema's own file name.
            schema = {**schema, "$id": f"{kind}.json"}
            validators[kind] = Draft202012Validator(schema, registry=registry)
            # The Rust validator answers "valid?" in about a microsecond (the Python one takes
            # hundreds); the Python one still explains what is wrong when something is.
            rooted = {**schema, "$id": f"https://newsflow.invalid/schemas/{kind}.json"}
            fast[kind] = jsonschema_rs.Draft202012Validator(
                rooted, retriever=retrieve, validate_formats=False
            )
        return validators, fast

    # --- validation -------------------------------------------------------------------------
    def errors(self, kind: str, doc: Any) -> list[str]:
        """Human-readable schema violations of ``doc`` as a message of type ``kind``."""
        if self._fast[kind].is_valid(doc):
            return []
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in self._validators[kind].iter_errors(doc)
        ]

    # --- raw --------------------------------------------------------------------------------
    def decode_raw(
        self, value: bytes | None, *, ingested_at: float | None = None
    ) -> RawArticle | Rejected:
        if value is None:
            return Rejected("schema_violation", "message has no value (tombstone)")
        if len(value) > self.max_message_bytes:
            return Rejected(
                "too_large",
                f"message is {len(value)} bytes, over the limit of {self.max_message_bytes} "
                "(NEWSFLOW_MAX_MESSAGE_BYTES)",
            )
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Rejected("invalid_utf8", f"value is not UTF-8: {exc}")
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return Rejected("invalid_json", f"value is not JSON: {exc}")
        if not isinstance(doc, dict):
            return Rejected(
                "schema_violation", f"value is JSON {type(doc).__name__}, not an object"
            )
        aid = None
        if (isinstance(doc.get("id"), str) and doc["id"]) or isinstance(doc.get("url"), str):
            aid = article_id(doc)
        problems = self.errors("raw", doc)
        if "id" not in doc and "url" not in doc:
            problems = ["the article needs an 'id' or a 'url' (it has neither)"] + [
                p for p in problems if "any of the given schemas" not in p
            ]
        if problems:
            return Rejected("schema_violation", "; ".join(problems[:5]), aid)
        assert aid is not None  # the schema requires id or url
        return RawArticle(
            id=aid,
            body=doc["body"],
            content_type=doc.get("content_type") or "text/plain",
            url=doc.get("url"),
            title=doc.get("title"),
            source=doc.get("source"),
            language=doc.get("language"),
            published_at=doc.get("published_at"),
            fetched_at=doc.get("fetched_at"),
            ingested_at=time.time() if ingested_at is None else ingested_at,
        )

    # --- cleaned / unique -------------------------------------------------------------------
    @staticmethod
    def _cleaned_doc(article: CleanedArticle, verdict: DedupVerdict | None = None) -> dict:
        """The message's fields. The records stay records: orjson writes a dataclass as the
        object of its fields in declaration order, as ``asdict`` would give them, without
        ``asdict``'s deep copy (a test holds the bytes equal to the ``asdict`` form)."""
        doc = {"schema_version": SCHEMA_VERSION,
               **dict(zip(_CLEANED_FIELDS, _cleaned_values(article), strict=True))}
        if verdict is not None:
            doc["dedup"] = verdict
        return doc

    def encode_cleaned(self, article: CleanedArticle, verdict: DedupVerdict | None = None) -> bytes:
        return orjson.dumps(self._cleaned_doc(article, verdict))

    def decode_cleaned(
        self, value: bytes | None
    ) -> tuple[CleanedArticle, DedupVerdict | None] | Rejected:
        """Decode a message of articles.cleaned or articles.unique (our own contract)."""
        try:
            doc = orjson.loads(value or b"")
        except orjson.JSONDecodeError as exc:
            return Rejected("invalid_json", f"value is not JSON: {exc}")
        problems = self.errors("cleaned", doc)
        if problems:
            aid = doc.get("id") if isinstance(doc, dict) else None
            return Rejected(
                "schema_violation", "; ".join(problems[:5]), aid if isinstance(aid, str) else None
            )
        fields = {k: v for k, v in doc.items() if k in CleanedArticle.__dataclass_fields__}
        fields["removed"] = tuple(RemovedLine(**r) for r in doc["removed"])
        verdict = DedupVerdict(**doc["dedup"]) if doc.get("dedup") else None
        return CleanedArticle(**fields), verdict

    # --- outputs ----------------------------------------------------------------------------
    def encode_enriched(
        self,
        article: CleanedArticle,
        verdict: DedupVerdict,
        entities: tuple[Entity, ...],
        *,
        enriched_at: float,
        provenance: Mapping[str, Any] | None = None,
    ) -> bytes:
        """``entities`` may be a :class:`~workers.records.Tagged` (its demonyms go out beside
        the entities, and its packed story terms, base64, as ``story_terms``); ``provenance``:
        the NER model and knowledge-base versions."""
        doc = self._cleaned_doc(article, verdict)
        doc["entities"] = [
            {
                "name": e.name,
                "label": e.label,
                "qid": e.qid,
                "count": e.count,
                "salience": round(e.salience, 4),
                "mentions": e.mentions,
            }
            for e in entities
        ]
        doc["demonyms"] = [
            {
                "name": d.name,
                "place": d.place,
                "qid": d.qid,
                "count": d.count,
                "mentions": d.mentions,
            }
            for d in getattr(entities, "demonyms", ())
        ]
        if provenance:
            doc.update(provenance)
        doc["enriched_at"] = enriched_at
        terms = getattr(entities, "story_terms", b"")
        if terms:  # for the story agent only; it removes them before articles.enriched
            doc["story_terms"] = base64.b64encode(terms).decode("ascii")
        return orjson.dumps(doc)

    def decode_tagged(self, value: bytes | None) -> dict[str, Any] | Rejected:
        """A message of articles.tagged (our own contract): an enriched article, or a duplicate
        notice (it has ``duplicate_of``), as a validated dict."""
        try:
            doc = orjson.loads(value or b"")
        except orjson.JSONDecodeError as exc:
            return Rejected("invalid_json", f"value is not JSON: {exc}")
        kind = "duplicate" if isinstance(doc, dict) and "duplicate_of" in doc else "enriched"
        problems = self.errors(kind, doc)
        if problems:
            aid = doc.get("id") if isinstance(doc, dict) else None
            return Rejected(
                "schema_violation", "; ".join(problems[:5]), aid if isinstance(aid, str) else None
            )
        return doc

    @staticmethod
    def encode_story(decision: StoryDecision, *, updated_at: float) -> bytes:
        story = decision.story
        return sealed(
            {
                "schema_version": SCHEMA_VERSION,
                "id": story.story_id,
                "story_id": story.story_id,
                "title": story.title,
                "top_entities": list(story.top_entities),
                "article_count": story.article_count,
                "duplicate_count": story.duplicate_count,
                "sources": list(story.sources),
                "first_seen": story.first_seen,
                "last_seen": story.last_seen,
                "article_id": decision.article_id,
                "is_new_story": decision.is_new_story,
                "updated_at": updated_at,
            }
        )

    @staticmethod
    def encode_duplicate(
        article: CleanedArticle, verdict: DedupVerdict, *, detected_at: float
    ) -> bytes:
        return sealed(
            {
                "schema_version": SCHEMA_VERSION,
                "id": article.id,
                "duplicate_of": verdict.duplicate_of,
                "kind": verdict.kind,
                "similarity": verdict.similarity,
                "containment": verdict.containment,
                "title": article.title,
                "url": article.url,
                "source": article.source,
                "ingested_at": article.ingested_at,
                "detected_at": detected_at,
            }
        )

    def encode_deadletter(
        self,
        *,
        stage: str,
        rejected: Rejected,
        original: bytes | None,
        topic: str,
        partition: int,
        offset: int,
        failed_at: float,
    ) -> bytes:
        original = original or b""
        kept = original[: self.deadletter_keep_bytes]
        return sealed(
            {
                "schema_version": SCHEMA_VERSION,
                # The record's key: the article id where one could be read, else the input's
                # coordinates (stable: a replay reads the same record at the same offset).
                "id": rejected.article_id or f"{topic}:{partition}:{offset}",
                "stage": stage,
                "reason": rejected.reason,
                "error": rejected.detail,
                "source": {"topic": topic, "partition": partition, "offset": offset},
                "original_b64": base64.b64encode(kept).decode("ascii"),
                "original_size": len(original),
                "original_sha256": hashlib.sha256(original).hexdigest(),
                "truncated": len(kept) < len(original),
                "failed_at": failed_at,
            }
        )
