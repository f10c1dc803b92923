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
* confirmordeny/supraverden (CC BY-SA 4.0): international organisations.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

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


class Mirror:
    """One bare git snapshot, read at a pinned commit."""

    def __init__(self, root: Path, repo: str) -> None:
        self.git_dir = root / repo.replace("/", "+") / "repo"
        if not self.git_dir.is_dir():
            raise FileNotFoundError(f"no mirror of {repo} at {self.git_dir}")

    def _git(self, *args: str) -> bytes:
        return subprocess.run(["git", "--git-dir", str(self.git_dir), *args],
                              capture_output=True, check=True).stdout

    def show(self, commit: str, path: str) -> bytes:
        return self._git("show", f"{commit}:{path}")

    def blob(self, commit: str, path: str) -> str:
        return self._git("rev-parse", f"{commit}:{path}").decode().strip()

    def ls(self, commit: str, folder: str) -> list[str]:
        out = self._git("ls-tree", "-r", "--name-only", commit, folder).decode()
        return [line for line in out.splitlines() if line]

    def has(self, commit: str, path: str) -> bool:
        try:
            self._git("cat-file", "-e", self.blob(commit, path))
        except subprocess.CalledProcessError:
            return False
        return True


def _clean(value: Any) -> str:
    return " ".join(str(value if value is not None else "").split())


def _qid(value: Any) -> str:
    text = _clean(value)
    return text if text[:1] == "Q" and text[1:].isdigit() else ""


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
        if _qid(row["wikiDataId"]):
            countries.append([_qid(row["wikiDataId"]), row["iso2"], row["iso3"],
                              _clean(row["name"]), _clean(row["nationality"]),
                              _clean(row["capital"]),
                              _coord(row["latitude"]), _coord(row["longitude"]),
                              _number(row["population"])])
    regions = []
    for row in csv.DictReader(io.StringIO(mirror.show(commit, "csv/states.csv").decode())):
        if _qid(row["wikiDataId"]) and not row["parent_id"]:
            regions.append([_qid(row["wikiDataId"]), row["country_code"], row["iso2"],
                            _clean(row["name"]), _clean(row["type"]), _coord(row["latitude"]),
                            _coord(row["longitude"]), _number(row["population"])])
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
            if _qid(city.get("wikiDataId")) and (population >= MIN_TOWN_POPULATION
                                                 or population == 0):
                cities.append([_qid(city["wikiDataId"]), city["country_code"],
                               _clean(city.get("state_code")), _clean(city["name"]),
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
        if _qid(p.get("wikidataid")) and (population >= MIN_CITY_POPULATION or capital):
            rows.append([_qid(p["wikidataid"]), _clean(p.get("ISO_A2")), _clean(p.get("NAME")),
                         _clean(p.get("NAME_EN")), _clean(p.get("NAMEALT")),
                         _clean(p.get("ADM1NAME")), _coord(p.get("LATITUDE")),
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
                others = sorted({_clean(o["name"]) for o in person.get("other_names", [])
                                 if o.get("lang") in (None, "en") and _clean(o.get("name"))}
                                - {_clean(person["name"])})
                row = [qid, country["code"], _clean(person["name"]), "|".join(others),
                       _clean(legislature["name"]), str(len(terms.get(person["id"], ())))]
                if qid not in people or int(row[5]) > int(people[qid][5]):
                    people[qid] = row
            for org in popolo.get("organizations", []):
                qid = _wikidata(org)
                if qid and org.get("classification") == "party":
                    parties.setdefault(qid, [qid, country["code"], _clean(org["name"])])
    return {"ep_people": list(people.values()), "ep_parties": list(parties.values())}


def _wikidata(item: dict[str, Any]) -> str:
    return next((_qid(i.get("identifier")) for i in item.get("identifiers", [])
                 if i.get("scheme") == "wikidata"), "")


def congress(mirror: Mirror, files: list[str]) -> dict[str, list[list[str]]]:
    """Current members of the US Congress with their Wikidata ids."""
    import yaml

    path = "legislators-current.yaml"
    files.append(f"{CONGRESS['commit']}:{path}")
    rows = []
    for member in yaml.load(mirror.show(str(CONGRESS["commit"]), path), Loader=yaml.CSafeLoader):
        qid = _qid(member["id"].get("wikidata"))
        if not qid:
            continue
        name = member["name"]
        full = _clean(name.get("official_full") or f"{name['first']} {name['last']}")
        short = _clean(f"{name.get('nickname') or name['first']} {name['last']}")
        last = member["terms"][-1]
        rows.append([qid, full, short if short != full else "", last["type"], last["state"],
                     _clean(last.get("party")), str(len(member["terms"]))])
    return {"us_congress": rows}


def supraverden(mirror: Mirror, files: list[str]) -> dict[str, list[list[str]]]:
    """International organisations with Wikidata ids: English names and abbreviations."""
    import yaml

    path = "data/general_list.yaml"
    files.append(f"{SUPRAVERDEN['commit']}:{path}")
    rows = []
    bodies = yaml.load(mirror.show(str(SUPRAVERDEN["commit"]), path), Loader=yaml.CSafeLoader)
    for body in bodies.values():
        qid = _qid(body.get("Wikidata_code"))
        if not qid:
            continue
        names = sorted({_clean(v) for k, v in body.items() if k.startswith("Name_")
                        and k.endswith("_en") and k != "Name_en" and isinstance(v, str)})
        short = sorted({_clean(v) for k, v in body.items() if k.startswith("Abbreviation_")
                        and k.endswith("_en") and isinstance(v, str)})
        rows.append([qid, _clean(body["Name_en"]), "|".join(short), "|".join(names)])
    return {"intl_orgs": rows}


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


def extract(mirror_root: Path, out_dir: Path = SOURCES_DIR) -> dict[str, Any]:
    """Write every extract and the manifest; return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"min_city_population": MIN_CITY_POPULATION,
                                "min_town_population": MIN_TOWN_POPULATION, "sources": []}
    for source, function in _extractors():
        files: list[str] = []
        tables = function(Mirror(mirror_root, source["repo"]), files)
        extracts = {}
        for name, rows in sorted(tables.items()):
            digest = write_tsv(out_dir / f"{name}.tsv", rows)
            extracts[f"{name}.tsv"] = {"rows": len(rows), "sha256": digest}
        manifest["sources"].append({**source, "inputs": files, "extracts": extracts})
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest
