"""Knowledge base: tolerant lookup, demonyms, canonicalisation, and the data file being current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workers.kb import DEFAULT_PATH, KnowledgeBase, fold, is_acronym
from workers.tools.kb_build import build, write


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


@pytest.mark.parametrize(
    ("surface", "name", "label"),
    [
        ("NATO", "NATO", "ORG"),
        ("Nato", "NATO", "ORG"),
        ("North Atlantic Treaty Organisation", "NATO", "ORG"),
        ("the North Atlantic Treaty Organization", "NATO", "ORG"),
        ("NORTH ATLANTIC TREATY ORGANIZATION", "NATO", "ORG"),
        ("U.S.", "United States", "GPE"),
        ("US", "United States", "GPE"),
        ("USA", "United States", "GPE"),
        ("America", "United States", "GPE"),
        ("United States", "United States", "GPE"),
        ("UK", "United Kingdom", "GPE"),
        ("Britain", "United Kingdom", "GPE"),
        ("ISIL", "Islamic State", "ORG"),
        ("ISIS", "Islamic State", "ORG"),
        ("Daesh", "Islamic State", "ORG"),
        ("Islamic State of Iraq and the Levant", "Islamic State", "ORG"),
        ("Iraq's", "Iraq", "GPE"),
        ("Iran", "Iran", "GPE"),
        ("RUSSIA", "Russia", "GPE"),
        ("Brussels", "Brussels", "GPE"),
        ("Mideast", "Middle East", "LOC"),
        ("Al Qaida", "al-Qaeda", "ORG"),
        ("Organisation for Security and Cooperation in Europe", "OSCE", "ORG"),
    ],
)
def test_lookup_is_tolerant(kb: KnowledgeBase, surface: str, name: str, label: str) -> None:
    entry = kb.lookup(surface)
    assert entry is not None, surface
    assert (entry.name, entry.label) == (name, label)


@pytest.mark.parametrize("surface", ["us", "who", "turkey", "chad", "Stoltenberg", "the", ""])
def test_lookup_rejects_words_and_unknown_names(kb: KnowledgeBase, surface: str) -> None:
    assert kb.lookup(surface) is None


def test_qids_come_from_the_data_only(kb: KnowledgeBase) -> None:
    # NATO's QID is the one the supraverden extract holds; Amnesty's is in no extract, and none
    # is typed by hand, so that entry has none.
    assert kb.lookup("NATO").qid == "Q7184"  # type: ignore[union-attr]
    assert kb.lookup("Amnesty International").qid is None  # type: ignore[union-attr]
    assert kb.lookup("United States").qid == "Q30"  # type: ignore[union-attr]
    assert kb.lookup("Iraq").qid == "Q796"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("demonym", "country"),
    [("Iraqi", "Iraq"), ("Iraqis", "Iraq"), ("Canadian", "Canada"), ("Americans", "United States"),
     ("British", "United Kingdom"), ("Chinese", "China")],
)
def test_demonyms_link_to_their_country(kb: KnowledgeBase, demonym: str, country: str) -> None:
    entry = kb.demonym(demonym)
    assert entry is not None and entry.name == country


def test_canonicalise_text_makes_spellings_alike(kb: KnowledgeBase) -> None:
    a = kb.canonicalise_text("The North Atlantic Treaty Organisation met in the U.S. with ISIL.")
    b = kb.canonicalise_text("The NATO met in the USA with Islamic State of Iraq and the Levant.")
    assert a == b == "The NATO met in the United States with Islamic State."


def test_canonicalise_text_leaves_words_alone(kb: KnowledgeBase) -> None:
    text = "Let us ask who bought the turkey; Organisations meet."
    assert kb.canonicalise_text(text) == text


def test_fold_and_acronyms() -> None:
    assert fold("The Defense Organization's") == fold("defence organisation")
    assert is_acronym("U.S.") and is_acronym("NATO") and not is_acronym("Nato")


def test_data_file_is_rebuilt_byte_for_byte(tmp_path: Path) -> None:
    assert json.loads(DEFAULT_PATH.read_bytes())["version"]
    write(build(), tmp_path / "kb.json")
    assert (tmp_path / "kb.json").read_bytes() == DEFAULT_PATH.read_bytes(), (
        "run: python -m workers.tools.kb_build")


def test_every_alias_has_one_owner_or_a_documented_priority(kb: KnowledgeBase) -> None:
    # Curated entries come first, so a curated alias is never shadowed by a city of that name.
    for entry in kb.entries[:50]:
        for alias in entry.aliases:
            found = kb.lookup(alias)
            assert found is not None and found.name == entry.name, alias


def test_canonicalise_text_respects_word_edges(kb: KnowledgeBase) -> None:
    assert kb.canonicalise_text("XNATO and NATOs") == "XNATO and NATOs"
    assert kb.canonicalise_text("the U.S.-backed plan") == "the United States-backed plan"
    assert kb.canonicalise_text("NORTH ATLANTIC TREATY ORGANIZATION") == "NATO"


def test_file_version_reads_the_header_only() -> None:
    assert KnowledgeBase.file_version() == KnowledgeBase.load().version
