"""Extract the knowledge base's pinned inputs from local git mirrors of public datasets.

``python -m workers.kb_build extract --mirror DIR`` reads bare git snapshots under ``DIR`` (as the
``fetch`` tool leaves them: ``DIR/<owner>+<name>/repo``) at the pinned commits below and writes
compact TSV extracts - only the fields the build uses - to ``workers/data/kb_sources/`` with a
``manifest.json`` (repository, commit, licence, input files, rows and sha256 per extract). The
build (``python -m workers.kb_build``) then needs only those extracts, not the mirrors.

Sources (each row keeps its Wikidata id exactly as the dataset gives it):

* dr5hn/countries-states-cities-database (ODbL-1.0): countries, first-level regions, and
  cities and towns (5,000+ inhabitants or no population given) from the per-country files
  (files of 4 MiB and more are absent from the snapshot: India and Australia come from an older
  commit where they were smaller; the other large countries' cities - US, FR, DE, ES, IT, MX,
  BR, PH, RO, RU - come from Natural Earth only);
* martynafford/natural-earth-geojson (Natural Earth, public domain / CC0): populated places;
* tijmenb/everypolitician-data (a 2015 fork of everypolitician/everypolitician-data, CC0):
  legislators and their parties with Wikidata ids;
* unitedstates/congress-legislators (CC0): current members of the US Congress;
* confirmordeny/supraverden (CC BY-SA 4.0): international organisations;
* every-politician-scrapers/world-leaders-2021 (Wikidata query results, CC0): heads of state and
  government since 2021;
* every-politician-scrapers/<country> (one repository per government, Wikidata query results,
  CC0): holders of national executive offices (heads of state and government, ministers, deputy
  ministers and other listed posts) in the 21st century, from each repository's
  ``html/holders21.csv`` and the jurisdiction in its ``meta.json``. These repositories carry no
  licence file; their tables are the output of SPARQL queries against Wikidata, which is CC0.
* osmlab/name-suggestion-index (BSD-3-Clause): organisations - companies (the brands of shops,
  banks, fuel stations, car makers, telecoms ...) and public bodies (government offices, police
  forces, emergency and postal services) with their Wikidata ids, as OpenStreetMap tags them
  (``brand:wikidata``, ``operator:wikidata``); only those known in a whole country or more,
  named in Latin script, and either public bodies, in corporate categories (banks, fuel,
  telecoms, car makers, offices, utilities ...), in several categories or in several countries.
* ror-community/ror-records (ROR data, CC0-1.0; repository licence file MIT): research
  organisations, government agencies, companies, non-profits, universities and other bodies
  with their Wikidata ids, names, acronyms, country and types - the records added or changed
  in ROR releases v1.0-v2.9, a partial registry (``workers.tools.kb_extract_ror``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from workers.tools.kb_extract_ror import ROR, ror
from workers.tools.kb_mirror import (
    Mirror,
    clean_text,
    english_words,
    is_generic,
    is_latin,
    wikidata_id,
)

SOURCES_DIR = Path(__file__).resolve().parents[1] / "data" / "kb_sources"
MIN_CITY_POPULATION = 15_000
# Smaller places enter as towns (never in the dedup normaliser; linked only with context):
# known populations of at least this, or no population in the data.
MIN_TOWN_POPULATION = 5_000

DR5HN: dict[str, Any] = {"repo": "dr5hn/countries-states-cities-database",
         "commit": "7fda0afd3e75391d9480c22ed3a2b91f50e08eb6",
         "older_commit": "707f80e", "older_countries": ("AU", "IN"),
         "licence": "ODbL-1.0 (Open Database License; attribution and share-alike of derived "
                    "databases required)"}
NATURAL_EARTH = {"repo": "martynafford/natural-earth-geojson",
                 "commit": "0b9a6ceb0a7032713abd9460ac1e995a9c60cd1e",
                 "licence": "Natural Earth data: public domain; repository: CC0-1.0"}
EVERYPOLITICIAN = {"repo": "tijmenb/everypolitician-data",
                   "commit": "0642e77ac8a13bcd8017b245825c3aba349d3e6a",
                   "licence": "CC0-1.0 (EveryPolitician data; 2015-11-30 fork of "
                              "everypolitician/everypolitician-data, whose snapshot is too large)"}
SUPRAVERDEN = {"repo": "confirmordeny/supraverden",
               "commit": "59ab4fa0f92f3c75bb45e230908e612f15e8dbdf",
               "licence": "CC-BY-SA-4.0 (attribution and share-alike required)"}
CONGRESS = {"repo": "unitedstates/congress-legislators",
            "commit": "dfa9622263dd4c8d08636926e498f1845704d7eb", "licence": "CC0-1.0"}
_WIKIDATA_QUERY = ("CC0-1.0 (Wikidata query results: Wikidata is CC0; the repository has no "
                   "licence file of its own)")
WORLD_LEADERS = {"repo": "every-politician-scrapers/world-leaders-2021",
                 "commit": "be7039cf5952d8121c4f1e24eea64cc5dd465633", "licence": _WIKIDATA_QUERY}
NSI = {"repo": "osmlab/name-suggestion-index",
       "commit": "c8b272ef0f882ee76c5ac8bd2912d5db4d63cf30",
       "licence": "BSD-3-Clause (Copyright 2026, name-suggestion-index contributors; the notice "
                  "must be kept in redistributions)",
       # One-word names that are English words ("Guardian", "Liberty", "Giant") are marked
       # with this word list, the spaCy English model's lemmatizer index (WordNet words).
       "generic_words": "en_core_web_sm 3.8.0 lemmatizer lemma_index (noun, verb, adj, adv)"}
# One repository per government; the national ones that the snapshot store had (fetched
# 2026-12); each pinned at the commit read.
OFFICEHOLDERS: dict[str, Any] = {
    "repo": "every-politician-scrapers/*", "licence": _WIKIDATA_QUERY,
    "commits": {
        "afghanistan": "f54eb517a816eb2db1f6d5e4ad0d60dcf9de7e74",
        "albania-cabinet": "e8d362eb360459d1ffad1dbf5eec480294ef4746",
        "algeria-cabinet": "a23de8549333fc55f861cc856d499acb9cd255de",
        "angola": "3e46a94f1c478495da9e44762ad61981f5f5bf68",
        "argentina-ministers": "98105f511ea6ad6c9730e979190909cf34d9343b",
        "armenia-ministers": "0f97f894d1206191bcc52e5925f00bac9a0299bf",
        "australia-cabinet": "4c35a6ef087d076eb343b6177814574b2d6e43b8",
        "austria-cabinet": "d8d29777ec6abe3e2adfb82f5c308e944fb8f8a9",
        "azerbaijan-cabinet": "88e2221afaeb133eb9ac369d5a036c69bbeefc4d",
        "bahrain": "d9163a148f80f34a6e043641de9adba473f576da",
        "bangladesh-ministers": "9bf8dcec085888ba0a57f9073a0d504b74c33441",
        "belarus-ministers": "3edd7c7cbcba709c6165f7df09653dcbf50c7712",
        "belgium-cabinet": "a1420fcaec8b2c2966eebb13f352b95725d3785b",
        "bolivia-ministers": "9ecab9a992ff42c39561834734b028ac65c3ed2f",
        "bosnia-herzegovina-ministers": "77bb9eb6a60e455fd4458255c9ac6fb5f9a5b2b2",
        "brazil-ministers": "de58065b42edc0c0f310185ffda9174540e9af5f",
        "bulgaria-cabinet": "2068236a3e5af84bd30f347afe86bcc089d6fd5d",
        "cambodia": "b08e1644f03b1652636e5826ef32ea5150365808",
        "cameroon": "647bbdf2093fd92077f35c7b7a93bef37aa33919",
        "canada-cabinet": "3b3f0da86ca64c7e3ce6d0f073ed66612885d06f",
        "chile-ministers": "412eb050c5f72daf9c0f31b6482c61180501c83a",
        "china-ministers": "300341654d57cd10776238bae41c89b6ea315276",
        "congo-kinshasa-ministers": "fb78ee2e1afcd31cb21afcb2c18c01e01608b18d",
        "croatia-ministers": "6e44b5186fd289ec77c7a5d1378d86e4a1ad37a3",
        "cuba": "5f8fa4ee8913ea123ef6727fbf0c8b3453fbbb86",
        "cyprus-cabinet": "5fcbf4d37e23e62f820666403beb77e72c2f9916",
        "czech-ministers": "1e53f23f9405feacef64241294c342ab8eca0319",
        "denmark-cabinet": "1599847eacdd27202c9b84387407cef25458f309",
        "ecuador-ministers": "b5360d52c89e2c9742019d3ea9c37972a737e243",
        "egypt-ministers": "f3820a30ce92a8557e3503202fed731e9d91275c",
        "estonia": "27ed68480fd69b680a523eab604b6ccf26ed4332",
        "ethiopia-ministers": "e025c9ca8d02cc7f3a5522afd30d49350e64c5cf",
        "finland-cabinet": "56412ba38703d3181b5dd5675b8410b95f6a5487",
        "france-cabinet": "7ff37baf3297a83711c90ac84b1d3b2ecb50a541",
        "georgia-ministers": "e843205baddb9cd7321170ede5d08210b1bf6c78",
        "ghana-ministers": "6301043ab47efa25fa0c944b6a4b523ea5a2eebe",
        "greece-cabinet": "34bf1d17b4c2afa95e6063f93742e53f3d4c7454",
        "hong-kong": "1512e32bdfc161dad75ab6b1d83a4c8af40c3834",
        "hungary-cabinet": "aee95092e592403fee7a5d87f0d6b8eeeda1e9ca",
        "iceland-cabinet": "5d4921f29f5df2c617b8bbce6cb74f466b608006",
        "india-ministers": "66f344bbf207d35eaa3225edf5584ae0bb164fe8",
        "indonesia-ministers": "66eaaf57191eff7e9d28eea926358bf83d443114",
        "iran-ministers": "a8e7c2fb16372b8b77a09303ae27d46a9ea21e67",
        "iraq-ministers": "ab7f90c8298be91e36248b2ca5d7f268cee0b173",
        "ireland-ministers": "562aee81a3802e59acc4cf21c8fce6a8ca35f76e",
        "israel-ministers": "81da8707e865df568c7ba8b0b89bf95e7ffd4ae1",
        "italy-ministers": "4f9e038f62f3c71f737fd7e30a4e35df1686f4eb",
        "ivory-coast": "44222480d31935982732e89a451ff590841f834f",
        "jamaica-ministers": "f5c6abbdb4d9d0799242d2e7219e9e9d20d5c172",
        "japan-ministers": "8ba3cb1992bee87f5b8dc566da87db2be8550a1a",
        "jordan-ministers": "34bc64166cbe64a6a784a7b134f2fd55872fa5f7",
        "kazakhstan-cabinet": "caf651f97dc0efed4955887c17fd6fadcdf7b111",
        "kenya": "845fa144b1aa18652748624528d836b81e51b7d0",
        "kosovo-cabinet": "66ca1f4176783fd77323a1f630723bd06b18abb0",
        "kuwait-ministers": "e663bce8539370de83f3f06eecb0e8d4ec50b14e",
        "latvia-cabinet": "5f141542ec29a0fa0dc91c29ee2b3d695b7d1e45",
        "lithuania": "2743892fbc8f4eca6fc0b2ead37936dc8d5229d9",
        "luxembourg-cabinet": "7b920a2e507deea1887539f7ebb4fea0db43e7da",
        "malaysia-ministers": "bab25025f0c68e7c1c623e0ee7e4888032550e16",
        "mexico-ministers": "87f5ae7dc992a800173a7c9de53ccbe25661dc61",
        "morocco-ministers": "b5246271b46859298b816869fd8c3ae7f658afd8",
        "mozambique": "4800218ca8ce02cb4d1bb3a665189fc245e27d99",
        "myanmar-ministers": "473d687f0dcb621d8c313ef32923d73094de21a5",
        "nepal-ministers": "14d843634275aae72439958fd190e33ad048df17",
        "netherlands-cabinet": "a542323a663b1a7232e6f8e4843eda1f019a8705",
        "new-zealand-cabinet": "dbf5f248a1d55fc1a111112bc904c8e7e8e26950",
        "nigeria": "1f5d4aad9ba42a810e353d0d7b4378fedc4429e6",
        "north-korea": "7fd4f86187b511ff8bd0b95f1fcd1c5a21e881b5",
        "northern-ireland-ministers": "50c4a20cb3e1f3d65194d4936fca4736d906248c",
        "norway-cabinet": "c0bc52971dac1a8734320e298a714903adae5b83",
        "pakistan-ministers": "065accdb5d8d693e89c0bc559862c10f66d443d1",
        "philippines-ministers": "1f396f9a8c2e3397cfe392fca350c8943aa1d5f5",
        "poland-cabinet": "c6b228df3eed6e9ba89f02bf424f870a66ea47a6",
        "portugal-cabinet": "49dd0287a8d715a217ba067c04d574b2632864af",
        "romania-cabinet": "63e9c5d352fa9a477e708ecc2ac4523af9534cfe",
        "russia-cabinet": "3871831d9846a16c5017acc229e003ab706202ab",
        "saudi-ministers": "566c58806bee4d91167f3dcbd19abbb596e65497",
        "scotland-cabinet": "082f5ce4eda96d7e9ea8af82df53fefd85962cca",
        "senegal-ministers": "780217b3c6b59c29a8e18d88727f9200fb1a4953",
        "serbia-ministers": "a4a525577243b1a2ebc9c98de0801347aba26e52",
        "singapore-ministers": "7c68317a86e9ab14712685cc12d6e2afc028d410",
        "slovakia-cabinet": "db4bf5310f557452cd6140a61739d4103c35debf",
        "slovenia-cabinet": "7a1dca9809cba7fb945c7a21154edf494d043879",
        "somalia-cabinet": "7b5980d7c4b80241f31b9ceb82b601906656559b",
        "south-africa-cabinet": "0558a872c69856bba752bd3b8b3604e4e4479252",
        "south-korea-ministers": "6f17960017c672790f0997885e5b2ff5937305de",
        "south-sudan": "46f2f4f9e468465ced7e5bce689b7d8e0c43be32",
        "spain-ministers": "1e1550ca85af4c39b71e6a462fead133849fe078",
        "sri-lanka-cabinet": "a90dbcf77133b1b9dcb94abe2c51b7ba2d9c5bee",
        "sudan": "bd56d436414d49f53c21baf0601962478a431ac2",
        "sweden-cabinet": "6756a7c9de57d94b64628365d3715a344c3ad9a7",
        "swiss-federal-council": "7cb72efe7f83e593d6be64fa649c993c5042e49c",
        "syria": "08fddba7b3f3beef8ac10a7201ef1ff1cc7318af",
        "taiwan": "45c981ac5a15e4bdacfda83f77a64d275156ca4b",
        "tanzania-ministers": "08687f4096fe6f1952764a24a09134ab45d370c8",
        "tunisia-ministers": "6e35fc4e7f3d8c1f0bbb453d3b522177a7820dfe",
        "turkey-ministers": "288fbd45ee3fa59f8a226437bf43d726c9845f4f",
        "uae-ministers": "9478e53b0ada6f31a1877fddb499f33207efa368",
        "uganda-ministers": "ed6c7e0721c8c38e177b8c9b6fdb308b2b26ce95",
        "ukraine-cabinet": "4fc6ab0f4d90d6170b674172a115f1bc98478e4b",
        "united-kingdom-cabinet": "3a5ec686630cbefc0fe4b96da38a2a50b52d2556",
        "us-cabinet": "0d5e73cb24ba9f78bc36f6cd0fbe9839e6cd8600",
        "uzbekistan-ministers": "b7cd8a1eaca2bb365d5ade7bdc9870d1ed31bde9",
        "venezuela": "468bc47dfe82a6912833f85ccb15888baa132a6c",
        "vietnam": "906e493fe5ae307bf6184baa4fa9e48d75f9866d",
        "wales-cabinet": "929c9e07a44fc9bf62e43f54c9edbcedc70d92d9",
        "yemen": "993e1a6176b9082c7053cd67ff59dc52ee71f71b",
        "zambia-ministers": "e5aaa198749da6ee572efc2522908a2e697ad463",
        "zimbabwe": "f991ac9839ca9297ec838f7420994fbb1c854c00",
    }}


def _number(value: Any) -> str:
    try:
        return str(int(float(value)))
    except (TypeError, ValueError):
        return ""


def _coord(value: Any) -> str:
    try:
        return f"{float(value):.4f}"
    except (TypeError, ValueError):
        return ""


def dr5hn(mirror: Mirror, files: list[str]) -> dict[str, list[list[str]]]:
    """Countries, first-level regions, cities and towns, each with its Wikidata id."""
    commit = str(DR5HN["commit"])
    countries = []
    for row in csv.DictReader(io.StringIO(mirror.show(commit, "csv/countries.csv").decode())):
        if wikidata_id(row["wikiDataId"]):
            countries.append([wikidata_id(row["wikiDataId"]), row["iso2"], row["iso3"],
                              clean_text(row["name"]), clean_text(row["nationality"]),
                              clean_text(row["capital"]),
                              _coord(row["latitude"]), _coord(row["longitude"]),
                              _number(row["population"])])
    regions = []
    for row in csv.DictReader(io.StringIO(mirror.show(commit, "csv/states.csv").decode())):
        if wikidata_id(row["wikiDataId"]) and not row["parent_id"]:
            regions.append([wikidata_id(row["wikiDataId"]), row["country_code"], row["iso2"],
                            clean_text(row["name"]), clean_text(row["type"]),
                            _coord(row["latitude"]), _coord(row["longitude"]),
                            _number(row["population"])])
    files += [f"{commit}:csv/countries.csv", f"{commit}:csv/states.csv"]
    cities = []
    folder = "contributions/cities"
    older = str(DR5HN["older_commit"])
    for path in mirror.ls(commit, folder):
        code = Path(path).stem
        at = older if code in DR5HN["older_countries"] else commit
        if not mirror.has(at, path):
            continue
        files.append(f"{at}:{path}")
        for city in json.loads(mirror.show(at, path)):
            population = int(city.get("population") or 0)
            if wikidata_id(city.get("wikiDataId")) and (population >= MIN_TOWN_POPULATION
                                                        or population == 0):
                cities.append([wikidata_id(city["wikiDataId"]), city["country_code"],
                               clean_text(city.get("state_code")), clean_text(city["name"]),
                               _coord(city["latitude"]), _coord(city["longitude"]),
                               str(population or "")])
    return {"dr5hn_countries": countries, "dr5hn_regions": regions, "dr5hn_cities": cities}


def natural_earth(mirror: Mirror, files: list[str]) -> dict[str, list[list[str]]]:
    """Natural Earth 10m populated places with a Wikidata id (15,000+ or a national capital)."""
    import py7zr  # only the extract step needs it

    path = "10m/cultural/ne_10m_populated_places.7z"
    files.append(f"{NATURAL_EARTH['commit']}:{path}")
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "places.7z"
        archive.write_bytes(mirror.show(str(NATURAL_EARTH["commit"]), path))
        with py7zr.SevenZipFile(archive) as seven:
            seven.extractall(Path(tmp) / "out")
        data = json.loads(next((Path(tmp) / "out").glob("*.json")).read_text(encoding="utf-8"))
    rows = []
    for feature in data["features"]:
        p = feature["properties"]
        population = int(p.get("POP_MAX") or 0)
        capital = int(p.get("ADM0CAP") or 0)
        if wikidata_id(p.get("wikidataid")) and (population >= MIN_CITY_POPULATION or capital):
            rows.append([wikidata_id(p["wikidataid"]), clean_text(p.get("ISO_A2")),
                         clean_text(p.get("NAME")),
                         clean_text(p.get("NAME_EN")), clean_text(p.get("NAMEALT")),
                         clean_text(p.get("ADM1NAME")), _coord(p.get("LATITUDE")),
                         _coord(p.get("LONGITUDE")), str(population), str(capital)])
    return {"ne_places": rows}


def everypolitician(mirror: Mirror, files: list[str]) -> dict[str, list[list[str]]]:
    """Legislators and parties with Wikidata ids, from each legislature's Popolo file."""
    commit = str(EVERYPOLITICIAN["commit"])
    people: dict[str, list[str]] = {}
    parties: dict[str, list[str]] = {}
    for country in json.loads(mirror.show(commit, "countries.json")):
        for legislature in country["legislatures"]:
            path = legislature["popolo"]
            if not mirror.has(commit, path):
                continue
            files.append(f"{commit}:{path}")
            popolo = json.loads(mirror.show(commit, path))
            terms: dict[str, set[str]] = {}
            for membership in popolo.get("memberships", []):
                terms.setdefault(membership["person_id"], set()).add(
                    membership.get("legislative_period_id") or "")
            for person in popolo.get("persons", []):
                qid = _wikidata(person)
                if not qid:
                    continue
                others = sorted({clean_text(o["name"]) for o in person.get("other_names", [])
                                 if o.get("lang") in (None, "en") and clean_text(o.get("name"))}
                                - {clean_text(person["name"])})
                row = [qid, country["code"], clean_text(person["name"]), "|".join(others),
                       clean_text(legislature["name"]), str(len(terms.get(person["id"], ())))]
                if qid not in people or int(row[5]) > int(people[qid][5]):
                    people[qid] = row
            for org in popolo.get("organizations", []):
                qid = _wikidata(org)
                if qid and org.get("classification") == "party":
                    parties.setdefault(qid, [qid, country["code"], clean_text(org["name"])])
    return {"ep_people": list(people.values()), "ep_parties": list(parties.values())}


