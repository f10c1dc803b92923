"""The codec writes records as orjson's native dataclass form, not through ``asdict``: the bytes
must be the ones the ``asdict`` form gave (outputs are compared byte for byte downstream)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from workers.codec import Codec
from workers.records import (
    SCHEMA_VERSION,
    CleanedArticle,
    DedupVerdict,
    Demonym,
    Entity,
    Mention,
    RawArticle,
    Rejected,
    RemovedLine,
    Tagged,
)
from workers.settings import Settings
from workers.stages.clean import make_cleaner


def reference_cleaned(article: CleanedArticle, verdict: DedupVerdict | None) -> dict[str, Any]:
    """The codec's former ``cleaned_doc``."""
    doc = asdict(article)
    doc["removed"] = [asdict(r) for r in article.removed]
    doc = {"schema_version": SCHEMA_VERSION, **doc}
    if verdict is not None:
        doc["dedup"] = asdict(verdict)
    return doc


def reference_enriched(article: CleanedArticle, verdict: DedupVerdict, entities: Tagged,
                       enriched_at: float, provenance: dict[str, Any]) -> bytes:
    doc = reference_cleaned(article, verdict)
    doc["entities"] = [
        {"name": e.name, "label": e.label, "qid": e.qid, "count": e.count,
         "salience": round(e.salience, 4), "mentions": [asdict(m) for m in e.mentions]}
        for e in entities
    ]
    doc["demonyms"] = [
        {"name": d.name, "place": d.place, "qid": d.qid, "count": d.count,
         "mentions": [asdict(m) for m in d.mentions]}
        for d in entities.demonyms
    ]
    doc.update(provenance)
    doc["enriched_at"] = enriched_at
    return orjson.dumps(doc)


VERDICTS = [None, DedupVerdict("unique"), DedupVerdict("duplicate", "near", "x/1", 0.81, 0.9)]
PROVENANCE = {"ner_model": {"name": "m", "version": "1"}, "kb_version": "k"}


def _tags(article: CleanedArticle) -> Tagged:
    """Entities and demonyms on the article's first words (every field filled)."""
    words = article.text.split()[:6]
    mentions = tuple(Mention(w, i, i + len(w), i % 2 == 0) for i, w in enumerate(words))
    return Tagged(
        (Entity(w, "ORG", f"Q{i}" if i % 2 else None, mentions[: i + 1], 0.123456 * i)
         for i, w in enumerate(words[:3])),
        (Demonym("German", "Germany", "Q183", mentions[:2]),),
    )


def _check(codec: Codec, article: CleanedArticle) -> None:
    for verdict in VERDICTS:
        assert codec.encode_cleaned(article, verdict) == orjson.dumps(
            reference_cleaned(article, verdict)
        )
    tags, verdict = _tags(article), DedupVerdict("unique")
    assert codec.encode_enriched(
        article, verdict, tags, enriched_at=1.5, provenance=PROVENANCE
    ) == reference_enriched(article, verdict, tags, 1.5, PROVENANCE)


def test_every_field_filled_gives_the_asdict_bytes() -> None:
    article = CleanedArticle(
        id="a", text="Acme said\u00e9 \"quoted\" \n\nMore text here now", title="T",
        url="https://x/1", source="s", language="en", language_confidence=0.97, author="Au",
        published_at="2024-01-01T00:00:00Z", fetched_at="2024-01-01T00:01:00Z",
        ingested_at=1.7e9 + 0.123, removed=(RemovedLine("Ad", "boilerplate", 3),
                                            RemovedLine("By X", "dateline", 0)),
        timings={"clean": 0.001, "dedup": 1e-7},
    )
    _check(Codec(), article)
    _check(Codec(), CleanedArticle(id="b", text="x"))


@pytest.mark.parametrize("limit", [300])
def test_news_dev_articles_give_the_asdict_bytes(shared_data: Path, limit: int) -> None:
    codec, cleaner = Codec(), make_cleaner(Settings())
    lines = (shared_data / "news-dev.jsonl").read_bytes().splitlines()[:: 2225 // limit or 1]
    checked = 0
    for n, line in enumerate(lines):
        raw = codec.decode_raw(line, ingested_at=1.7e9 + n / 7)
        assert isinstance(raw, RawArticle)
        article, _ = cleaner.clean_with_report(raw, (0, n))
        if isinstance(article, Rejected):
            continue
        _check(codec, article)
        checked += 1
    assert checked > limit // 2
