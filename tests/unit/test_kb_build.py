"""The knowledge-base build: sourced QIDs only, per-entry source and licence, lazy full tier."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from workers.kb import DEFAULT_PATH, KnowledgeBase
from workers.tools.evaluation.linking import read_sample, score
from workers.tools.kb_build import CURATED, SOURCES, build


@pytest.fixture(scope="module")
def data() -> dict:
    return json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_every_qid_comes_from_an_extract(data: dict) -> None:
    at = {c: i for i, c in enumerate(data["columns"])}
    extracted = {line.split("\t", 1)[0] for path in SOURCES.glob("*.tsv")
                 for line in path.read_text(encoding="utf-8").splitlines()}
    rows = data["entities"]
    assert len(rows) >= 50_000
    for row in rows:
        assert row[at["qid"]] is None or row[at["qid"]] in extracted, row
        assert row[at["sources"]] and row[at["licences"]], row
    kinds = {row[at["kind"]] for row in rows}
    assert {"country", "region", "city", "person", "party", "org"} <= kinds


def test_curated_cannot_invent_a_qid(tmp_path: Path) -> None:
    text = CURATED.read_text(encoding="utf-8") + '\n[[entity]]\nname = "X"\nref = "Q999999999"\n'
    (tmp_path / "kb_curated.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="no extract holds"):
        build(curated=tmp_path / "kb_curated.toml")
    text = CURATED.read_text(encoding="utf-8") + '\n[[entity]]\nname = "X"\nqid = "Q1"\n'
    (tmp_path / "kb_curated.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="carries a QID"):
        build(curated=tmp_path / "kb_curated.toml")


def test_extract_manifest_matches_the_extracts() -> None:
    import hashlib

    manifest = json.loads((SOURCES / "manifest.json").read_text(encoding="utf-8"))
    for source in manifest["sources"]:
        commits = [source["commit"]] if "commit" in source else list(source["commits"].values())
        assert commits and all(len(c) == 40 for c in commits) and source["licence"]
        for name, info in source["extracts"].items():
            digest = hashlib.sha256((SOURCES / name).read_bytes()).hexdigest()
            assert digest == info["sha256"], name


def test_core_tier_loads_alone_and_the_rest_on_demand(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_PATH, tmp_path / "kb.json")
    kb = KnowledgeBase.load(tmp_path / "kb.json")
    assert len(kb) >= 50_000 and len(kb.core) < 2_000
    assert all(entry.core for entry in kb.core)
    people = [e for e in kb.candidates("David Cameron") if e.kind == "person"]
    assert people and people[0].qid and people[0].country == "GB"
    assert len(kb.entries) == len(kb)


def test_officeholders_come_from_the_extracts(data: dict) -> None:
    # Heads of government and ministers who were never legislators in the 2015 EveryPolitician
    # snapshot now come from the officeholder extracts, with their country and licence.
    at = {c: i for i, c in enumerate(data["columns"])}
    extract = {line.split("\t", 1)[0]: line.split("\t")
               for line in (SOURCES / "officeholders.tsv").read_text(encoding="utf-8").splitlines()}
    kb = KnowledgeBase.load()
    for name, country in (("Tony Blair", "GB"), ("Condoleezza Rice", "US")):
        people = [e for e in kb.candidates(name) if e.kind == "person"]
        assert len(people) == 1 and people[0].country == country, name
        assert extract[people[0].qid][1] == name
    rows = {row[at["qid"]]: row for row in data["entities"]}
    row = rows[people[0].qid]
    assert "officeholders" in row[at["sources"]] and row[at["licences"]] == "CC0-1.0"
    leaders = (SOURCES / "world_leaders.tsv").read_text(encoding="utf-8").splitlines()
    assert len(leaders) > 300 and all(line.split("\t")[0] in rows for line in leaders)


def test_linking_sample_is_labelled_against_the_data(data: dict) -> None:
    at = data["columns"].index("qid")
    known = {row[at] for row in data["entities"] if row[at]}
    sample = read_sample()
    assert len(sample) >= 300
    assert all(row["gold"] is None or row["gold"] in known for row in sample)


def test_linking_score_counts() -> None:
    sample = [{"gold": "Q1"}, {"gold": None}, {"gold": None}, {"gold": "Q2"}]
    result = score(sample, ["Q1", "Q9", "Q3", None], known={"Q1", "Q2", "Q3"})
    # Q9 on a gold-less mention is not in the data: unverifiable, left out of precision.
    assert result["precision"] == 0.5 and result["unverifiable"] == 1
    assert result["coverage"] == 0.75 and result["recall"] == 0.5


def _extract(name: str) -> dict[str, list[str]]:
    """An extract's rows keyed by their first column (the QID)."""
    return {line.split("\t", 1)[0]: line.split("\t") for line in
            (SOURCES / name).read_text(encoding="utf-8").splitlines()}


