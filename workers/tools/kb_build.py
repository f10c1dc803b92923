"""Build ``workers/data/kb.json`` from the pinned extracts and the curated TOML, deterministically.

* ``python -m workers.tools.kb_build`` (or ``build``): read ``workers/data/kb_sources/*.tsv``
  (see their ``manifest.json``) and ``workers/data/kb_curated.toml``, write
  ``workers/data/kb.json``. The same inputs give the same bytes (a unit test rebuilds and
  compares).
* ``python -m workers.tools.kb_build extract --mirror /work/.mirror``: regenerate the extracts
  from git mirrors of the source repositories at the pinned commits
  (``workers.tools.kb_extract``).

Every entity with a QID takes its QID, name and coordinates from an extract; entities with the
same QID in several extracts merge (first name wins, the others become aliases). The curated file
adds names news uses, demonyms and QID-less entities (international bodies, companies) - never a
QID of its own. ``core`` marks the bounded set the dedup normaliser and the in-text scan use:
curated entities, countries, US states and UK nations, capitals and cities of 1M+.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import re
import tomllib
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workers.kb import fold, index_key

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SOURCES = DATA_DIR / "kb_sources"
CURATED = DATA_DIR / "kb_curated.toml"
OUTPUT = DATA_DIR / "kb.json"
CORE_CITY_POPULATION = 1_000_000
CITY_POPULATION = 15_000
LICENCES = {"dr5hn": "ODbL-1.0", "naturalearth": "CC0-1.0", "everypolitician": "CC0-1.0",
            "uscongress": "CC0-1.0", "supraverden": "CC-BY-SA-4.0", "worldleaders": "CC0-1.0",
            "officeholders": "CC0-1.0", "nsi": "BSD-3-Clause", "ror": "CC0-1.0",
            "curated": "Apache-2.0"}
_REPOS = {"dr5hn/countries-states-cities-database": "dr5hn",
          "martynafford/natural-earth-geojson": "naturalearth",
          "tijmenb/everypolitician-data": "everypolitician",
          "unitedstates/congress-legislators": "uscongress",
          "confirmordeny/supraverden": "supraverden",
          "every-politician-scrapers/world-leaders-2021": "worldleaders",
          "every-politician-scrapers/*": "officeholders",
          "osmlab/name-suggestion-index": "nsi",
          "ror-community/ror-records": "ror"}


def _rows(directory: Path, name: str) -> Iterator[list[str]]:
    with (directory / f"{name}.tsv").open(encoding="utf-8", newline="") as handle:
        yield from csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)


def _ascii(name: str) -> str:
    """"Kandahār" -> "Kandahar": the spelling English news uses."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def _plural_demonyms(demonyms: list[str]) -> list[str]:
    """Iraqi -> Iraqis, German -> Germans; British, Chinese, Swiss, Frenchman keep one form."""
    plurals = [w + "s" for w in demonyms
               if not w.endswith(("ese", "ish", "ch", "ss", "sh", "men", "ic", "s"))
               and not (w.endswith("man") and w[:-3].endswith(("ch", "sh", "s")))]
    return list(dict.fromkeys([*demonyms, *plurals]))


def _float(text: str) -> float | None:
    return float(text) if text else None


class _Builder:
    """Entities keyed by QID in insertion order; the first source to name a QID names it."""

    def __init__(self) -> None:
        self.by_qid: dict[str, dict[str, Any]] = {}
        self.curated: list[dict[str, Any]] = []

    def add(self, qid: str, name: str, kind: str, source: str, **fields: Any) -> dict[str, Any]:
        entity = self.by_qid.get(qid)
        names = [n for n in dict.fromkeys([name, _ascii(name), *fields.pop("aliases", ())]) if n]
        if entity is None:
            entity = {"name": names[0], "label": _LABELS[kind], "qid": qid, "kind": kind,
                      "aliases": [], "demonyms": [], "country": "", "region": "",
                      "lat": None, "lon": None, "prior": 0.0, "core": False, "sources": []}
            self.by_qid[qid] = entity
        for alias in names:
            if alias != entity["name"] and alias not in entity["aliases"]:
                entity["aliases"].append(alias)
        for key, value in fields.items():
            if key == "prior":
                entity["prior"] = max(entity["prior"], value)
            elif key == "core":
                entity["core"] = entity["core"] or value
            elif value not in (None, "", []) and entity.get(key) in (None, "", []):
                entity[key] = value
        if source not in entity["sources"]:
            entity["sources"].append(source)
        return entity


