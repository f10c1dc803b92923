"""Resolution rules on hand-made model spans (no spaCy): KB typing, splitting, people, labels."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.kb import KnowledgeBase
from workers.stages.entities_resolve import resolve, word_occurrences


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def spans(text: str, *marked: tuple[str, str, int]) -> list[tuple[int, int, str]]:
    """(surface, label, occurrence) -> character spans, as a model would give them."""
    out = []
    for surface, label, occurrence in marked:
        start = -1
        for _ in range(occurrence + 1):
            start = text.index(surface, start + 1)
        out.append((start, start + len(surface), label))
    return out


def by_name(result: tuple) -> dict[str, tuple[str, int]]:
    return {e.name: (e.label, e.count) for e in result}


def test_kb_relabels_and_merges_spellings(kb: KnowledgeBase) -> None:
    text = "The North Atlantic Treaty Organisation met. NATO agreed. Nato troops left."
    model = spans(text, ("North Atlantic Treaty Organisation", "WORK_OF_ART", 0),
                  ("NATO", "ORG", 0))
    assert by_name(resolve(None, text, [], model, kb)) == {"NATO": ("ORG", 3)}


def test_model_span_listing_places_is_split(kb: KnowledgeBase) -> None:
    text = "Talks in Brussels Belgium and at The Oval, London ended."
    model = spans(text, ("Brussels Belgium", "GPE", 0), ("The Oval, London", "FAC", 0))
    result = by_name(resolve(None, text, [], model, kb))
    assert result["Brussels"][0] == result["Belgium"][0] == "GPE"
    assert result["The Oval"] == ("FAC", 1) and result["London"] == ("GPE", 1)


def test_partial_person_names_whatever_the_model_said(kb: KnowledgeBase) -> None:
    text = ("Jens Stoltenberg spoke. Stoltenberg and Sajjan met. "
            "Defence Minister Harjit Sajjan agreed.")
    model = spans(text, ("Jens Stoltenberg", "PERSON", 0), ("Stoltenberg", "GPE", 1),
                  ("Sajjan", "ORG", 0), ("Harjit Sajjan", "PERSON", 0))
    result = by_name(resolve(None, text, [], model, kb))
    assert result == {"Jens Stoltenberg": ("PERSON", 2), "Harjit Sajjan": ("PERSON", 2)}


def test_untagged_surnames_are_added(kb: KnowledgeBase) -> None:
    text = "Maria Lindqvist won. Later Lindqvist said she was happy."
    model = spans(text, ("Maria Lindqvist", "PERSON", 0))
    assert by_name(resolve(None, text, [], model, kb)) == {"Maria Lindqvist": ("PERSON", 2)}


def test_kb_place_is_a_person_only_as_a_known_surname(kb: KnowledgeBase) -> None:
    text = "Director Neil Jordan spoke. Jordan said the film was done in Ireland."
    model = spans(text, ("Neil Jordan", "PERSON", 0), ("Jordan", "GPE", 1))
    result = by_name(resolve(None, text, [], model, kb))
    assert result == {"Neil Jordan": ("PERSON", 2), "Ireland": ("GPE", 1)}
    text = "Neil Armstrong flew to Jordan."
    model = spans(text, ("Neil Armstrong", "PERSON", 0), ("Jordan", "PERSON", 0))
    assert by_name(resolve(None, text, [], model, kb))["Jordan"] == ("GPE", 1)


def test_one_label_per_entity_by_majority(kb: KnowledgeBase) -> None:
    text = "Zorblax rose. Zorblax fell. Zorblax shares gained."
    model = spans(text, ("Zorblax", "ORG", 0), ("Zorblax", "ORG", 1), ("Zorblax", "PERSON", 2))
    assert by_name(resolve(None, text, [], model, kb)) == {"Zorblax": ("ORG", 3)}


def test_names_tagged_once_are_found_everywhere(kb: KnowledgeBase) -> None:
    text = "Interfax news agency reported it. Later Interfax said more."
    model = spans(text, ("Interfax news agency", "ORG", 0))
    assert by_name(resolve(None, text, [], model, kb)) == {"Interfax": ("ORG", 2)}


def test_dates_do_not_hide_kb_names(kb: KnowledgeBase) -> None:
    text = "WIGAN , England 1996-08-31"
    model = spans(text, ("England 1996-08-31", "DATE", 0))
    assert by_name(resolve(None, text, [], model, kb)) == {"England": ("GPE", 1)}


def test_salience_prefers_title_and_lead(kb: KnowledgeBase) -> None:
    title = "Iraq approves NATO mission"
    text = "NATO will train troops.\n\nLater, Iran and Iraq talked. Iran said no. Iran left."
    result = {e.name: e for e in resolve(title, text, spans(title), spans(text), kb)}
    assert result["NATO"].salience > result["Iran"].salience
    assert result["Iraq"].salience > result["Iran"].salience
    assert [m.in_title for m in result["Iraq"].mentions] == [True, False]


def test_byline_is_cut_off_its_dateline(kb: KnowledgeBase) -> None:
    text = ("Glenn Somerville WASHINGTON 1996-08-30 Orders rose. "
            "Maria Kovacs ZORBLAXVILLE 1996-08-30")
    model = spans(text, ("Glenn Somerville WASHINGTON", "PERSON", 0),
                  ("Maria Kovacs ZORBLAXVILLE", "PERSON", 0))
    result = by_name(resolve(None, text, [], model, kb))
    assert result["Glenn Somerville"] == ("PERSON", 1)
    assert result["Washington, D.C."] == ("GPE", 1)
    assert result["Maria Kovacs"] == ("PERSON", 1)
    assert not any("ZORBLAXVILLE" in name for name in result)


def test_upper_case_tail_kept_unless_a_place_or_a_person(kb: KnowledgeBase) -> None:
    text = "King Henry VIII ruled. The Chicago NAPM index rose. National League CHICAGO 3 Atlanta 2"
    model = spans(text, ("Henry VIII", "PERSON", 0), ("Chicago NAPM", "ORG", 0),
                  ("National League CHICAGO", "ORG", 0))
    result = resolve(None, text, [], model, kb)
    surfaces = {m.text: e.label for e in result for m in e.mentions}
    assert surfaces["Henry VIII"] == "PERSON" and surfaces["Chicago NAPM"] == "ORG"
    assert surfaces["National League"] == "ORG" and "CHICAGO" in surfaces


def test_spans_are_cut_at_a_spaced_dash(kb: KnowledgeBase) -> None:
    text = "UNITED STATES - Prices rose. LE ZORBLAX - Trade talks. Scorers : Zorbla - Jan Kovacs"
    model = spans(text, ("UNITED STATES - Prices", "GPE", 0), ("LE ZORBLAX - Trade", "ORG", 0),
                  ("Zorbla - Jan", "GPE", 0))
    result = resolve(None, text, [], model, kb)
    surfaces = {m.text: e.label for e in result for m in e.mentions}
    assert surfaces == {"UNITED STATES": "GPE", "LE ZORBLAX": "ORG", "Zorbla": "GPE"}


def test_a_surname_followed_by_a_place_is_no_full_name(kb: KnowledgeBase) -> None:
    text = ("Yeltsin endorses Lebed Chechnya peace plan. Alexander Lebed flew to Chechnya. "
            "Lebed said Chechnya would wait.")
    model = spans(text, ("Lebed Chechnya", "PERSON", 0), ("Alexander Lebed", "PERSON", 0),
                  ("Chechnya", "GPE", 1), ("Lebed", "PERSON", 2), ("Chechnya", "GPE", 2))
    result = resolve(None, text, [], model, kb)
    labels = {e.label for e in result for m in e.mentions if m.text == "Chechnya"}
    assert labels == {"GPE"}
    assert by_name(result)["Alexander Lebed"] == ("PERSON", 2)


def test_surnames_in_a_capitals_headline_are_the_people(kb: KnowledgeBase) -> None:
    text = ("SOCCER - ZORBLAKOV NAMED AS CAPTAIN . LONDON 1996-08-30 Ivan Zorblakov was named "
            "captain. ZORBLAKOV said so.")
    model = spans(text, ("ZORBLAKOV", "ORG", 0), ("Ivan Zorblakov", "PERSON", 0))
    result = resolve(None, text, [], model, kb)
    person = next(e for e in result if e.name == "Ivan Zorblakov")
    assert person.label == "PERSON"
    assert [m.text for m in person.mentions] == ["ZORBLAKOV", "Ivan Zorblakov", "ZORBLAKOV"]
    assert all(e.name == "Ivan Zorblakov" or "ZORBLAKOV" not in e.name for e in result)


# --- word_occurrences: the regex it replaced, on random text -------------------------------------
_ALPHABET = "Abab _-é1’ "


@given(
    text=st.text(alphabet=_ALPHABET, max_size=40),
    forms=st.lists(st.text(alphabet=_ALPHABET, min_size=1, max_size=4), min_size=1, max_size=4),
)
@settings(max_examples=400, deadline=None)
def test_word_occurrences_are_the_regex_matches(text: str, forms: list[str]) -> None:
    alternatives = "|".join(map(re.escape, sorted(set(forms), key=len, reverse=True)))
    expected = [m.span() for m in re.finditer(rf"(?<!\w)(?:{alternatives})(?!\w)", text)]
    assert word_occurrences(text, forms) == expected


def test_word_occurrences_whole_words_longest_first() -> None:
    text = "Lebed met Lebedev; LEBED, Alexander Lebed and _Lebed spoke."
    assert [text[s:e] for s, e in word_occurrences(text, ["Lebed", "LEBED"])] == [
        "Lebed", "LEBED", "Lebed"]
    assert [text[s:e] for s, e in word_occurrences(text, ["Lebed", "Alexander Lebed"])] == [
        "Lebed", "Alexander Lebed"]