def _by_qid(data: dict) -> tuple[dict[str, int], dict[str, list]]:
    """kb.json's column positions, and its rows keyed by QID."""
    at = {c: i for i, c in enumerate(data["columns"])}
    return at, {row[at["qid"]]: row for row in data["entities"] if row[at["qid"]]}


def test_organisations_come_from_the_extract(data: dict) -> None:
    # Companies and public bodies: QID and names from the name-suggestion-index extract, its
    # licence on the row; curated companies now name the data entity (ref), not a QID of their own.
    at, rows = _by_qid(data)
    extract = _extract("organisations.tsv")
    assert len(extract) > 5_000
    kb = KnowledgeBase.load()
    for name in ("Deutsche Bank", "Microsoft", "Federal Bureau of Investigation", "Renault"):
        orgs = [e for e in kb.candidates(name) if e.kind == "org" and e.qid]
        assert len(orgs) == 1 and orgs[0].qid in extract, name
        assert "BSD-3-Clause" in rows[orgs[0].qid][at["licences"]]
    assert sum("nsi" in row[at["sources"]] for row in rows.values()) > 5_000


def test_ror_organisations_come_from_the_extract(data: dict) -> None:
    # Agencies, universities and companies from the Research Organization Registry: QID, names
    # and country from the extract (display names without their "(Country)" qualifier), CC0 on
    # the row; QIDs another source holds merge (WHO keeps no country); curated entities that
    # ROR holds (BBC, CIA) now name its QID.
    at, rows = _by_qid(data)
    extract = _extract("ror.tsv")
    assert len(extract) > 20_000
    kb = KnowledgeBase.load()
    for name, country in (("Harvard University", "US"), ("Met Office", "GB"),
                          ("Office for National Statistics", "GB"),
                          ("Centers for Disease Control and Prevention", "US")):
        orgs = [e for e in kb.candidates(name) if e.kind == "org" and e.qid]
        assert len(orgs) == 1 and orgs[0].qid in extract and orgs[0].country == country, name
        assert "CC0-1.0" in rows[orgs[0].qid][at["licences"]]
    bbc, cia, who = kb.lookup("BBC"), kb.lookup("CIA"), kb.lookup("WHO")
    assert bbc is not None and bbc.qid in extract and "(" not in extract[bbc.qid][1]
    assert cia is not None and cia.qid in extract and "curated" in rows[cia.qid][at["sources"]]
    assert who is not None and who.qid in extract and who.country == ""
    assert sum("ror" in row[at["sources"]] for row in rows.values()) > 20_000


def test_ror_record_reads_both_schemas() -> None:
    # The same organisation as ROR's schema 1 (v1.x folders) and schema 2 (v2.x) gives the
    # same fields; the display name's "(Country)" qualifier is not part of the name.
    from workers.tools.kb_extract_ror import _names, _record

    one = {"name": "British Broadcasting Corporation (United Kingdom)", "status": "active",
           "aliases": [], "acronyms": ["BBC"], "labels": [], "types": ["Government"],
           "country": {"country_code": "GB"},
           "external_ids": {"Wikidata": {"preferred": None, "all": ["Q9531"]}}}
    two = {"status": "active", "types": ["government"],
           "names": [{"value": "British Broadcasting Corporation (United Kingdom)",
                      "types": ["ror_display"], "lang": None},
                     {"value": "BBC", "types": ["acronym"], "lang": None}],
           "locations": [{"geonames_details": {"country_code": "GB"}}],
           "external_ids": [{"type": "wikidata", "preferred": "Q9531", "all": ["Q9531"]}]}
    assert _record(one) == _record(two)
    record = _record(two)
    assert (record["qid"], record["acronyms"], record["country"]) == ("Q9531", ["BBC"], "GB")
    assert _names(record["names"][0]) == "British Broadcasting Corporation"