_LABELS = {"country": "GPE", "region": "GPE", "city": "GPE", "town": "GPE", "person": "PERSON",
           "party": "ORG", "org": "ORG", "place": "LOC"}


def _places(b: _Builder, src: Path, config: dict[str, Any]) -> None:
    names, aliases, demonyms = config["names"], config["aliases"], config["demonyms"]
    capitals: dict[str, str] = {}
    for qid, iso2, _iso3, name, nationality, capital, lat, lon, population in _rows(
            src, "dr5hn_countries"):
        words = [w.strip() for part in nationality.split(",") for w in part.split(" or ")]
        words = [w for w in words if w and not w.isupper()]
        b.add(qid, names.get(iso2, name), "country", "dr5hn",
              aliases=[name, *aliases.get(iso2, [])],
              demonyms=_plural_demonyms([*demonyms.get(iso2, []), *words]), country=iso2,
              lat=_float(lat), lon=_float(lon), prior=float(population or 0), core=True)
        capitals[iso2] = capital
    region_qids: dict[tuple[str, str], str] = {}
    regions = _regions(src)
    for qid, iso2, code, name, kind, lat, lon, population in regions:
        region_qids[(iso2, code)] = qid
        b.add(qid, name, "region", "dr5hn", country=iso2, lat=_float(lat), lon=_float(lon),
              prior=float(population or 0), core=iso2 == "US" and kind == "state")
    # Most populous first: a QID some rows give to a suburb as well is named after the city.
    cities = sorted(_rows(src, "dr5hn_cities"), key=lambda row: -int(row[6] or 0))
    seen: set[str] = set()
    for qid, iso2, state, name, lat, lon, population in cities:
        if qid in seen:  # another row with this QID: mostly a suburb given the city's QID
            continue
        seen.add(qid)
        people = int(population or 0)
        b.add(qid, name, "city" if people >= CITY_POPULATION else "town", "dr5hn", country=iso2,
              region=region_qids.get((iso2, state), ""), lat=_float(lat), lon=_float(lon),
              prior=float(people),
              core=people >= CORE_CITY_POPULATION or capitals.get(iso2) == name)
    regions_by_name = {(b.by_qid[q]["country"], b.by_qid[q]["name"]): q
                       for q in region_qids.values()}
    for qid, iso2, name, name_en, alt, adm1, lat, lon, population, capital in _rows(
            src, "ne_places"):
        b.add(qid, name, "city", "naturalearth", aliases=[name_en, alt], country=iso2,
              region=regions_by_name.get((iso2, adm1), ""), lat=_float(lat), lon=_float(lon),
              prior=float(population),
              core=capital == "1" or int(population) >= CORE_CITY_POPULATION)
    for entity in b.by_qid.values():  # a dr5hn town that Natural Earth knows is a city
        if entity["kind"] == "town" and entity["prior"] >= CITY_POPULATION:
            entity["kind"] = "city"


_LOCAL = ("municipality", "district", "county", "parish", "city", "commune", "town")


def _regions(src: Path) -> list[list[str]]:
    """Region rows, states and provinces before municipalities, then most populous first.

    A population the data repeats for namesakes in other countries (Florida, US; Florida,
    Puerto Rico; Florida, Uruguay all given 23 million) is dropped for all of them.
    """
    rows = list(_rows(src, "dr5hn_regions"))
    countries: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        countries.setdefault((row[3], row[7]), set()).add(row[1])
    for row in rows:
        if row[7] and len(countries[(row[3], row[7])]) > 1:
            row[7] = ""
    return sorted(rows, key=lambda row: (row[4].endswith(_LOCAL), -int(row[7] or 0)))


