"""The codec: raw bytes to records (or a Rejected with the right reason), records to messages
that validate against schemas/."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest

from workers.codec import Codec, article_id, content_digest, normalise_url, sealed
from workers.records import (
    REJECT_REASONS,
    REMOVAL_REASONS,
    CleanedArticle,
    DedupVerdict,
    Entity,
    Mention,
    RawArticle,
    Rejected,
    RemovedLine,
    StoryDecision,
    StorySummary,
    Tagged,
)


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(max_message_bytes=1000, deadletter_keep_bytes=100)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe not utf-8", "invalid_utf8"),
        (b'{"id": "a", "body": ', "invalid_json"),
        (b"not json at all", "invalid_json"),
        (b"[1, 2]", "schema_violation"),
        (b'"a string"', "schema_violation"),
        (b'{"id": "a"}', "schema_violation"),
        (b'{"body": "no id and no url"}', "schema_violation"),
        (b'{"id": "a", "body": 3}', "schema_violation"),
        (b'{"id": "", "body": "empty id"}', "schema_violation"),
        (b'{"id": "a", "body": "x", "content_type": "image/png"}', "schema_violation"),
        (b'{"id": "a", "body": "x", "title": 7}', "schema_violation"),
        (b'{"id": "a", "body": "' + b"x" * 2000 + b'"}', "too_large"),
        (None, "schema_violation"),
    ],
)
def test_bad_raw_messages_are_rejected_with_reason(codec: Codec, value, reason) -> None:
    result = codec.decode_raw(value)
    assert isinstance(result, Rejected)
    assert result.reason == reason
    assert result.detail


def test_rejected_keeps_the_id_when_readable(codec: Codec) -> None:
    result = codec.decode_raw(b'{"id": "abc", "body": 1}')
    assert isinstance(result, Rejected) and result.article_id == "abc"


def test_raw_article_decoded_with_defaults(codec: Codec) -> None:
    raw = codec.decode_raw(
        b'{"id": "a1", "body": "Hello", "title": "T", "extra": 1}', ingested_at=5.0
    )
    assert raw == RawArticle(id="a1", body="Hello", title="T", ingested_at=5.0)


def test_article_id_is_deterministic_from_normalised_url() -> None:
    a = article_id({"url": "HTTPS://Example.com/news/story/?utm_source=x&b=2#top"})
    b = article_id({"url": "https://example.com/news/story?b=2"})
    c = article_id({"url": "https://example.com/news/other"})
    assert a == b != c and a.startswith("url:")
    assert article_id({"id": "given", "url": "https://x"}) == "given"
    assert normalise_url("http://A.com") == "http://a.com/"


def _cleaned() -> CleanedArticle:
    return CleanedArticle(
        id="a1",
        text="Body text.\n\nSecond paragraph.",
        title="Title",
        language="en",
        language_confidence=0.99,
        ingested_at=1.0,
        removed=(RemovedLine("Advertisement", "boilerplate", 3),),
        timings={"clean": 0.001},
    )


def test_cleaned_round_trip_and_schema(codec: Codec) -> None:
    verdict = DedupVerdict("unique")
    value = codec.encode_cleaned(_cleaned(), verdict)
    assert codec.errors("cleaned", orjson.loads(value)) == []
    assert codec.decode_cleaned(value) == (_cleaned(), verdict)


def test_decode_cleaned_rejects_foreign_messages(codec: Codec) -> None:
    assert isinstance(codec.decode_cleaned(b"{}"), Rejected)
    assert codec.decode_cleaned(b"oops").reason == "invalid_json"  # type: ignore[union-attr]


def test_enriched_and_duplicate_messages_validate(codec: Codec) -> None:
    entity = Entity("NATO", "ORG", "Q7184", (Mention("NATO", 0, 4),), 0.9)
    enriched = orjson.loads(
        codec.encode_enriched(_cleaned(), DedupVerdict("unique"), (entity,), enriched_at=2.0)
    )
    assert codec.errors("enriched", enriched) == []
    assert enriched["entities"][0]["count"] == 1
    assert "story_terms" not in enriched  # only when the tagger packed them
    tagged = orjson.loads(codec.encode_enriched(
        _cleaned(), DedupVerdict("unique"), Tagged((entity,), story_terms=b"\x54\x02packed"),
        enriched_at=2.0))
    assert codec.errors("enriched", tagged) == []
    assert base64.b64decode(tagged["story_terms"]) == b"\x54\x02packed"
    dup = orjson.loads(
        codec.encode_duplicate(
            _cleaned(), DedupVerdict("duplicate", "near", "a0", 0.8, 0.95), detected_at=2.0
        )
    )
    assert codec.errors("duplicate", dup) == []
    bad = {**dup, "kind": "maybe"}
    assert codec.errors("duplicate", bad)


def test_dead_letter_keeps_prefix_length_and_hash_of_oversized(codec: Codec) -> None:
    original = bytes(range(256)) * 2
    doc = orjson.loads(
        codec.encode_deadletter(
            stage="clean",
            rejected=Rejected("too_large", "big"),
            original=original,
            topic="articles.raw",
            partition=2,
            offset=7,
            failed_at=1.0,
        )
    )
    assert codec.errors("deadletter", doc) == []
    assert base64.b64decode(doc["original_b64"]) == original[:100]
    assert doc["truncated"] is True and doc["original_size"] == 512
    assert doc["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert doc["source"] == {"topic": "articles.raw", "partition": 2, "offset": 7}


def test_schemas_list_the_same_closed_sets_as_the_code(codec: Codec) -> None:
    dead = orjson.loads((codec.schemas_dir / "deadletter.json").read_bytes())
    assert tuple(dead["properties"]["reason"]["enum"]) == REJECT_REASONS
    defs = orjson.loads((codec.schemas_dir / "defs.json").read_bytes())
    assert tuple(defs["$defs"]["removed_line"]["properties"]["reason"]["enum"]) == REMOVAL_REASONS


def test_every_schema_declares_its_version(codec: Codec) -> None:
    for kind in ("raw", "duplicate", "deadletter"):
        doc = orjson.loads((codec.schemas_dir / f"{kind}.json").read_bytes())
        assert doc["properties"]["schema_version"]["const"] == 1


@pytest.mark.parametrize(
    ("stamp", "seconds"),
    [
        ("2026-01-01T00:00:00Z", 1767225600.0),
        ("2026-01-01T00:00:00", 1767225600.0),  # no zone: UTC
        ("2026-01-01T01:00:00+01:00", 1767225600.0),
        ("yesterday", None),
        (None, None),
        ("", None),
    ],
)
def test_epoch_seconds(stamp, seconds) -> None:
    from workers.records import epoch_seconds

    assert epoch_seconds(stamp) == seconds


def _outputs(codec: Codec, t: float, title: str = "T") -> dict[str, dict]:
    """One record of each output type, encoded at time ``t``."""
    cleaned = _cleaned()
    verdict = DedupVerdict("duplicate", "near", "a0", 0.8, 0.95)
    story = StorySummary("s1", title, ("NATO",), 2, 0, ("x",), 1.0, 2.0)
    dead = dict(stage="clean", original=b"{", topic="articles.raw", partition=1, offset=9)
    return {
        "duplicate": orjson.loads(codec.encode_duplicate(cleaned, verdict, detected_at=t)),
        "deadletter": orjson.loads(
            codec.encode_deadletter(rejected=Rejected("invalid_json", title), failed_at=t, **dead)
        ),
        "story": orjson.loads(
            codec.encode_story(StoryDecision("a1", "s1", False, 0.5, False, story), updated_at=t)
        ),
        "enriched": orjson.loads(
            sealed(orjson.loads(codec.encode_enriched(cleaned, verdict, (), enriched_at=t)))
        ),
    }


def test_every_output_has_an_id_and_the_digest_of_its_content(codec: Codec) -> None:
    first, later = _outputs(codec, 1.0), _outputs(codec, 99.0)
    for kind, doc in first.items():
        assert codec.errors(kind, doc) == [], kind
        assert isinstance(doc["id"], str) and doc["id"], kind
        assert doc["digest"] == content_digest(doc) and len(doc["digest"]) == 32, kind
        # A repeat made later (a replay) differs in its volatile fields only: same digest.
        assert later[kind]["digest"] == doc["digest"], kind
    # Other content, other digest.
    edited = _outputs(codec, 1.0, title="other")
    for kind in ("deadletter", "story"):
        assert edited[kind]["digest"] != first[kind]["digest"], kind
    # A dead letter without an article id is keyed (and identified) by the input's coordinates.
    assert first["deadletter"]["id"] == "articles.raw:1:9"