def _wikidata(item: dict[str, Any]) -> str:
    return next((wikidata_id(i.get("identifier")) for i in item.get("identifiers", [])
                 if i.get("scheme") == "wikidata"), "")


def congress(mirror: Mirror, files: list[str]) -> dict[str, list[list[str]]]:
    """Current members of the US Congress with their Wikidata ids."""
    import yaml

    path = "legislators-current.yaml"
    files.append(f"{CONGRESS['commit']}:{path}")
    rows = []
    for member in yaml.load(mirror.show(str(CONGRESS["commit"]), path), Loader=yaml.CSafeLoader):
        qid = wikidata_id(member["id"].get("wikidata"))
        if not qid:
            continue
        name = member["name"]
        full = clean_text(name.get("official_full") or f"{name['first']} {name['last']}")
        short = clean_text(f"{name.get('nickname') or name['first']} {name['last']}")
        last = member["terms"][-1]
        rows.append([qid, full, short if short != full else "", last["type"], last["state"],
                     clean_text(last.get("party")), str(len(member["terms"]))])
    return {"us_congress": rows}


def supraverden(mirror: Mirror, files: list[str]) -> dict[str, list[list[str]]]:
    """International organisations with Wikidata ids: English names and abbreviations."""
    import yaml

    path = "data/general_list.yaml"
    files.append(f"{SUPRAVERDEN['commit']}:{path}")
    rows = []
    bodies = yaml.load(mirror.show(str(SUPRAVERDEN["commit"]), path), Loader=yaml.CSafeLoader)
    for body in bodies.values():
        qid = wikidata_id(body.get("Wikidata_code"))
        if not qid:
            continue
        names = sorted({clean_text(v) for k, v in body.items() if k.startswith("Name_")
                        and k.endswith("_en") and k != "Name_en" and isinstance(v, str)})
        short = sorted({clean_text(v) for k, v in body.items() if k.startswith("Abbreviation_")
                        and k.endswith("_en") and isinstance(v, str)})
        rows.append([qid, clean_text(body["Name_en"]), "|".join(short), "|".join(names)])
    return {"intl_orgs": rows}


