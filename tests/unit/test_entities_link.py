"""Linking: type agreement, prior and context choose among same-named entries; None when unsure."""

from __future__ import annotations

import re

import pytest

from workers.kb import KnowledgeBase
from workers.stages.entities_resolve import resolve_all


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load().warm()


def spans(text: str, *items: tuple[str, str, int]) -> list[tuple[int, int, str]]:
    """(surface, label, n): the n-th whole-word occurrence of surface."""
    out = []
    for surface, label, nth in items:
        found = [m.start() for m in re.finditer(rf"(?<!\w){re.escape(surface)}(?!\w)", text)]
        out.append((found[nth], found[nth] + len(surface), label))
    return out


def qids(text: str, kb: KnowledgeBase, *items: tuple[str, str, int]) -> dict[str, str | None]:
    entities, _ = resolve_all(None, text, [], spans(text, *items), kb)
    return {e.name: e.qid for e in entities}


def test_paris_the_city_not_paris_hilton(kb: KnowledgeBase) -> None:
    text = "Paris Hilton flew in. Talks in Paris went on while France waited."
    found = qids(text, kb, ("Paris Hilton", "PERSON", 0), ("Paris", "GPE", 1),
                 ("France", "GPE", 0))
    assert found["Paris"] == kb.lookup("Paris").qid  # type: ignore[union-attr]
    assert found["Paris Hilton"] is None  # no such person in the data: no QID


def test_georgia_by_context(kb: KnowledgeBase) -> None:
    country = next(e for e in kb.candidates("Georgia") if e.kind == "country")
    state = next(e for e in kb.candidates("Georgia") if e.kind == "region" and e.country == "US")
    text = "Tanks entered Georgia as Russia and the United States argued."
    assert qids(text, kb, ("Georgia", "GPE", 0), ("Russia", "GPE", 0),
                ("United States", "GPE", 0))["Georgia"] == country.qid
    text = "Voters in Georgia, Ohio and Florida went to the polls."
    assert qids(text, kb, ("Georgia", "GPE", 0), ("Ohio", "GPE", 0),
                ("Florida", "GPE", 0))["Georgia"] == state.qid


def test_washington_city_or_person(kb: KnowledgeBase) -> None:
    text = "Talks in Washington ended on Monday."
    city = qids(text, kb, ("Washington", "GPE", 0))
    assert list(city) == ["Washington, D.C."] and city["Washington, D.C."]
    # With the person's full name in the article, "Washington" is that person (rule 2); the
    # data has no Denzel Washington, so no QID rather than the city's.
    text = "Denzel Washington arrived. Washington said it was cold."
    found = qids(text, kb, ("Denzel Washington", "PERSON", 0), ("Washington", "GPE", 1))
    assert found == {"Denzel Washington": None}


def test_unsure_gives_no_qid(kb: KnowledgeBase) -> None:
    # A town abroad with no context, and a one-word name that is some person's alias.
    text = "Oscar said Somerset was fine."
    found = qids(text, kb, ("Oscar", "PERSON", 0), ("Somerset", "GPE", 0))
    assert found == {"Oscar": None, "Somerset": None}


def test_demonyms_are_not_entities(kb: KnowledgeBase) -> None:
    text = "German and Iraqi officials met. The Germans agreed with Iraq."
    entities, demonyms = resolve_all(None, text, [], spans(
        text, ("German", "NORP", 0), ("Iraqi", "NORP", 0), ("Germans", "NORP", 0),
        ("Iraq", "GPE", 0)), kb)
    assert [e.name for e in entities] == ["Iraq"]
    by_name = {d.name: d for d in demonyms}
    assert by_name["German"].place == "Germany" and by_name["German"].count == 2
    assert by_name["Iraqi"].qid == entities[0].qid