def _people(b: _Builder, src: Path) -> None:
    for qid, country, name, others, _legislature, terms in _rows(src, "ep_people"):
        b.add(qid, name, "person", "everypolitician", aliases=others.split("|") if others else [],
              country=country.split("-")[0], prior=float(terms))
    for qid, country, name in _rows(src, "ep_parties"):
        b.add(qid, name, "party", "everypolitician", country=country.split("-")[0], prior=1.0)
    for qid, name, short, others in _rows(src, "intl_orgs"):
        b.add(qid, name, "org", "supraverden",
              aliases=[*short.split("|"), *others.split("|")] if short or others else [])
    for qid, full, short, _kind, _state, _party, terms in _rows(src, "us_congress"):
        b.add(qid, full, "person", "uscongress", aliases=[short] if short else [], country="US",
              prior=float(terms))
    iso2 = _iso2_by_qid(src)
    for qid, name, country, offices in _rows(src, "world_leaders"):
        b.add(qid, name, "person", "worldleaders", country=iso2.get(country, ""),
              prior=float(offices))
    for qid, name, title, where, country, offices in _rows(src, "officeholders"):
        b.add(qid, name, "person", "officeholders", aliases=[title] if title else [],
              country=iso2.get(where) or iso2.get(country, ""), prior=float(offices))


# A one-word name that is an English word ("Guardian", "Liberty", "Giant") names a brand only
# when the brand is widely mapped (Shell, Orange, Tesla: this many NSI entries or more).
GENERIC_NAME_ENTRIES = 3


def _organisations(b: _Builder, src: Path, config: dict[str, Any]) -> None:
    """Companies and public bodies from the name-suggestion-index. A QID the data already
    holds as a place or a person ("City of Makati" runs offices of its own) stays that entity.
    Generic one-word names of small brands are left out, and the brand with them when it has
    no other name (unless the curated file names it: Google, Amazon)."""
    countries = {row[1] for row in _rows(src, "dr5hn_countries")}
    curated = {item["ref"] for item in config["entity"] if "ref" in item}
    for qid, name, others, country, entries, _kind, generic in _rows(src, "organisations"):
        if qid in b.by_qid and b.by_qid[qid]["kind"] not in ("org", "party"):
            continue
        names = [name, *(others.split("|") if others else [])]
        if int(entries) < GENERIC_NAME_ENTRIES and qid not in curated:
            names = [n for n in names if n not in generic.split("|")]
        if names:
            b.add(qid, names[0], "org", "nsi", aliases=names[1:],
                  country=country if country in countries else "", prior=float(entries))


# ROR's record types kept (``ror.tsv`` holds them all). Left out: healthcare (~1,600 hospitals
# typed healthcare alone, ~0.25 MB of kb.json; in the 2,225 news-dev articles hospital names
# occur twice, once as the alias "The Royal", and on 1,000 articles their one new link was
# wrong). A record of several types is kept when one of them is. Evidence: docs/entities.md.
ROR_TYPES = frozenset({"government", "company", "nonprofit", "funder", "education", "facility",
                       "archive", "other"})


# National parks are in ROR (as "archive": the park services' research units) but are places.
_PARK = re.compile(r"National Park(?: and Preserve| and Reserve| Reserve)?$")


_PLAIN_WORD = re.compile(r"^[A-Z][a-z]+$")


def _keys(name: str) -> set[str]:
    """The candidate-index keys that find a name: its own (``workers.kb.index_key``) and, for
    an acronym, the folded one too, since ``candidates("PWC")`` also finds a "PwC"."""
    return {index_key(name), fold(name)}