def world_leaders(mirror: Mirror, files: list[str]) -> dict[str, list[list[str]]]:
    """Heads of state and government since 2021 with their Wikidata ids."""
    path = "data/wikidata.csv"
    commit = str(WORLD_LEADERS["commit"])
    files.append(f"{commit}:{path}")
    people: dict[str, list[str]] = {}
    for row in csv.DictReader(io.StringIO(mirror.show(commit, path).decode())):
        qid, name = wikidata_id(row["officeholder"]), clean_text(row["officeholderLabel"])
        if not qid or not name or wikidata_id(name):  # no English label: the name is the QID
            continue
        entry = people.setdefault(qid, [qid, name, wikidata_id(row["countryid"]), "0"])
        entry[3] = str(int(entry[3]) + 1)
    return {"world_leaders": list(people.values())}


def officeholders(root: Path, files: list[str]) -> dict[str, list[list[str]]]:
    """21st-century holders of each government's offices: QID, name, the English Wikipedia
    title when it is another full name with the same last word (peers: "Des Browne" for "Des
    Browne, Baron Browne of Ladyton"), the jurisdiction's and its country's QIDs, and the
    number of offices held."""
    people: dict[str, list[str]] = {}
    for name, commit in sorted(OFFICEHOLDERS["commits"].items()):
        mirror = Mirror(root, f"every-politician-scrapers/{name}")
        files += [f"{name}@{commit}:meta.json", f"{name}@{commit}:html/holders21.csv"]
        meta = json.loads(mirror.show(commit, "meta.json"))
        where = wikidata_id(meta["jurisdiction"]["id"])
        country = wikidata_id((meta.get("country") or {}).get("id"))
        counts: dict[str, int] = {}
        rows = list(csv.DictReader(io.StringIO(mirror.show(commit, "html/holders21.csv").decode())))
        for row in rows:
            qid = wikidata_id(row["personID"])
            counts[qid] = counts.get(qid, 0) + 1
        for row in rows:
            qid, label = wikidata_id(row["personID"]), clean_text(row["person"])
            if not qid or not label or wikidata_id(label) or (
                    qid in people and int(people[qid][5]) >= counts[qid]):
                continue
            title = clean_text(re.sub(r"\s*\([^)]*\)$", "", row.get("enwiki") or ""))
            # A different article title is an alias only when it is a full name ending in a
            # word of the label (not a nickname such as "Oscar").
            if title == label or " " not in title or title.split()[-1] not in label.split():
                title = ""
            people[qid] = [qid, label, title, where, country, str(counts[qid])]
    return {"officeholders": list(people.values())}


