"""Entity tagging stage on the seed article and on batches (the real en_core_web_sm model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.records import CleanedArticle, Entity, Rejected, Tagged
from workers.settings import Settings
from workers.stages import entities as stage
from workers.stages.entities import Tagger, load_pipeline, make_tagger


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return make_tagger(Settings())


@pytest.fixture(scope="module")
def seed(shared_data: Path) -> CleanedArticle:
    """The seed article cleaned as the brief says: no repeated caption, newsletter line or the
    two headlines of other stories at the end."""
    lines = [line for line in (shared_data / "seed-article.txt").read_text().splitlines()
             if line.strip()]
    title, body = lines[0], lines[1:-2]
    kept: list[str] = []
    for line in body:
        if line not in kept and not line.startswith("By giving us your email"):
            kept.append(line)
    return CleanedArticle(id="seed", title=title, text="\n\n".join(kept))


@pytest.fixture(scope="module")
def seed_entities(tagger: Tagger, seed: CleanedArticle) -> dict[str, Entity]:
    result = tagger.tag_batch([seed])[0]
    assert isinstance(result, tuple)
    return {entity.name: entity for entity in result}


@pytest.mark.parametrize(
    ("name", "label"),
    [("NATO", "ORG"), ("Jens Stoltenberg", "PERSON"), ("Harjit Sajjan", "PERSON"),
     ("Donald Trump", "PERSON"), ("Iraq", "GPE"), ("Iran", "GPE"), ("Brussels", "GPE"),
     ("Belgium", "GPE"), ("Baghdad", "GPE"), ("Afghanistan", "GPE"), ("United States", "GPE"),
     ("Islamic State", "ORG"), ("Middle East", "LOC")],
)
def test_seed_entities(seed_entities: dict[str, Entity], name: str, label: str) -> None:
    assert name in seed_entities, sorted(seed_entities)
    assert seed_entities[name].label == label


def test_one_entity_for_every_spelling(seed_entities: dict[str, Entity]) -> None:
    nato = {m.text for m in seed_entities["NATO"].mentions}
    assert {"NATO", "North Atlantic Treaty Organisation"} <= nato
    isil = {m.text for m in seed_entities["Islamic State"].mentions}
    assert {"ISIL", "Islamic State", "Islamic State of Iraq and the Levant"} <= isil
    assert seed_entities["NATO"].qid == "Q7184"
    names = [e.name.casefold() for e in seed_entities.values()]
    assert not any("north atlantic" in n or "islamic state of" in n for n in names)


def test_partial_names_are_people(seed_entities: dict[str, Entity]) -> None:
    stoltenberg = seed_entities["Jens Stoltenberg"]
    assert sum(m.text == "Stoltenberg" for m in stoltenberg.mentions) >= 5
    assert any(m.text == "Sajjan" for m in seed_entities["Harjit Sajjan"].mentions)
    for entity in seed_entities.values():
        if entity.label in ("GPE", "ORG"):
            assert not any(m.text in ("Stoltenberg", "Sajjan") for m in entity.mentions), entity


def test_mentions_point_into_the_text_and_title(seed: CleanedArticle,
                                                 seed_entities: dict[str, Entity]) -> None:
    assert seed.title is not None
    for entity in seed_entities.values():
        assert entity.count == len(entity.mentions) >= 1
        assert 0.0 < entity.salience <= 1.0
        for mention in entity.mentions:
            source = seed.title if mention.in_title else seed.text
            assert source[mention.start:mention.end] == mention.text
    assert any(m.in_title for m in seed_entities["NATO"].mentions)
    assert seed_entities["NATO"].salience > seed_entities["Afghanistan"].salience


def test_nothing_from_junk_lines(seed_entities: dict[str, Entity]) -> None:
    words = " ".join(m.text for e in seed_entities.values() for m in e.mentions)
    for junk in ("Early Bird", "Final Fantasy", "McGuire", "Blue Jays"):
        assert junk not in words


def test_numeric_types_only_when_asked(tagger: Tagger) -> None:
    article = CleanedArticle(id="n", text="On 12 February 2020 NATO spent $5 billion in Iraq.")
    plain = tagger.tag_batch([article])[0]
    assert isinstance(plain, tuple) and {e.label for e in plain} <= {"ORG", "GPE"}
    numeric = Tagger(tagger.nlp, tagger.kb, include_numeric=True).tag_batch([article])[0]
    assert isinstance(numeric, tuple) and {"DATE", "MONEY"} & {e.label for e in numeric}


def test_batch_order_language_and_isolated_failures(
    tagger: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = stage.resolve_all

    def poisoned(title, text, *args, **kwargs):  # type: ignore[no-untyped-def]
        if "poison" in text:
            raise ValueError("boom")
        return real(title, text, *args, **kwargs)

    monkeypatch.setattr(stage, "resolve_all", poisoned)
    articles = [
        CleanedArticle(id="a", text="Angela Merkel visited Paris."),
        CleanedArticle(id="b", text="A poison pill from Microsoft."),
        CleanedArticle(id="c", text="Le président Macron est à Berlin.", language="fr"),
        CleanedArticle(id="d", text="The IMF lent money to Greece.", language="en"),
    ]
    results = tagger.tag_batch(articles)
    assert len(results) == 4
    assert isinstance(results[0], tuple) and {"Angela Merkel", "Paris"} <= {
        e.name for e in results[0]}
    assert isinstance(results[1], Rejected) and results[1].reason == "processing_error"
    assert results[1].article_id == "b"
    assert results[2] == ()
    assert isinstance(results[3], tuple) and "International Monetary Fund" in {
        e.name for e in results[3]}


def test_only_ner_components_run(tagger: Tagger) -> None:
    assert "ner" in tagger.nlp.pipe_names
    assert not {"parser", "tagger", "lemmatizer", "attribute_ruler"} & set(tagger.nlp.pipe_names)


def test_unknown_model_is_a_configuration_error() -> None:
    from workers.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="not installed"):
        load_pipeline("xx_no_such_pipeline")


def test_demonyms_ride_beside_the_entities_and_survive_pickling(tagger: Tagger) -> None:
    import pickle

    article = CleanedArticle(
        id="dm", text="German officials met Iraqi ministers in Berlin on Monday.", title=None
    )
    result = tagger.tag_batch([article])[0]
    assert isinstance(result, Tagged)
    assert "German" not in {e.name for e in result}  # a demonym is not an entity
    assert {(d.name, d.place) for d in result.demonyms} >= {("German", "Germany")}
    copy = pickle.loads(pickle.dumps(result))  # the tag pool's pipes pickle results
    assert copy == result and copy.demonyms == result.demonyms