def _ror(b: _Builder, src: Path, config: dict[str, Any]) -> None:
    """Research organisations, agencies, companies and other bodies from ROR. A QID the data
    already holds as a place or person stays that; one held as an organisation gains ROR's
    names (not its country: WHO is not Swiss). A name or acronym that already names another
    organisation or party (in an extract or the curated file) stays with that one, so ROR's
    "NHS" (NHS England) or "AP" does not tie with it; one-word English words are left out (as
    for small NSI brands), and so are other one-word aliases written as a plain word
    ("Baptist" for New England Baptist Hospital, "Railtrack" for Network Rail: short and
    former names that name other things too). An entity the curated file refers to (BBC, CIA)
    takes only ROR's QID and main name: its names, acronyms and country stay the curated ones,
    so the core tier and its linking are as before."""
    countries = {row[1] for row in _rows(src, "dr5hn_countries")}
    refs = {item["ref"] for item in config["entity"] if "ref" in item}
    taken: dict[str, set[str | None]] = {}
    for qid, entity in b.by_qid.items():
        if entity["kind"] in ("org", "party"):
            for name in (entity["name"], *entity["aliases"]):
                for key in _keys(name):
                    taken.setdefault(key, set()).add(qid)
    for item in config["entity"]:
        if item.get("label") in ("ORG", "NORP"):
            for name in (item["name"], *item.get("aliases", [])):
                for key in _keys(name):
                    taken.setdefault(key, set()).add(item.get("ref"))
    for qid, name, others, acronyms, country, types, generic in _rows(src, "ror"):
        if not ROR_TYPES & set(types.split("|")):
            continue
        known = b.by_qid.get(qid)
        if known is not None and known["kind"] not in ("org", "party"):
            continue
        aliases = [a for a in (others.split("|") if others else []) if not _PLAIN_WORD.match(a)]
        names = [name, *aliases, *(acronyms.split("|") if acronyms else [])]
        words = set(generic.split("|"))
        if qid in refs:
            names, country, words = [name], "", set()
        names = [n for n in names if n not in words
                 and all(taken.get(key, {qid}) <= {qid} for key in _keys(n))]
        if not names:
            continue
        if known is None:
            b.add(qid, names[0], "place" if _PARK.search(name) else "org", "ror",
                  aliases=names[1:], country=country if country in countries else "",
                  prior=1.0)
        else:
            b.add(qid, known["name"], known["kind"], "ror", aliases=names)


def _iso2_by_qid(src: Path) -> dict[str, str]:
    """A country's or first-level region's QID -> the country's ISO code (Scotland -> GB)."""
    found = {row[0]: row[1] for row in _rows(src, "dr5hn_regions")}
    found.update({row[0]: row[1] for row in _rows(src, "dr5hn_countries")})
    return found


def _curated(b: _Builder, config: dict[str, Any]) -> list[dict[str, Any]]:
    for qid, extra in sorted(config.get("aliases", {}).items()):
        if qid not in b.by_qid:
            raise ValueError(f"curated alias for {qid}, which no extract holds")
        b.add(qid, b.by_qid[qid]["name"], b.by_qid[qid]["kind"], "curated", aliases=extra)
    out = []
    for item in config["entity"]:
        if "qid" in item:
            raise ValueError(f"curated entity {item['name']!r} carries a QID: use `ref`")
        demonyms = _plural_demonyms(item.get("demonyms", []))
        ref = item.get("ref")
        if ref is not None:
            if ref not in b.by_qid:
                raise ValueError(f"curated ref {ref} ({item['name']}), which no extract holds")
            entity = b.add(ref, item["name"], b.by_qid[ref]["kind"], "curated",
                           aliases=item.get("aliases", []), core=True)
            if entity["name"] != item["name"]:  # the name news uses ("Hong Kong")
                entity["aliases"] = [entity["name"], *(a for a in entity["aliases"]
                                                       if a != item["name"])]
                entity["name"] = item["name"]
            entity["demonyms"] = list(dict.fromkeys([*entity["demonyms"], *demonyms]))
            continue
        out.append({"name": item["name"], "label": item["label"], "qid": None,
                    "kind": "place" if item["label"] in ("LOC", "GPE", "FAC") else "org",
                    "aliases": item.get("aliases", []), "demonyms": demonyms, "country": "",
                    "region": "", "lat": None, "lon": None, "prior": 0.0, "core": True,
                    "sources": ["curated"]})
    return out