# NSI categories (``data/<group>/<key>/<value>.json``): public bodies are kept wherever they
# serve (a county police force); corporate ones when known in a whole country.
_NSI_PUBLIC = ("operators/office/government", "operators/amenity/police", "operators/emergency/",
               "operators/amenity/fire_station", "operators/amenity/post_office",
               "operators/amenity/prison", "operators/amenity/courthouse")
_NSI_CORPORATE = ("brands/amenity/bank", "brands/amenity/fuel", "brands/shop/car.json",
                  "brands/office/", "brands/shop/telecommunication", "brands/shop/mobile_phone",
                  "brands/shop/department_store", "brands/shop/supermarket", "operators/power/",
                  "operators/man_made/pipeline", "operators/office/", "operators/telecom/",
                  "brands/amenity/post_office", "operators/amenity/post_office")
# locationSet codes of UN M49 regions (001 = the world): more than one country.
_NSI_REGIONS = frozenset({"001", "002", "005", "009", "011", "013", "014", "015", "017", "018",
                          "019", "021", "029", "030", "034", "035", "039", "053", "054", "057",
                          "061", "142", "143", "145", "150", "151", "154", "155", "419"})
# country-coder codes that are parts of a country: France without overseas, Canary Islands ...
_NSI_PARTS = {"fx": "fr", "ic": "es", "ea": "es", "cp": "fr", "dg": "io", "ta": "sh", "ac": "sh"}