def test_officeholder_needs_country_context(kb: KnowledgeBase) -> None:
    # A head of government from the officeholder data links when the article names the
    # country; without it (a namesake could be meant) the mention keeps no QID.
    blair = next(e for e in kb.candidates("Tony Blair") if e.kind == "person")
    text = "Tony Blair spoke in London about the UK economy."
    found = qids(text, kb, ("Tony Blair", "PERSON", 0), ("UK", "GPE", 0))
    assert found["Tony Blair"] == blair.qid
    text = "Tony Blair spoke about the economy."
    assert qids(text, kb, ("Tony Blair", "PERSON", 0)) == {"Tony Blair": None}
    # Typed as an organisation, the same name is no person.
    text = "Tony Blair announced results in the UK."
    found = qids(text, kb, ("Tony Blair", "ORG", 0), ("UK", "GPE", 0))
    assert found.get("Tony Blair") is None


def test_organisation_of_one_country_needs_it_in_context(kb: KnowledgeBase) -> None:
    # The Metropolitan Police (name-suggestion-index, country GB) links when the article names
    # the UK, not otherwise; a company of no one country (UBS) links alone.
    met = next(e for e in kb.candidates("Metropolitan Police") if e.kind == "org")
    assert met.qid and met.country == "GB" and not met.core
    text = "The Metropolitan Police said the UK inquiry went on."
    found = qids(text, kb, ("Metropolitan Police", "ORG", 0), ("UK", "GPE", 0))
    assert found["Metropolitan Police"] == met.qid
    text = "The Metropolitan Police said the inquiry went on."
    assert qids(text, kb, ("Metropolitan Police", "ORG", 0)) == {"Metropolitan Police": None}
    ubs = next(e for e in kb.candidates("UBS") if e.kind == "org")
    assert ubs.qid and not ubs.country
    assert qids("UBS was appointed.", kb, ("UBS", "ORG", 0)) == {"UBS": ubs.qid}


def test_generic_brand_names_do_not_link(kb: KnowledgeBase) -> None:
    # "Guardian" (a pharmacy chain), "Liberty", "Giant" and "United" are English words: small
    # brands of those names are not candidates, so the newspaper, the rights group, the
    # software firm and the football club keep no QID. A core curated company still links.
    for word in ("Guardian", "Liberty", "Giant", "United", "Budget"):
        assert not [e for e in kb.candidates(word) if e.kind == "org"], word
        assert qids(f"{word} said so.", kb, (word, "ORG", 0)) == {word: None}
    shell = kb.lookup("Shell")
    assert shell is not None and shell.qid and shell.core
    assert qids("Shell said so.", kb, ("Shell", "ORG", 0)) == {"Shell": shell.qid}


def test_acronym_alias_needs_the_full_name(kb: KnowledgeBase) -> None:
    # "SEC" is an acronym alias of the US Securities and Exchange Commission (ROR, country US):
    # it links when the article spells the body out, not on its own ("CBI", "EA", "CEA" name
    # too many bodies); a brand whose own name is the acronym (BMW) needs no full name.
    sec = next(e for e in kb.candidates("Securities and Exchange Commission") if e.kind == "org")
    assert sec.qid and not sec.core and "SEC" in sec.aliases
    text = "The Securities and Exchange Commission (SEC) in the US said the SEC would act."
    items = (("Securities and Exchange Commission", "ORG", 0), ("SEC", "ORG", 1), ("US", "GPE", 0))
    entities, _ = resolve_all(None, text, [], spans(text, *items), kb)
    body = next(e for e in entities if e.qid == sec.qid)
    assert text.index("SEC would") in {m.start for m in body.mentions}
    text = "In the US the SEC said it would act."
    assert qids(text, kb, ("SEC", "ORG", 0), ("US", "GPE", 0))["SEC"] is None
    bmw = next(e for e in kb.candidates("BMW") if e.kind == "org")
    assert qids("BMW said so.", kb, ("BMW", "ORG", 0))["BMW"] == bmw.qid