def _order(entity: dict[str, Any]) -> tuple[int, float, int]:
    """Output order (the first entry wins an alias clash in the core lookup): countries, core
    places, other places, people, parties; larger first; then by QID. Core entries all come
    first (after the curated ones), so a reader can stop after ``core_rows`` lines."""
    rank = {"country": 0, "region": 2, "city": 2, "town": 3, "place": 3, "org": 4, "person": 4,
            "party": 5}
    return (rank[entity["kind"]] - 10 * entity["core"], -entity["prior"], int(entity["qid"][1:]))


COLUMNS = ("name", "label", "qid", "kind", "aliases", "demonyms", "country", "region", "lat",
           "lon", "prior", "core", "sources", "licences")


def _row(entity: dict[str, Any]) -> list[Any]:
    """One entity as a list in ``COLUMNS`` order (the file is a table: no repeated keys)."""
    entity["prior"] = round(math.log10(1 + entity["prior"]), 3)
    entity["core"] = int(entity["core"])
    entity["sources"] = "+".join(entity["sources"])
    entity["licences"] = "+".join(sorted({LICENCES[s] for s in entity["sources"].split("+")}))
    return [entity[column] for column in COLUMNS]


def build(sources: Path = SOURCES, curated: Path = CURATED) -> dict[str, Any]:
    """The knowledge base as a JSON-ready dict."""
    config = tomllib.loads(curated.read_text(encoding="utf-8"))
    manifest_text = (sources / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(manifest_text)
    b = _Builder()
    _places(b, sources, config["countries"])
    _people(b, sources)
    _organisations(b, sources, config)
    _ror(b, sources, config)
    extra = _curated(b, config)
    entities = [_row(e) for e in [*extra, *sorted(b.by_qid.values(), key=_order)]]
    # The version names the content: any change of inputs or build rules changes it.
    digest = hashlib.sha256(json.dumps([manifest, entities], ensure_ascii=False).encode())
    digest_text = digest.hexdigest()[:12]
    return {
        "version": f"{config['version']}+{digest_text}",
        "sources": {_REPOS[s["repo"]]: {"repo": s["repo"], "licence": s["licence"]}
                    | ({"commit": s["commit"]} if "commit" in s else {"commits": s["commits"]})
                    for s in manifest["sources"]}
        | {"curated": {"file": "workers/data/kb_curated.toml", "licence": "Apache-2.0"}},
        "prior": "log10(1 + population) for places, log10(1 + terms served) for people",
        "columns": list(COLUMNS),
        "count": len(entities),
        "core_rows": sum(1 for row in entities if row[COLUMNS.index("core")]),
        "entities": entities,
    }


def write(data: dict[str, Any], path: Path) -> None:
    """One entity per line, keys in a fixed order: stable bytes, readable diffs."""
    head = {k: v for k, v in data.items() if k != "entities"}
    lines = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in data["entities"]]
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    text += ',\n "entities": [\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="utf-8", newline="\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers.tools.kb_build", description=__doc__)
    parser.add_argument("command", nargs="?", default="build", choices=("build", "extract"))
    parser.add_argument("--mirror", type=Path, help="extract: folder of the git mirrors")
    parser.add_argument("--only", action="append", metavar="REPO",
                        help="extract: only this source (repository as in the manifest; "
                             "repeatable); the others' extracts are kept")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="build: output file")
    args = parser.parse_args(argv)
    if args.command == "extract":
        from workers.tools.kb_extract import extract

        if args.mirror is None:
            parser.error("extract needs --mirror")
        for source in extract(args.mirror, only=set(args.only) if args.only else None)["sources"]:
            print(source["repo"], source.get("commit", "(per repository)"), source["extracts"])
        return
    data = build()
    write(data, args.out)
    print(f"wrote {args.out} (version {data['version']}, {len(data['entities'])} entities)")


if __name__ == "__main__":
    main()