def _nsi_names(item: dict[str, Any], group: str) -> list[str]:
    """English names first, then the display name (without a "(Deutschland)" qualifier, split
    at " / " and " - " where it lists several languages), then the tag value; Latin only. A
    brand's display name that extends its brand ("Walmart Pharmacy", "Tesco Bank") names a
    kind of outlet, not the organisation: left out."""
    tags = item.get("tags", {})
    key = "brand" if group == "brands" else "operator"
    display = re.sub(r"\s*\([^)]*\)$", "", clean_text(item.get("displayName")))
    brand = clean_text(tags.get(key))
    parts = re.split(r" / | - ", display)
    if group == "brands" and brand:
        parts = [p for p in parts if not p.startswith(brand + " ")]
    names = [tags.get(f"{key}:en"), tags.get("name:en") if group == "brands" else None,
             *parts, brand]
    return [n for n in dict.fromkeys(clean_text(n) for n in names if n)
            if len(n) > 1 and is_latin(n)]


def nsi(mirror: Mirror, files: list[str]) -> dict[str, list[list[str]]]:
    """Organisations with Wikidata ids: QID, name, other names, the country when the data
    places it in one, the number of NSI entries naming it, ``public`` (a public body),
    ``brand`` (a company's brand) or ``operator`` (another operator: utilities, pipelines), and
    which of its names are one English word (``is_generic``)."""
    words = english_words()
    commit = str(NSI["commit"])
    found: dict[str, dict[str, Any]] = {}
    for path in mirror.ls(commit, "data"):
        group = path.split("/")[1]
        if group not in ("brands", "operators") or not path.endswith(".json"):
            continue
        files.append(f"{commit}:{path}")
        category = path[len("data/"):]
        for item in json.loads(mirror.show(commit, path)).get("items", []):
            tags = item.get("tags", {})
            qid = wikidata_id(tags.get("brand:wikidata") if group == "brands"
                       else tags.get("operator:wikidata"))
            names = _nsi_names(item, group)
            if not qid or not names:
                continue
            entry = found.setdefault(qid, {"names": [], "fallback": [], "countries": set(),
                                           "places": set(), "operated": set(), "entries": 0,
                                           "public": False, "corporate": False,
                                           "brand": False})
            # Operators of benches, car parks or bookcases ("RWE Bücherschrank") name the
            # organisation only when nothing else does.
            plain = group == "brands" or category.startswith(_NSI_PUBLIC + _NSI_CORPORATE)
            entry["names" if plain else "fallback"] += names
            if group == "operators":
                entry["operated"].update(names)
            entry["entries"] += 1
            codes = [c for c in item.get("locationSet", {}).get("include", [])
                     if isinstance(c, str)]
            whole = {_NSI_PARTS.get(c.lower(), c.lower()) for c in codes
                     if len(c) == 2 or c in _NSI_REGIONS}
            entry["countries"] |= whole
            # A sub-national area ("us-ca.geojson") still names its country.
            entry["places"] |= whole | {c.split("-")[0].lower() for c in codes
                                        if c.endswith(".geojson") and c[2:3] == "-"}
            entry["brand"] |= group == "brands"
            entry["public"] |= category.startswith(_NSI_PUBLIC)
            entry["corporate"] |= bool(whole) and category.startswith(_NSI_CORPORATE)
    rows = []
    for qid, e in found.items():
        wide = len(e["countries"]) >= 3 or bool(e["countries"] & _NSI_REGIONS)
        if not (e["public"] or (e["countries"] and (e["corporate"] or wide
                                                     or e["entries"] >= 2))):
            continue
        said = e["names"] or e["fallback"]
        names = list(dict.fromkeys(said))
        # The most frequent name (English names come first in each entry), then the others.
        name = max(names, key=lambda n: (said.count(n), -names.index(n)))
        # "Tesco Bank", "Walmart Vision Center" as brands of Tesco, Walmart: outlets, not
        # other names of the organisation ("Metropolitan Police Service" as an operator is).
        others = sorted(n for n in set(names) - {name}
                        if not n.startswith(name + " ") or n in e["operated"])
        places = e["places"] - _NSI_REGIONS
        country = next(iter(places)).upper() if len(places) == 1 and not (
            e["countries"] & _NSI_REGIONS) else ""
        generic = sorted(n for n in {name, *others} if is_generic(n, words))
        rows.append([qid, name, "|".join(others), country, str(e["entries"]),
                     "public" if e["public"] else "brand" if e["brand"] else "operator",
                     "|".join(generic)])
    return {"organisations": rows}


def _sort_key(row: list[str]) -> tuple[int, list[str]]:
    return int(row[0][1:]), row


def write_tsv(path: Path, rows: Iterable[list[str]]) -> str:
    """Rows sorted by QID then content, tab-separated, LF line ends; returns the sha256."""
    text = "".join("\t".join(row) + "\n" for row in sorted(rows, key=_sort_key))
    path.write_text(text, encoding="utf-8", newline="\n")
    return hashlib.sha256(text.encode()).hexdigest()


def _extractors() -> Iterator[tuple[dict[str, Any], Any]]:
    yield DR5HN, dr5hn
    yield NATURAL_EARTH, natural_earth
    yield EVERYPOLITICIAN, everypolitician
    yield CONGRESS, congress
    yield SUPRAVERDEN, supraverden
    yield WORLD_LEADERS, world_leaders
    yield OFFICEHOLDERS, officeholders
    yield NSI, nsi
    yield ROR, ror


def extract(mirror_root: Path, out_dir: Path = SOURCES_DIR,
            only: set[str] | None = None) -> dict[str, Any]:
    """Write the extracts and the manifest; return the manifest.

    ``only``: repositories (as in the manifest) to extract again; the other sources' extracts
    and manifest entries are kept as they are (their mirrors are not needed).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"min_city_population": MIN_CITY_POPULATION,
                                "min_town_population": MIN_TOWN_POPULATION, "sources": []}
    kept: dict[str, Any] = {}
    if only is not None:
        old = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
        kept = {source["repo"]: source for source in old["sources"]}
        unknown = only - {source["repo"] for source, _ in _extractors()}
        if unknown:
            raise ValueError(f"no extractor for {sorted(unknown)}")
    for source, function in _extractors():
        if only is not None and source["repo"] not in only:
            if source["repo"] in kept:
                manifest["sources"].append(kept[source["repo"]])
            continue
        files: list[str] = []
        if "commits" in source:  # a group of repositories, each at its own commit
            tables = function(mirror_root, files)
        else:
            tables = function(Mirror(mirror_root, source["repo"]), files)
        extracts = {}
        for name, rows in sorted(tables.items()):
            digest = write_tsv(out_dir / f"{name}.tsv", rows)
            extracts[f"{name}.tsv"] = {"rows": len(rows), "sha256": digest}
        manifest["sources"].append({**source, "inputs": files, "extracts": extracts})
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest
